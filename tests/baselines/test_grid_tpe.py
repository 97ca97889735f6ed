"""Grid search and TPE on the real envs: CLI runs, determinism, canonical enumeration, size limit, masks."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

import gymnasium as gym
import numpy as np
import optuna
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.grid import GridSearch
from nas_gym.baselines.tpe import TPESearch, suggest_indices
from nas_gym.error import ConfigError
from nas_gym.search.run import HISTORY_KEYS, SearchRun
from nas_gym.search.searcher import run_search

NAS_CLI = Path(sys.executable).with_name("nas-gym")
TINY_NAS = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1}, "cache": False}


def _cli(tmp_path: Path, agent: str, env: str, env_kwargs: dict, budget: int, agent_kwargs: dict | None = None):
    out = tmp_path / agent
    cmd = [
        str(NAS_CLI), "search", "--agent", agent, "--env", env, "--env-kwargs", json.dumps(env_kwargs),
        "--agent-kwargs", json.dumps(agent_kwargs or {}), "--budget", str(budget), "--seed", "0",
        "--out", str(out), "--no-progress",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300), out


def _read(out: Path) -> tuple[list[dict], dict]:
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    return history, json.loads((out / "summary.json").read_text())


def _history(agent: str, env_kwargs: dict, seed: int, budget: int, **hparams) -> list[dict]:
    searcher = {"grid": GridSearch, "tpe": TPESearch}[agent](**hparams)
    with SearchRun("NAS-Bench-201-v0", env_kwargs, agent=agent, seed=seed, budget=budget) as run:
        searcher.search(run)
        return run.history


# -- both, through the real command line ---------------------------------------------------


@pytest.mark.parametrize("agent", ["grid", "tpe"])
def test_cli_on_table_writes_history_and_summary(tmp_path, nb201_kwargs, agent):
    done, out = _cli(tmp_path, agent, "NAS-Bench-201-v0", nb201_kwargs, 15)
    assert done.returncode == 0, done.stderr
    history, summary = _read(out)
    assert len(history) == 15 and all(tuple(r) == HISTORY_KEYS for r in history)
    assert summary["agent"] == agent and summary["num_evaluated"] == 15
    assert summary["best"]["reward"] == max(r["reward"] for r in history)


@pytest.mark.slow
def test_tpe_nas_v0_tiny_run(tmp_path):
    done, out = _cli(tmp_path, "tpe", "NAS-v0", TINY_NAS, 3)
    assert done.returncode == 0, done.stderr
    history, summary = _read(out)
    assert len(history) == 3 and summary["num_evaluated"] == 3
    assert all(0.0 <= r["val_accuracy"] <= 1.0 and r["latency_ms"] > 0 for r in history)


def test_grid_nas_v0_tiny_run():
    summary = run_search("grid", "NAS-v0", TINY_NAS, budget=2)
    assert summary["num_evaluated"] == 2 and 0.0 <= summary["best"]["val_accuracy"] <= 1.0


@pytest.mark.parametrize(("agent", "hparams"), [("grid", {"order": "shuffled"}), ("tpe", {})])
def test_same_seed_same_history_and_seeds_differ(nb201_kwargs, agent, hparams):
    first = _history(agent, nb201_kwargs, 3, 30, **hparams)
    second = _history(agent, nb201_kwargs, 3, 30, **hparams)
    assert len(first) == 30
    for k, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a == b, f"{agent}: evaluation {k} differs between two runs with seed 3: {a} != {b}"
    assert [r["arch"] for r in _history(agent, nb201_kwargs, 4, 30, **hparams)] != [r["arch"] for r in first]


# -- grid ------------------------------------------------------------------------------------


def test_grid_enumerates_the_6466_nb201_classes_once_each(nb201_kwargs):
    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, agent="grid", seed=0, budget=7000) as run:
        GridSearch().search(run)
        space, history = run.space, run.history
    archs = [space.from_string(r["arch"]) for r in history]
    assert len(history) == 6466
    assert all(space.canonical(a) == a for a in archs) and len(set(archs)) == 6466
    # Natural order is the space's index order.
    assert [a.indices for a in archs] == sorted(a.indices for a in archs)


def test_grid_without_dedup_follows_enumerate_and_shuffled_is_a_permutation(nb201_kwargs):
    natural = _history("grid", nb201_kwargs, 0, 50, canonical_only=False)
    env = gym.make("NAS-Bench-201-v0", **nb201_kwargs)
    assert [r["arch"] for r in natural] == [str(a) for a in islice(env.unwrapped.space.enumerate(), 50)]
    env.close()
    shuffled = _history("grid", nb201_kwargs, 0, 200, canonical_only=False, order="shuffled")
    assert len({r["arch"] for r in shuffled}) == 200
    assert [r["arch"] for r in shuffled[:50]] != [r["arch"] for r in natural]


def test_grid_refuses_a_space_above_max_size():
    with SearchRun("NAS-v0", {}, agent="grid", seed=0, budget=5) as run:
        size = run.space.size()
        with pytest.raises(ConfigError, match=rf"space has {size:,} \(limit max_size=100,000\)\. Raise max_size"):
            GridSearch().search(run)
        assert run.num_evaluated == 0
    with pytest.raises(ConfigError, match=r"limit max_size=10\).*'random', 'evolution' or 'tpe'"):
        run_search("grid", "NAS-v0", TINY_NAS, budget=1, agent_kwargs={"max_size": 10})


@pytest.mark.slow
def test_grid_refusal_through_the_cli(tmp_path):
    done, _ = _cli(tmp_path, "grid", "NAS-v0", {}, 5)
    assert done.returncode == 2
    assert "limit max_size=100,000" in done.stderr and "Raise max_size" in done.stderr


# -- TPE -------------------------------------------------------------------------------------


def test_tpe_suggestions_respect_the_masks_of_the_layers_space():
    env = gym.make("NAS-v0", **TINY_NAS)
    space = env.unwrapped.space
    study = TPESearch(n_startup_trials=5).make_study(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(25):
        trial = study.ask()
        indices = suggest_indices(trial, space)
        assert space.validate(indices) == indices
        study.tell(trial, float(rng.random()))
    # Don't-care decisions are not parameters; a partly masked decision gets its own name.
    names = {name for t in study.trials for name in t.params}
    assert names <= {d.name for d in space.decisions} | {n for n in names if "[" in n}
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    env.close()


def test_tpe_uses_one_parameter_per_nb201_decision(nb201_kwargs):
    env = gym.make("NAS-Bench-201-v0", **nb201_kwargs)
    space = env.unwrapped.space
    trial = TPESearch().make_study(seed=0).ask()
    suggest_indices(trial, space)
    assert list(trial.params) == [d.name for d in space.decisions]
    env.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_startup_trials": 0}, r"n_startup_trials must be an integer ≥ 1, got 0"),
        ({"multivariate": False}, r"group=true needs multivariate=true"),
        ({"group": "yes"}, r"group must be true or false, got 'yes'"),
    ],
)
def test_tpe_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TPESearch(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": "random"}, r"order must be one of 'natural', 'shuffled', got 'random'"),
        ({"max_size": 0}, r"max_size must be a positive integer, got 0"),
    ],
)
def test_grid_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        GridSearch(**kwargs)
