"""Suite statistics: rliable's figures on fixed inputs, the closed-form random baseline, normalised scores."""

from __future__ import annotations

import numpy as np
import pytest

from nas_gym.benchmark import aggregate as agg
from nas_gym.benchmark.scores import Reference, expected_max, run_scores
from nas_gym.benchmark.statistics import table_reference

# Fixed inputs and what rliable 1.2.0 (with pandas 2.3, arch 7.2, in a venv of its own: it does not import
# with this project's pandas 3 / arch 8) computed for them, seeding numpy's global generator with 0 before
# each call, 2,000 replicates:
#   rly.get_interval_estimates({"A": A}, lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x),
#       metrics.aggregate_median(x), metrics.aggregate_optimality_gap(x)]), reps=2000)
#   rly.create_performance_profile({"A": A}, np.linspace(-0.2, 1.1, 7), reps=2000)
#   rly.get_interval_estimates({"A,B": (A, B)}, metrics.probability_of_improvement, reps=2000)
A = np.array([[0.287, 1.036, 0.752, 0.578], [0.003, 0.003, -0.124, 0.926], [0.581, 0.72, -0.173, 1.061],
              [0.882, 0.076, 0.036, 0.038], [0.196, 0.482, 0.362, 0.179]])
B = np.array([[0.287, -0.015, 0.144, 0.221], [0.003, 0.657, 0.048, 0.375], [0.581, -0.112, 0.472, 0.017],
              [0.882, 0.827, 0.844, 0.681], [0.196, -0.058, 0.552, 0.298]])  # task 0 identical to A's
RLIABLE = {
    "A": {"point": [0.3499, 0.39505, 0.4266, 0.6098], "low": [0.135058, 0.243644, 0.218582, 0.450245],
          "high": [0.604802, 0.556422, 0.596155, 0.757854]},
    "B": {"point": [0.3174, 0.345, 0.3541, 0.655], "low": [0.146093, 0.218295, 0.213868, 0.517994],
          "high": [0.525127, 0.482006, 0.49663, 0.781705]},
}
RLIABLE_PROFILE = {"point": [1.0, 0.8, 0.55, 0.45, 0.3, 0.15, 0.0], "low": [1.0, 0.6, 0.35, 0.25, 0.1, 0.05, 0.0],
                   "high": [1.0, 0.95, 0.75, 0.65, 0.5, 0.3, 0.0]}
RLIABLE_POI = (0.525, 0.35, 0.695)


@pytest.mark.parametrize("name", ["A", "B"])
def test_aggregates_and_intervals_match_rliable(name):
    scores = A if name == "A" else B
    for i, func in enumerate(agg.AGGREGATES.values()):
        point, low, high = agg.bootstrap_ci(scores, func, reps=2000, seed=0)
        expected = (RLIABLE[name]["point"][i], RLIABLE[name]["low"][i], RLIABLE[name]["high"][i])
        assert (point, low, high) == pytest.approx(expected, abs=5e-4), list(agg.AGGREGATES)[i]


def test_profile_and_probability_of_improvement_match_rliable():
    point, low, high = agg.performance_profile(A, np.linspace(-0.2, 1.1, 7), reps=2000, seed=0)
    assert point.tolist() == pytest.approx(RLIABLE_PROFILE["point"])
    assert low.tolist() == pytest.approx(RLIABLE_PROFILE["low"])
    assert high.tolist() == pytest.approx(RLIABLE_PROFILE["high"])
    assert agg.probability_of_improvement(A, B, reps=2000, seed=0) == pytest.approx(RLIABLE_POI, abs=5e-4)
    # Antisymmetric, and a task with identical scores counts 0.5 (rliable's special case).
    p_ab, p_ba = agg.probability_of_improvement(A, B, reps=10)[0], agg.probability_of_improvement(B, A, reps=10)[0]
    assert p_ab + p_ba == pytest.approx(1.0)
    assert agg.probability_of_improvement(A[:, :1], B[:, :1], reps=10)[0] == 0.5


def test_aggregate_definitions_on_hand_made_scores():
    scores = np.array([[0.0, 4.0], [1.0, 5.0], [2.0, 6.0], [3.0, 100.0]])
    assert float(agg.iqm(scores)) == pytest.approx(np.mean([2.0, 3.0, 4.0, 5.0]))  # the middle half of 8
    assert float(agg.median(scores)) == pytest.approx(np.median([1.5, 28.75]))  # of the tasks' means
    assert float(agg.optimality_gap(np.array([[0.5, 2.0], [1.0, 0.0]]))) == pytest.approx(0.375)
    # One run per task: nothing to resample, the interval is the point.
    assert agg.bootstrap_ci(np.array([[0.3, 0.7]]), agg.mean, reps=50) == pytest.approx((0.5, 0.5, 0.5))


@pytest.mark.parametrize("k", [1, 2, 5, 30])
def test_closed_form_expected_max_matches_simulation(k):
    rng = np.random.default_rng(0)
    values = np.round(rng.gamma(2.0, size=50), 2)  # ties included
    draws = 100_000
    with_rep = values[rng.integers(0, len(values), (draws, k))].max(axis=1)
    se = with_rep.std() / np.sqrt(draws)
    assert float(expected_max(values, k)) == pytest.approx(with_rep.mean(), abs=4 * se + 1e-12)
    without = np.array([rng.choice(values, k, replace=False).max() for _ in range(20_000)])
    se = without.std() / np.sqrt(len(without))
    assert float(expected_max(values, k, replace=False)) == pytest.approx(without.mean(), abs=4 * se + 1e-12)
    assert expected_max(values, [1, k]).shape == (2,)


def test_expected_max_edges():
    values = [0.1, 0.5, 0.9]
    assert float(expected_max(values, 3, replace=False)) == pytest.approx(0.9)  # every value drawn
    assert float(expected_max(values, 1)) == pytest.approx(0.5)
    assert float(expected_max(values, 10_000)) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="at least 1"):
        expected_max(values, 0)
    with pytest.raises(ValueError, match="finite"):
        expected_max([0.1, float("nan")], 2)


def test_random_search_scores_zero_and_the_optimum_one_on_a_table():
    """Random search's draws (each decision uniform, as ``baselines/random_search.py`` draws them) on the CIFAR-100
    table, 400 seeds x 100 evaluations: the mean normalised score is 0 within its CI; the optimum scores 1.

    ``scripts/bench_suite_exactness.py`` checks the same through the env and the random method itself.
    """
    ref = table_reference("NAS-Bench-201-v0", {"dataset": "cifar100"})
    assert ref["uniform"] and ref["exhaustive"]
    reference = Reference(ref["optimum_reward"], ref["rewards"], exact=True, source="table")
    rewards = ref["rewards"]
    rng = np.random.default_rng(2024)
    budget = 100
    # NB201's 6 decisions x 5 choices, uniform: a row index in base 5 (the space enumerates in that order).
    draws = rewards[rng.integers(0, len(rewards), (400, budget))]
    finals = np.array([run_scores(np.maximum.accumulate(d), reference, (25, 50))["final"] for d in draws])
    half = 1.96 * finals.std(ddof=1) / np.sqrt(len(finals))
    assert abs(finals.mean()) < half, (finals.mean(), half)
    best = np.full(budget, ref["optimum_reward"])
    scores = run_scores(best, reference, (25, 50, 100))
    assert scores["final"] == 1.0 and scores["anytime"] == {25: 1.0, 50: 1.0, 100: 1.0} and scores["auc"] == 1.0
