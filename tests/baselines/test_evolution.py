"""Regularised evolution on the real envs: CLI runs, determinism, aging population, dedup, budget, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.evolution import RegularizedEvolution
from nas_gym.error import ConfigError
from nas_gym.search.run import HISTORY_KEYS, SearchRun

NAS_CLI = Path(sys.executable).with_name("nas-gym")
TINY_NAS = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1}, "cache": False}


def _cli(tmp_path: Path, env: str, env_kwargs: dict, budget: int, agent_kwargs: dict | None = None) -> tuple:
    out = tmp_path / "run"
    cmd = [
        str(NAS_CLI), "search", "--agent", "evolution", "--env", env, "--env-kwargs", json.dumps(env_kwargs),
        "--agent-kwargs", json.dumps(agent_kwargs or {}), "--budget", str(budget), "--seed", "0",
        "--out", str(out), "--no-progress",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    return history, json.loads((out / "summary.json").read_text())


def _run(env_kwargs: dict, seed: int, budget: int, **hparams) -> tuple[RegularizedEvolution, SearchRun]:
    searcher = RegularizedEvolution(**hparams)
    with SearchRun("NAS-Bench-201-v0", env_kwargs, agent="evolution", seed=seed, budget=budget) as run:
        searcher.search(run)
    return searcher, run


def _is_one_mutation(space, parent_str: str, child_str: str) -> bool:
    return space.from_string(child_str) in space.neighbours(space.from_string(parent_str))


def test_cli_on_table_writes_history_and_summary(tmp_path, nb201_kwargs):
    history, summary = _cli(tmp_path, "NAS-Bench-201-v0", nb201_kwargs, 40)
    assert len(history) == 40
    assert all(tuple(r) == HISTORY_KEYS for r in history)
    assert [r["index"] for r in history] == list(range(40))
    assert summary["agent"] == "evolution" and summary["num_evaluated"] == 40
    assert summary["hparams"] == {"population_size": 30, "sample_size": 10, "dedup": True, "max_redraws": 100,
                                  "prefilter": None, "prefilter_factor": 10, "prefilter_task": None,
                                  "prefilter_mutants": 1}
    assert summary["best"]["reward"] == max(r["reward"] for r in history) == history[-1]["best_reward"]


def test_same_seed_same_history_and_seeds_differ(nb201_kwargs):
    first = _run(nb201_kwargs, 5, 60)[1].history
    second = _run(nb201_kwargs, 5, 60)[1].history
    for k, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a == b, f"evaluation {k} differs between two runs with seed 5: {a} != {b}"
    assert [r["arch"] for r in _run(nb201_kwargs, 6, 60)[1].history] != [r["arch"] for r in first]


@pytest.mark.parametrize("dedup", [False, True])
def test_population_ages_and_children_are_one_mutation_from_a_living_member(nb201_kwargs, dedup):
    size = 5
    searcher, run = _run(nb201_kwargs, 1, 60, population_size=size, sample_size=2, dedup=dedup)
    history, space = run.history, run.space
    # The population at the end is exactly the last P evaluations, oldest first: the oldest left, not the worst.
    assert [(str(a), r) for a, r in searcher.population] == [(h["arch"], h["reward"]) for h in history[-size:]]
    assert min(r for _, r in searcher.population) < max(h["reward"] for h in history[:-size])
    for i in range(size, len(history)):
        alive = history[i - size : i]
        assert any(_is_one_mutation(space, p["arch"], history[i]["arch"]) for p in alive), (
            f"child {i} {history[i]['arch']} is not one decision away from any of the {size} members alive"
        )


def test_dedup_never_repeats_an_isomorphism_class_and_plain_evolution_does(nb201_kwargs):
    def classes(run):
        return [run.space.canonical(run.space.from_string(r["arch"])) for r in run.history]

    deduped = classes(_run(nb201_kwargs, 2, 100, population_size=10, sample_size=10)[1])
    assert len(set(deduped)) == len(deduped) == 100
    plain = classes(_run(nb201_kwargs, 2, 100, population_size=10, sample_size=10, dedup=False)[1])
    assert len(set(plain)) < len(plain)


@pytest.mark.parametrize("budget", [3, 11])
def test_budget_is_met_exactly(nb201_kwargs, budget):
    searcher, run = _run(nb201_kwargs, 0, budget, population_size=10, sample_size=3)
    assert run.num_evaluated == budget
    assert len(searcher.population) == min(budget, 10)


@pytest.mark.slow
def test_nas_v0_tiny_run_mutates_under_masks(tmp_path):
    history, summary = _cli(tmp_path, "NAS-v0", TINY_NAS, 3, {"population_size": 2, "sample_size": 1})
    assert len(history) == 3 and summary["num_evaluated"] == 3
    assert all(0.0 <= r["val_accuracy"] <= 1.0 and r["latency_ms"] > 0 for r in history)
    env = gym.make("NAS-v0", **TINY_NAS)
    space = env.unwrapped.space
    assert any(_is_one_mutation(space, p["arch"], history[2]["arch"]) for p in history[:2])
    env.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"population_size": 5, "sample_size": 6}, r"sample_size must be ≤ population_size \(5\), got 6"),
        ({"population_size": 1}, r"population_size must be an integer ≥ 2, got 1"),
        ({"sample_size": 0}, r"sample_size must be an integer ≥ 1, got 0"),
        ({"dedup": "yes"}, r"dedup must be true or false, got 'yes'"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RegularizedEvolution(**kwargs)
