"""MO regularised evolution on the real tables: ranking, aging, hypervolume, constraints, workers, errors."""

from __future__ import annotations

import numpy as np
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.mo_evolution import Member, MOEvolution, selection_keys
from nas_gym.error import ConfigError
from nas_gym.multi_objective.pareto import hypervolume, non_dominated_sort, objective_matrix
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import load_searcher

# The predictor screens train small networks on every generation: one torch thread each, as two test
# processes share the two cores.
pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: The embedded NAS-Bench-201 table (MNIST-1D) with its latency column.
EMBEDDED = {"latency_column": "latency_ms"}


@pytest.fixture(scope="module")
def fpga_kwargs(nb201_table) -> dict:
    """The shared CIFAR-100 table with HW-NAS-Bench's FPGA latency (the setting of scripts/bench_pareto.py)."""
    return {"table": nb201_table, "val_column": "c100_valid", "test_column": "c100_test",
            "latency_column": "lat_fpga_ms"}


def _search(env_kwargs: dict, seed: int, budget: int, agent: str = "mo_evolution", workers: int = 1, **hparams):
    searcher = load_searcher(agent)(**hparams)
    with SearchRun("NAS-Bench-201-v0", env_kwargs, agent=agent, seed=seed, budget=budget, workers=workers) as run:
        searcher.search(run)
    return searcher, run


#: The hypervolume tests' searches, shared: the same (seed, agent, settings) is searched once per process.
#: Their tests form one xdist group (``FRONTS``), so they run in one process and share it.
_FRONT_RUNS: dict[tuple, SearchRun] = {}
FRONTS = pytest.mark.xdist_group("mo-evolution-fronts")
FRONT_BUDGET = 150


def _front_run(env_kwargs: dict, seed: int, agent: str = "mo_evolution", **hparams) -> SearchRun:
    """``_search(...)[1]`` at :data:`FRONT_BUDGET` on ``env_kwargs``, searched once per process."""
    key = (repr(sorted(env_kwargs.items())), seed, agent, repr(sorted(hparams.items())))
    if key not in _FRONT_RUNS:
        _FRONT_RUNS[key] = _search(env_kwargs, seed, FRONT_BUDGET, agent=agent, **hparams)[1]
    return _FRONT_RUNS[key]


def _hv_fraction(run: SearchRun) -> float:
    """Hypervolume of the run's evaluated set as a fraction of the table's true front (bench_pareto's measure)."""
    env = run.env.unwrapped
    ref = env.hypervolume_reference()
    front = env.pareto_front(objectives=["val_accuracy", "latency_ms"])
    true = hypervolume(-front[:, 1], front[:, 0], ref["latency_ms"], ref["val_accuracy"])
    lat = [r["latency_ms"] for r in run.history]
    acc = [r["val_accuracy"] for r in run.history]
    return hypervolume(lat, acc, ref["latency_ms"], ref["val_accuracy"]) / true


def _timeless(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "cost_s"} for r in history]


def _member(acc: float, lat: float, violation: float = 0.0) -> Member:
    return Member(arch=None, objectives={"val_accuracy": acc, "latency_ms": lat}, violation=violation)


# -- the tournament's ranking ------------------------------------------------------------


def test_rank_first_then_crowding_and_infeasible_last_by_violation():
    members = [
        _member(0.5, 1.0),  # 0: front 0, an extreme
        _member(0.6, 2.0),  # 1: front 0, in the middle
        _member(0.7, 4.0),  # 2: front 0, an extreme
        _member(0.55, 3.0),  # 3: dominated by 1 (front 1)
        _member(0.9, 0.5, violation=0.2),  # 4: would dominate all, but infeasible
        _member(0.1, 9.0, violation=0.1),  # 5: infeasible, smaller violation
    ]
    keys = selection_keys(members, ("val_accuracy", "latency_ms"))
    order = sorted(range(len(members)), key=lambda i: keys[i])
    assert set(order[:2]) == {0, 2}  # extremes of front 0: infinite crowding distance
    assert order[2:] == [1, 3, 5, 4]


def test_ranking_uses_every_named_objective():
    members = [_member(0.5, 1.0), _member(0.5, 1.0)]
    members[0].objectives["params"], members[1].objectives["params"] = 10.0, 20.0
    keys = selection_keys(members, ("val_accuracy", "latency_ms", "params"))
    assert keys[0] < keys[1] and keys[0][1] == 0 and keys[1][1] == 1


# -- runs ------------------------------------------------------------------------------------


def test_same_seed_same_history_and_seeds_differ():
    first = _search(EMBEDDED, 5, 60)[1].history
    second = _search(EMBEDDED, 5, 60)[1].history
    for k, (a, b) in enumerate(zip(_timeless(first), _timeless(second), strict=True)):
        assert a == b, f"evaluation {k} differs between two runs with seed 5: {a} != {b}"
    assert [r["arch"] for r in _search(EMBEDDED, 6, 60)[1].history] != [r["arch"] for r in first]


@pytest.mark.parametrize("budget", [3, 11])
def test_budget_is_met_exactly(budget):
    searcher, run = _search(EMBEDDED, 0, budget, population_size=10, sample_size=3)
    assert run.num_evaluated == budget
    assert len(searcher.population) == min(budget, 10)


def test_population_ages_and_children_are_one_mutation_from_a_living_member(fpga_kwargs):
    size = 8
    searcher, run = _search(fpga_kwargs, 1, 60, population_size=size, sample_size=3, archive_prob=0, crossover_prob=0)
    history, space = run.history, run.space
    # The population at the end is the last P evaluations, oldest first: the oldest left, not the worst.
    assert [(str(m.arch), m.objectives["val_accuracy"], m.objectives["latency_ms"]) for m in searcher.population] == [
        (h["arch"], h["val_accuracy"], h["latency_ms"]) for h in history[-size:]
    ]
    for i in range(size, len(history)):
        alive = history[i - size : i]
        child = space.from_string(history[i]["arch"])
        assert any(child in space.neighbours(space.from_string(p["arch"])) for p in alive), (
            f"child {i} {history[i]['arch']} is not one decision away from any of the {size} members alive"
        )


def test_with_the_archive_every_parent_is_alive_or_on_the_front_so_far(fpga_kwargs):
    """archive_prob=1: each child is one mutation from a member of the non-dominated set of all earlier evaluations."""
    size = 8
    _, run = _search(fpga_kwargs, 1, 60, population_size=size, sample_size=3, archive_prob=1, crossover_prob=0)
    history, space = run.history, run.space
    for i in range(size, len(history)):
        earlier = objective_matrix(history[:i], ("val_accuracy", "latency_ms"))
        front = [history[j] for j in non_dominated_sort(earlier)[0]]
        child = space.from_string(history[i]["arch"])
        assert any(child in space.neighbours(space.from_string(p["arch"])) for p in front), (i, history[i]["arch"])


def test_with_crossover_only_every_child_mixes_two_members_of_the_front_so_far(fpga_kwargs):
    """crossover_prob=1: each child takes every decision from one of two distinct front members (nb201 has no masks)."""
    size = 8
    _, run = _search(fpga_kwargs, 1, 60, population_size=size, sample_size=3, crossover_prob=1)
    history, space = run.history, run.space
    crossed = 0
    for i in range(size, len(history)):
        earlier = objective_matrix(history[:i], ("val_accuracy", "latency_ms"))
        front = [space.from_string(history[j]["arch"]).indices for j in non_dominated_sort(earlier)[0]]
        child = space.from_string(history[i]["arch"]).indices
        if len(front) < 2:  # a one-member archive cannot cross: the child is a mutant
            continue
        crossed += 1
        assert any(all(c in (x, y) for c, x, y in zip(child, a, b, strict=True))
                   for k, a in enumerate(front) for b in front[k + 1:]), (i, history[i]["arch"])
    assert crossed > 40


class _SpyRng:
    """``run.rng`` that records what ``integers`` drew (the tournament's picks) and passes everything on."""

    def __init__(self, rng):
        self._rng, self.draws = rng, []

    def integers(self, *args, **kwargs):
        self.draws.append(self._rng.integers(*args, **kwargs))
        return self.draws[-1]

    def __getattr__(self, name):
        return getattr(self._rng, name)


def test_every_parent_is_its_tournaments_best_ranked_member(fpga_kwargs, monkeypatch):
    """The parent mutated is, of the members drawn, the one of best rank, ties to the larger crowding distance."""
    searcher = MOEvolution(population_size=8, sample_size=3, archive_prob=0, crossover_prob=0)
    checked = []
    with SearchRun("NAS-Bench-201-v0", fpga_kwargs, agent="mo_evolution", seed=3, budget=50) as run:
        run.rng = spy = _SpyRng(run.rng)
        mutate = run.space.mutate

        def spy_mutate(parent, rng):
            members = searcher.population
            keys = selection_keys(members, ("val_accuracy", "latency_ms"))
            picks = [int(i) for i in spy.draws[-1]]
            assert len(picks) == 3
            assert parent == members[min(picks, key=lambda i: keys[i])].arch
            checked.append(parent)
            return mutate(parent, rng)

        monkeypatch.setattr(run.space, "mutate", spy_mutate)
        searcher.search(run)
    assert len(checked) >= 50 - 8


def test_dedup_never_repeats_an_isomorphism_class(fpga_kwargs):
    _, run = _search(fpga_kwargs, 2, 100, population_size=10, sample_size=10)
    classes = [run.space.canonical(run.space.from_string(r["arch"])) for r in run.history]
    assert len(set(classes)) == len(classes) == 100


@FRONTS
def test_hypervolume_beats_random_search(fpga_kwargs):
    # Measured at 120 evaluations, seeds 0-5: MO-REA 0.80-0.92 of the true front's hypervolume, random 0.68-0.80.
    seeds = range(4)
    mo = [_hv_fraction(_front_run(fpga_kwargs, s)) for s in seeds]
    random = [_hv_fraction(_front_run(fpga_kwargs, s, agent="random")) for s in seeds]
    assert np.mean(mo) > np.mean(random) + 0.03, (mo, random)


def test_a_latency_limit_steers_the_search_into_it(fpga_kwargs):
    """Constrained domination: infeasible members lose every tournament to feasible ones."""
    limited = {**fpga_kwargs, "latency_limit_ms": 2.5}
    searcher, run = _search(limited, 3, 120, population_size=10, sample_size=5)
    random = _search(limited, 3, 120, agent="random")[1].history
    assert [m.violation for m in searcher.population] == [r["constraint_violation"] for r in run.history[-10:]]
    share = [np.mean([r["feasible"] for r in h[60:]]) for h in (run.history, random)]
    assert share[0] > share[1] + 0.2, share


def test_two_workers_share_the_initial_population_and_repeat(fpga_kwargs):
    size = 8
    one = _search(fpga_kwargs, 5, 24, population_size=size, sample_size=3)[1].history
    two = _search(fpga_kwargs, 5, 24, workers=2, population_size=size, sample_size=3)[1]
    assert two.workers == 2
    # Asynchronous: children are bred before every result is in, so only the random population must match.
    assert _timeless(one[:size]) == _timeless(two.history[:size])
    again = _search(fpga_kwargs, 5, 24, workers=2, population_size=size, sample_size=3)[1].history
    assert _timeless(again) == _timeless(two.history)


def test_an_env_without_latency_is_refused_before_any_evaluation():
    with SearchRun("NAS-Bench-201-v0", {}, agent="mo_evolution", seed=0, budget=5) as run:
        with pytest.raises(ConfigError, match=r"MO-Evolution needs latency_ms .* pass latency_column="):
            MOEvolution().search(run)
        assert run.num_evaluated == 0


def test_a_training_env_without_latency_names_the_latency_models():
    kwargs = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1}, "latency": "none", "cache": False}
    with SearchRun("NAS-v0", kwargs, agent="mo_evolution", seed=0, budget=2) as run:
        with pytest.raises(ConfigError, match=r"pass latency='measured' or latency='op_table'"):
            MOEvolution().search(run)
        assert run.num_evaluated == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"population_size": 5, "sample_size": 6}, r"sample_size must be ≤ population_size \(5\), got 6"),
        ({"population_size": 1}, r"MO-Evolution population_size must be an integer ≥ 2, got 1"),
        ({"sample_size": 0}, r"sample_size must be an integer ≥ 1, got 0"),
        ({"objectives": ["latency_ms", "params"]}, r"objectives must hold val_accuracy and latency_ms"),
        ({"dedup": "yes"}, r"dedup must be true or false, got 'yes'"),
        ({"tournament": 3}, r"MO-Evolution has no hyperparameter 'tournament'"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MOEvolution(**kwargs)


@FRONTS
def test_the_screen_raises_the_hypervolume(fpga_kwargs):
    seeds = range(4)
    plain = [_hv_fraction(_front_run(fpga_kwargs, s, screen_size=1)) for s in seeds]
    screened = [_hv_fraction(_front_run(fpga_kwargs, s)) for s in seeds]
    assert np.mean(screened) > np.mean(plain) + 0.01, (screened, plain)


def test_screened_children_are_still_bred_from_the_front_or_the_population(fpga_kwargs):
    """The screen only chooses among children: with crossover off, each child is one mutation from a living
    member or a member of the front so far, and no isomorphism class is evaluated twice."""
    size = 8
    _, run = _search(fpga_kwargs, 1, 60, population_size=size, sample_size=3, crossover_prob=0, screen_size=5)
    history, space = run.history, run.space
    for i in range(size, len(history)):
        earlier = objective_matrix(history[:i], ("val_accuracy", "latency_ms"))
        parents = [history[j] for j in non_dominated_sort(earlier)[0]] + history[i - size : i]
        child = space.from_string(history[i]["arch"])
        assert any(child in space.neighbours(space.from_string(p["arch"])) for p in parents), (i, history[i]["arch"])
    classes = [space.canonical(space.from_string(r["arch"])) for r in history]
    assert len(set(classes)) == len(classes)
