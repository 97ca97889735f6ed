"""BANANAS on the embedded NAS-Bench-201 table: determinism, resume by replay, no repeats, against random, errors."""

from __future__ import annotations

import numpy as np
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.bananas import Bananas, expected_improvement
from nas_gym.error import ConfigError
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import run_search

ENV = "NAS-Bench-201-v0"  # the embedded table: no shared data needed
#: Two members keep the test cheap; the rest are the defaults.
SMALL = {"num_members": 2}


def _run(seed: int, budget: int, out_dir=None, **hparams) -> SearchRun:
    searcher = Bananas(**{**SMALL, **hparams})
    with SearchRun(ENV, agent="bananas", seed=seed, budget=budget, out_dir=out_dir,
                   hparams=searcher.hparams()) as run:
        searcher.search(run)
    return run


def _history(seed: int, budget: int, out_dir=None, **hparams) -> list[dict]:
    return _run(seed, budget, out_dir, **hparams).history


@pytest.fixture(scope="module")
def reference_run() -> SearchRun:
    """An uninterrupted run: seed 3, 30 evaluations (10 random, two predictor rounds of 10)."""
    return _run(3, 30)


@pytest.fixture(scope="module")
def reference(reference_run) -> list[dict]:
    """The history of :func:`reference_run`."""
    return reference_run.history


def test_same_seed_same_history_and_seeds_differ(reference):
    again = _history(3, 30)
    for k, (a, b) in enumerate(zip(reference, again, strict=True)):
        assert a == b, f"evaluation {k} differs between two runs with seed 3: {a} != {b}"
    assert [r["arch"] for r in _history(4, 10)] != [r["arch"] for r in reference[:10]]


def test_never_evaluates_an_isomorphism_class_twice(reference, reference_run):
    space = reference_run.space  # its canonical-form table is built already
    classes = [space.canonical(space.from_string(r["arch"])) for r in reference]
    assert len(classes) == len(set(classes)) == 30


def test_resume_replays_to_the_uninterrupted_history(reference, tmp_path):
    # A run stopped after 15 evaluations (mid-batch) and run again with a larger budget in the same folder:
    # the method replays the recorded 15 and carries on as if never stopped (the budget only truncates batches).
    assert len(_history(3, 15, tmp_path / "run")) == 15
    resumed = _history(3, 20, tmp_path / "run")
    assert [(r["arch"], r["reward"]) for r in resumed] == [(r["arch"], r["reward"]) for r in reference[:20]]


def test_beats_random_search_on_mean_best():
    pytest.importorskip("lightgbm")  # the cheaper predictor keeps this test fast
    seeds, budget = range(5), 40
    bananas = [run_search("bananas", ENV, budget=budget, seed=s,
                          agent_kwargs={"predictor": "gbdt", **SMALL})["best"]["reward"] for s in seeds]
    random = [run_search("random", ENV, budget=budget, seed=s)["best"]["reward"] for s in seeds]
    assert np.mean(bananas) >= np.mean(random), (bananas, random)


def test_expected_improvement_meets_the_budget_exactly():
    pytest.importorskip("lightgbm")
    history = _history(0, 13, acquisition="ei", predictor="gbdt")
    assert [r["index"] for r in history] == list(range(13))


def test_expected_improvement_values():
    ei = expected_improvement(np.array([0.5, 0.5, 0.9]), np.array([0.0, 0.1, 0.1]), 0.6)
    assert ei[0] == 0.0 and 0 < ei[1] < ei[2] and ei[2] > 0.3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"predictor": "mlp"}, r"Unknown predictor 'mlp'"),
        ({"acquisition": "ucb"}, r"acquisition must be one of 'its', 'ei', got 'ucb'"),
        ({"num_init": 1}, r"num_init must be an integer ≥ 2, got 1"),
        ({"encoding": "adjacency"}, r"encoding must be one of 'onehot', 'path' or None"),
        ({"batch": 3}, r"Bananas has no hyperparameter 'batch'. Did you mean 'batch_size'\?"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Bananas(**kwargs)
