"""NSGA-II through Optuna on the real tables: determinism, budget, hypervolume, constraints, dedup, workers, errors."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.nsga2 import NSGA2Search
from nas_gym.error import ConfigError
from nas_gym.multi_objective.pareto import hypervolume
from nas_gym.search.optuna_space import CONSTRAINT, suggest_indices
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


def _run(env_kwargs: dict, seed: int, budget: int, agent: str = "nsga2", workers: int = 1, **hparams) -> SearchRun:
    searcher = load_searcher(agent)(**hparams)
    with SearchRun("NAS-Bench-201-v0", env_kwargs, agent=agent, seed=seed, budget=budget, workers=workers) as run:
        searcher.search(run)
    return run


#: The hypervolume tests' runs, shared: the same (seed, budget, agent, settings) is searched once per process.
#: Their tests form one xdist group (``FRONTS``), so they run in one process and share it.
_FRONT_RUNS: dict[tuple, SearchRun] = {}
FRONTS = pytest.mark.xdist_group("nsga2-fronts")
#: One budget for the tests that compare fronts: the generations test needs 10 generations of 16.
FRONT_BUDGET = 160


def _front_run(env_kwargs: dict, seed: int, agent: str = "nsga2", **hparams) -> SearchRun:
    """``_run`` at :data:`FRONT_BUDGET` on ``env_kwargs``, searched once per process."""
    key = (repr(sorted(env_kwargs.items())), seed, agent, repr(sorted(hparams.items())))
    if key not in _FRONT_RUNS:
        _FRONT_RUNS[key] = _run(env_kwargs, seed, FRONT_BUDGET, agent=agent, **hparams)
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


def test_same_seed_same_history_and_seeds_differ():
    first = _run(EMBEDDED, 4, 40).history
    second = _run(EMBEDDED, 4, 40).history
    assert len(first) == 40
    for k, (a, b) in enumerate(zip(_timeless(first), _timeless(second), strict=True)):
        assert a == b, f"evaluation {k} differs between two runs with seed 4: {a} != {b}"
    assert [r["arch"] for r in _run(EMBEDDED, 5, 40).history] != [r["arch"] for r in first]


@pytest.mark.parametrize("budget", [1, 7, 33])
def test_budget_is_met_exactly(budget):
    run = _run(EMBEDDED, 0, budget, population_size=8)
    assert run.num_evaluated == len(run.history) == budget
    assert [r["index"] for r in run.history] == list(range(budget))


@FRONTS
def test_hypervolume_beats_random_search(fpga_kwargs):
    # Measured at 120 evaluations, seeds 0-5: NSGA-II 0.85-0.95 of the true front's hypervolume, random 0.68-0.80.
    seeds = range(4)
    nsga2 = [_hv_fraction(_front_run(fpga_kwargs, s)) for s in seeds]
    random = [_hv_fraction(_front_run(fpga_kwargs, s, agent="random")) for s in seeds]
    assert np.mean(nsga2) > np.mean(random) + 0.03, (nsga2, random)


@FRONTS
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_last_generation_improves_on_the_random_first(fpga_kwargs, seed):
    """Each generation (16 evaluations) is bred from the elite before it: the last front beats the random first."""
    run = _front_run(fpga_kwargs, seed)
    ref = run.env.unwrapped.hypervolume_reference()

    def hv(records):
        return hypervolume([r["latency_ms"] for r in records], [r["val_accuracy"] for r in records],
                           ref["latency_ms"], ref["val_accuracy"])

    assert hv(run.history[-16:]) > 1.2 * hv(run.history[:16])


def test_dedup_never_repeats_an_isomorphism_class_and_plain_nsga2_does(fpga_kwargs):
    def classes(run):
        return [run.space.canonical(run.space.from_string(r["arch"])) for r in run.history]

    deduped = classes(_run(fpga_kwargs, 2, 120, population_size=8))
    assert len(set(deduped)) == len(deduped) == 120
    plain = classes(_run(fpga_kwargs, 2, 120, population_size=8, dedup=False))
    assert len(set(plain)) < len(plain)


def test_two_workers_give_the_history_of_one(fpga_kwargs):
    # A generation is asked in whole batches when the workers divide the population size.
    one = _run(fpga_kwargs, 5, 40, population_size=8)
    two = _run(fpga_kwargs, 5, 40, population_size=8, workers=2)
    assert two.workers == 2
    assert _timeless(one.history) == _timeless(two.history)


def test_objectives_may_add_params_and_flops():
    run = _run(EMBEDDED, 0, 20, population_size=6, objectives=["val_accuracy", "latency_ms", "params"])
    assert run.num_evaluated == 20
    searcher = NSGA2Search(objectives=["val_accuracy", "latency_ms", "params", "flops"])
    study = searcher.make_study(0)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE", "MINIMIZE"]


@pytest.mark.parametrize("agent", ["nsga2", "tpe"])
def test_optuna_methods_set_the_violation_as_the_trial_constraint(fpga_kwargs, agent, monkeypatch):
    """With hard limits each trial carries the env's constraint_violation; without them, no constraint at all."""
    calls: list[tuple[str, float]] = []
    set_constraint = optuna.trial.Trial.set_constraint
    monkeypatch.setattr(optuna.trial.Trial, "set_constraint",
                        lambda self, key, value: calls.append((key, value)) or set_constraint(self, key, value))
    limited = _run({**fpga_kwargs, "latency_limit_ms": 3.0}, 0, 30, agent=agent)
    assert [r["constraint_violation"] for r in limited.history] == [v for _, v in calls]
    assert {k for k, _ in calls} == {CONSTRAINT}
    assert any(not r["feasible"] for r in limited.history) and any(r["feasible"] for r in limited.history)
    calls.clear()
    _run(fpga_kwargs, 0, 10, agent=agent)
    assert calls == []


def test_a_latency_limit_steers_the_search_into_it(fpga_kwargs):
    """Constrained domination: infeasible trials lose every tournament, so later generations are mostly feasible."""
    limited = {**fpga_kwargs, "latency_limit_ms": 2.5}
    nsga2 = _run(limited, 3, 120, population_size=10).history
    random = _run(limited, 3, 120, agent="random").history
    share = [np.mean([r["feasible"] for r in h[60:]]) for h in (nsga2, random)]
    assert share[0] > share[1] + 0.2, share


def test_an_env_without_latency_is_refused_before_any_evaluation():
    with SearchRun("NAS-Bench-201-v0", {}, agent="nsga2", seed=0, budget=5) as run:
        with pytest.raises(ConfigError, match=r"NSGA-II needs latency_ms .* pass latency_column="):
            NSGA2Search().search(run)
        assert run.num_evaluated == 0


def test_an_evaluation_without_latency_is_refused(monkeypatch):
    """An evaluator that reports no latency, behind a latency model the env thinks it has."""
    with SearchRun("NAS-Bench-201-v0", EMBEDDED, agent="nsga2", seed=0, budget=5) as run:
        result = run.result
        monkeypatch.setattr(run, "result", lambda: {**result(), "latency_ms": None})
        with pytest.raises(ConfigError, match=r"NSGA-II needs latency_ms from every evaluation"):
            NSGA2Search().search(run)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"population_size": 1}, r"NSGA-II population_size must be an integer ≥ 2, got 1"),
        ({"crossover_prob": 1.5}, r"crossover_prob must be in \[0, 1\], got 1.5"),
        ({"mutation_prob": -0.1}, r"mutation_prob must be in \[0, 1\] or None"),
        ({"objectives": ["val_accuracy"]}, r"objectives must hold val_accuracy and latency_ms"),
        ({"objectives": ["val_accuracy", "latency_ms", "latency_ms"]}, r"each objective once"),
        ({"objectives": ["val_accuracy", "speed"]}, r"objectives must be a list of items, each one of"),
        ({"dedup": "yes"}, r"dedup must be true or false, got 'yes'"),
        ({"popsize": 10}, r"NSGA-II has no hyperparameter 'popsize'"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        NSGA2Search(**kwargs)


@pytest.mark.parametrize("agent", ["nsga2", "tpe"])
def test_optuna_methods_run_with_no_feasible_trial(fpga_kwargs, agent):
    """A limit nothing meets: a constrained study has no best trial, and the search must not ask for one."""
    run = _run({**fpga_kwargs, "latency_limit_ms": 0.01}, 0, 12, agent=agent)
    assert run.num_evaluated == 12 and not any(r["feasible"] for r in run.history)


def test_the_screen_evaluates_one_of_the_sampler_s_new_children_and_fails_the_rest(fpga_kwargs):
    """screen_size=4: each screened evaluation is one of 4 distinct unseen children Optuna bred; 3 are told failed."""
    searcher = NSGA2Search(population_size=8, screen_size=4)
    studies = []
    make_study = searcher.make_study
    with SearchRun("NAS-Bench-201-v0", fpga_kwargs, agent="nsga2", seed=1, budget=60) as run:
        searcher.make_study = lambda seed: studies.append(make_study(seed)) or studies[-1]
        searcher.search(run)
    trials = studies[0].trials
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == run.num_evaluated == 60
    assert [run.space.arch(suggest_indices(t, run.space)) for t in complete] == [
        run.space.from_string(r["arch"]) for r in run.history]
    classes = [run.space.canonical(run.space.from_string(r["arch"])) for r in run.history]
    assert len(set(classes)) == 60
    # The screen is ready after 10 evaluations: from then on, 3 children failed per evaluation (dedup adds more).
    failed = sum(t.state == optuna.trial.TrialState.FAIL for t in trials)
    assert failed >= 3 * (60 - 10)


@FRONTS
def test_the_screen_raises_the_hypervolume(fpga_kwargs):
    seeds = range(4)
    plain = [_hv_fraction(_front_run(fpga_kwargs, s, screen_size=1)) for s in seeds]
    screened = [_hv_fraction(_front_run(fpga_kwargs, s)) for s in seeds]
    assert np.mean(screened) > np.mean(plain) + 0.01, (screened, plain)
