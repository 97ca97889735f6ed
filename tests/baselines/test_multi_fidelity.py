"""successive_halving, hyperband, asha and bohb: rungs through the env's fidelity option, budgets in epochs."""

from __future__ import annotations

import json

import pytest

from nas_gym.baselines.hyperband import Hyperband, SuccessiveHalving, rung_epochs
from nas_gym.baselines.optuna_pruning import ASHA
from nas_gym.error import ConfigError
from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.search.budget import Budget
from nas_gym.search.searcher import run_search

METHODS = ("successive_halving", "hyperband", "asha", "bohb")
#: Three rungs (1, 3, 9 epochs) of a small, fast training; no latency, so rewards repeat exactly.
TINY = {"space_kwargs": {"num_layers": 2}, "latency": "none",
        "evaluator_kwargs": {"epochs": 9, "train_fraction": 0.1, "num_threads": 1}}


def history(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


def test_rungs_and_brackets_follow_li_et_al():
    assert rung_epochs(3, 1, 9) == (2, [1, 3, 9])
    assert rung_epochs(3, 1, 27) == (3, [1, 3, 9, 27])
    assert Hyperband().brackets(9) == [(9, [1, 3, 9]), (5, [3, 9]), (3, [9])]
    assert Hyperband(eta=2).brackets(4) == [(4, [1, 2, 4]), (3, [2, 4]), (3, [4])]
    assert SuccessiveHalving().brackets(9) == [(9, [1, 3, 9])]
    assert SuccessiveHalving(n_configs=6).brackets(9) == [(6, [1, 3, 9])]
    assert ASHA().rungs(9) == [1, 3, 9] and ASHA(reduction_factor=2, min_epochs=2).rungs(9) == [2, 4, 8, 9]
    with pytest.raises(ConfigError, match="above the env's full budget"):
        Hyperband(min_epochs=10).brackets(9)


def test_successive_halving_promotes_the_best_third_of_each_rung(tmp_path):
    summary = run_search("successive_halving", "NAS-v0", {**TINY, "cache": str(tmp_path / "c.sqlite")},
                         budget=13, seed=0, out_dir=tmp_path / "run")
    h = history(tmp_path / "run")
    assert [r["epochs"] for r in h] == [1] * 9 + [3] * 3 + [9]
    first = sorted(h[:9], key=lambda r: -r["reward"])
    assert [r["arch"] for r in h[9:12]] == [r["arch"] for r in h[:9] if r in first[:3]]
    assert h[12]["arch"] == max(h[9:12], key=lambda r: r["reward"])["arch"]
    # Promoted architectures add only their extra epochs: 9 x 1 + 3 x 2 + 1 x 6.
    assert [r["epochs_trained"] for r in h] == [1] * 9 + [2] * 3 + [6] and summary["epochs_trained"] == 21
    assert summary["best_full_fidelity"]["arch"] == h[12]["arch"]


@pytest.mark.parametrize("agent", ["asha", "bohb", "hyperband"])
def test_a_method_climbs_rungs_in_order_and_stops_at_the_epochs_budget(agent, tmp_path):
    kwargs = {**TINY, "cache": str(tmp_path / "c.sqlite")}
    summary = run_search(agent, "NAS-v0", kwargs, budget=Budget(500, epochs=30), seed=1, out_dir=tmp_path / "a")
    h = history(tmp_path / "a")
    assert 30 <= summary["epochs_trained"] < 30 + 9 and summary["epochs_trained"] == sum(r["epochs_trained"] for r in h)
    by_arch: dict[str, list[int]] = {}
    for r in h:
        by_arch.setdefault(r["arch"], []).append(r["epochs"])
    # Each architecture is trained at increasing fidelities, ending at or below the full budget.
    assert all(f == sorted(f) and f[-1] <= 9 for f in by_arch.values())
    assert any(f[-1] == 9 for f in by_arch.values()) and any(f[-1] < 9 for f in by_arch.values())
    if agent != "bohb":
        return  # the repeat below checks Optuna's part (TPE, Hyperband's bracket hash); the others are plain numpy
    # Seeded: the same run again gives the same history (this time from the cache).
    run_search(agent, "NAS-v0", kwargs, budget=Budget(500, epochs=30), seed=1, out_dir=tmp_path / "b")
    same = ("arch", "epochs", "reward", "epochs_trained")
    assert [[r[k] for k in same] for r in history(tmp_path / "b")] == [[r[k] for k in same] for r in h]


@pytest.mark.parametrize("agent", METHODS)
def test_methods_need_an_env_with_fidelities(agent):
    with pytest.raises(ConfigError, match="fidelities"):
        run_search(agent, "NAS-Bench-201-Latency-v0", budget=5)


def test_a_resumed_run_does_not_train_finished_rungs_again(tmp_path, monkeypatch):
    """A history cut short mid-write (as by a kill), no cache: only the missing evaluations train."""
    kwargs = {**TINY, "cache": False}
    full, part = tmp_path / "full", tmp_path / "part"
    run_search("asha", "NAS-v0", kwargs, budget=Budget(100, epochs=30), seed=2, out_dir=full)
    lines = (full / "history.jsonl").read_bytes().splitlines(keepends=True)
    part.mkdir()
    (part / "run.json").write_bytes((full / "run.json").read_bytes())
    (part / "history.jsonl").write_bytes(b"".join(lines[:8]) + lines[8][:25])
    trained = []
    real = TrainingEvaluator.evaluate_at

    def counting(self, arch, epochs):
        trained.append((str(arch), epochs))
        return real(self, arch, epochs)

    monkeypatch.setattr(TrainingEvaluator, "evaluate_at", counting)
    summary = run_search("asha", "NAS-v0", kwargs, budget=Budget(100, epochs=30), seed=2, out_dir=part)
    resumed = history(part)
    assert summary["resumed_from"] == 8 and len(trained) == len(lines) - 8
    assert [(r["arch"], r["epochs"]) for r in resumed[8:]] == trained
    assert [{k: r[k] for k in ("arch", "epochs", "reward", "epochs_trained")} for r in resumed] == [
        {k: r[k] for k in ("arch", "epochs", "reward", "epochs_trained")} for r in map(json.loads, lines)]
