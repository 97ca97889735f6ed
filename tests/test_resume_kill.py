"""Resume after SIGKILL: a real ``nas-gym search`` subprocess is killed at random points and run again.

After the last, uninterrupted run the history must hold every evaluation
exactly once (indices ``0..budget-1``), equal an uninterrupted run's (arch and
reward), and ``summary.json`` must name the same best architecture.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.search.budget import Budget
from nas_gym.search.searcher import run_search

SAME = ("index", "arch", "reward", "val_accuracy", "test_accuracy", "params", "diverged", "timed_out")
TINY_TRAINING = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1, "train_fraction": 0.3},
                 "latency": "none"}


def search_command(agent: str, env_id: str, env_kwargs: dict, budget: int, seed: int, out: Path) -> list[str]:
    """The ``nas-gym search`` command line (run through this interpreter)."""
    return [sys.executable, "-m", "nas_gym.cli", "search", "--agent", agent, "--env", env_id,
            "--env-kwargs", json.dumps(env_kwargs), "--budget", str(budget), "--seed", str(seed),
            "--out", str(out), "--no-progress"]


def complete_lines(history: Path) -> int:
    """Number of complete (newline-terminated) lines in ``history``."""
    try:
        return history.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_and_resume(cmd: list[str], out: Path, budget: int, kills: int, rng: np.random.Generator,
                    env: dict | None = None, timeout_s: float = 120.0, jitter_s: float = 0.05) -> list[int]:
    """Start ``cmd``, SIGKILL it at a random point, ``kills`` times; then let it finish.

    Each kill waits for the history to grow by a random number of lines
    (sometimes none, i.e. the kill lands during start-up or replay), short of
    the budget, then for a random 0 to ``jitter_s`` seconds more, so kills
    land mid-evaluation, mid-write and mid-replay alike.

    Returns:
        The complete history lines on disk right after each kill.
    """
    history = out / "history.jsonl"
    at = []
    for k in range(kills):
        before = complete_lines(history)
        # Spread the kills over what is left: on average (budget - before) / (kills left + 1) lines apart.
        target = before + int(rng.integers(0, max(1, 2 * (budget - before) // (kills - k + 1))))
        target = min(target, budget - 1)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and complete_lines(history) < target and time.monotonic() < deadline:
            time.sleep(0.003)
        time.sleep(float(rng.uniform(0, jitter_s)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
        at.append(complete_lines(history))
    done = subprocess.run(cmd, capture_output=True, env=env, timeout=timeout_s)
    assert done.returncode == 0, done.stderr.decode()
    return at


def records(history: Path) -> list[dict]:
    """Parse ``history.jsonl``; every byte must belong to a complete record."""
    data = history.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


def check_exactly_once(out: Path, reference: Path, budget: int) -> None:
    """The killed-and-resumed run equals the uninterrupted one, evaluation by evaluation."""
    got, want = records(out / "history.jsonl"), records(reference / "history.jsonl")
    assert [r["index"] for r in got] == list(range(budget))
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert {k: a.get(k) for k in SAME} == {k: b.get(k) for k in SAME}, f"evaluation {i} differs"
    summary, expected = (json.loads((d / "summary.json").read_text()) for d in (out, reference))
    assert summary["num_evaluated"] == budget
    assert [summary["best"][k] for k in ("arch", "reward")] == [expected["best"][k] for k in ("arch", "reward")]


@pytest.mark.slow
@pytest.mark.parametrize(("agent", "budget"), [("random", 300), ("reinforce", 200), ("evolution", 300),
                                               ("tpe", 60), ("ppo", 80), ("local_search", 100), ("genetic", 100),
                                               ("bananas", 25), ("pnas", 25), ("sb3:DQN", 60)])
def test_sigkill_table_search(agent, budget, tmp_path, nb201_kwargs):
    kill_once_on_a_table(agent, nb201_kwargs, budget, tmp_path)


def kill_once_on_a_table(agent: str, kwargs: dict, budget: int, tmp_path: Path) -> None:
    """One SIGKILL of ``agent``'s search on NAS-Bench-201-v0 (seed 3); the resumed run must match an uninterrupted one.

    One kill each: a resume of a resume is the weight-sharing test's (its cost is process start-ups).
    """
    out, reference = tmp_path / "killed", tmp_path / "reference"
    run_search(agent, "NAS-Bench-201-v0", kwargs, budget=budget, seed=3, out_dir=reference)
    cmd = search_command(agent, "NAS-Bench-201-v0", kwargs, budget, 3, out)
    at = kill_and_resume(cmd, out, budget, kills=1, rng=np.random.default_rng(len(agent)), jitter_s=0.005)
    check_exactly_once(out, reference, budget)
    assert json.loads((out / "summary.json").read_text())["resumed_from"] == at[-1]


@pytest.mark.slow
@pytest.mark.parametrize(("agent", "budget"), [("nsga2", 60), ("mo_evolution", 90)])
def test_sigkill_screened_pareto_search(agent, budget, tmp_path, nb201_table):
    """The Pareto methods with their predictor screen (on by default) resume to the uninterrupted history."""
    kwargs = {"table": nb201_table, "val_column": "c100_valid", "test_column": "c100_test",
              "latency_column": "lat_fpga_ms"}
    kill_once_on_a_table(agent, kwargs, budget, tmp_path)


@pytest.mark.slow
def test_sigkill_training_search(tmp_path):
    """Real training (kills land mid-training), shared cache in a temp dir, three kills."""
    out, reference = tmp_path / "killed", tmp_path / "reference"
    env = {**os.environ, "NAS_GYM_CACHE_DIR": str(tmp_path / "cache")}
    budget = 10
    cmd = search_command("random", "NAS-v0", TINY_TRAINING, budget, 1, out)
    at = kill_and_resume(cmd, out, budget, kills=3, rng=np.random.default_rng(7), env=env)
    # The reference trains everything afresh, in this process, with the cache off.
    run_search("random", "NAS-v0", {**TINY_TRAINING, "cache": False}, budget=budget, seed=1, out_dir=reference)
    check_exactly_once(out, reference, budget)
    assert at == sorted(at)  # nothing on disk was ever lost


@pytest.mark.slow
def test_sigkill_language_model_search(tmp_path):
    """NAS-LM-v0 (transformers trained a fixed number of steps): evolution killed twice, nothing lost or repeated."""
    out, reference = tmp_path / "killed", tmp_path / "reference"
    env = {**os.environ, "NAS_GYM_CACHE_DIR": str(tmp_path / "cache")}
    kwargs = {"space_kwargs": {"depths": [1, 2], "widths": [32]}, "latency": "none",
              "evaluator_kwargs": {"optimizer": "adamw", "steps": 20, "batch_size": 8, "lr": 0.003}}
    budget = 8
    at = kill_and_resume(search_command("evolution", "NAS-LM-v0", kwargs, budget, 2, out), out, budget, kills=2,
                         rng=np.random.default_rng(11), env=env)
    run_search("evolution", "NAS-LM-v0", {**kwargs, "cache": False}, budget=budget, seed=2, out_dir=reference)
    check_exactly_once(out, reference, budget)
    assert [r["val_bpc"] for r in records(out / "history.jsonl")] == [
        r["val_bpc"] for r in records(reference / "history.jsonl")]
    assert at == sorted(at)


def test_replay_trains_nothing_and_shows_the_recorded_rewards(tmp_path, monkeypatch):
    """Resume regularised evolution on measured (noisy) latency with no cache.

    The replay must neither train again nor hand the method fresh latencies:
    tournament selection on re-measured rewards picks other parents, proposes
    other architectures and the resume would stop with a ResumeError.
    """
    kwargs = {"space_kwargs": {"num_layers": 1}, "evaluator_kwargs": {"epochs": 1, "train_fraction": 0.1},
              "cache": False, "latency": "measured", "reward": "linear", "latency_weight": 5.0,
              "latency_kwargs": {"repeats": 3}}
    agent_kwargs = {"population_size": 3, "sample_size": 3}
    full, part = tmp_path / "full", tmp_path / "part"
    run_search("evolution", "NAS-v0", kwargs, budget=14, seed=1, out_dir=full, agent_kwargs=agent_kwargs)
    lines = (full / "history.jsonl").read_bytes().splitlines(keepends=True)
    part.mkdir()
    (part / "run.json").write_bytes((full / "run.json").read_bytes())
    (part / "history.jsonl").write_bytes(b"".join(lines[:6]) + lines[6][:20])  # killed mid-write of line 7

    trained = []
    real = TrainingEvaluator.evaluate

    def counting(self, arch):
        trained.append(str(arch))
        return real(self, arch)

    monkeypatch.setattr(TrainingEvaluator, "evaluate", counting)
    summary = run_search("evolution", "NAS-v0", kwargs, budget=14, seed=1, out_dir=part, agent_kwargs=agent_kwargs)
    assert summary["resumed_from"] == 6 and summary["num_evaluated"] == 14
    assert len(trained) == 8  # only the evaluations the history lacked
    resumed = records(part / "history.jsonl")
    assert resumed[:6] == [json.loads(x) for x in lines[:6]]
    assert [r["index"] for r in resumed] == list(range(14))


def test_a_run_folder_has_one_writer(tmp_path, nb201_kwargs):
    from nas_gym.error import ConfigError
    from nas_gym.search.run import SearchRun

    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=2, out_dir=tmp_path) as first:
        with pytest.raises(ConfigError, match=rf"is in use by another process \(pid {os.getpid()}\).*resume"):
            SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=2, out_dir=tmp_path)
        first.evaluate(first.space.sample(first.rng))
    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=2, out_dir=tmp_path) as again:
        assert again.resumed_from == 1



@pytest.mark.slow
def test_sigkill_multi_fidelity_search_with_an_epochs_budget(tmp_path):
    """``nas-gym search --agent hyperband --budget-epochs``: kills land mid-rung; finished rungs are not retrained."""
    out, reference = tmp_path / "killed", tmp_path / "reference"
    env = {**os.environ, "NAS_GYM_CACHE_DIR": str(tmp_path / "cache")}
    kwargs = {**TINY_TRAINING, "evaluator_kwargs": {"epochs": 3, "train_fraction": 0.3}}
    cmd = [*search_command("hyperband", "NAS-v0", kwargs, 16, 0, out), "--budget-epochs", "16"]
    run_search("hyperband", "NAS-v0", {**kwargs, "cache": False}, budget=Budget(16, epochs=16), seed=0,
               out_dir=reference)
    n = len(records(reference / "history.jsonl"))
    at = kill_and_resume(cmd, out, n, kills=1, rng=np.random.default_rng(3), env=env)
    got, want = records(out / "history.jsonl"), records(reference / "history.jsonl")
    keys = (*SAME, "epochs", "epochs_trained", "learning_curve")
    assert [{k: r.get(k) for k in keys} for r in got] == [{k: r.get(k) for k in keys} for r in want]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs_trained"] >= 16 and summary["resumed_from"] == at[-1]


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["spos"])
def test_sigkill_weight_sharing_search(agent, tmp_path):
    """Shared weights train inside evaluations, which replay does not redo: the saved supernet state must match.

    SPOS switches the supernet's mode after the state is restored (the case that once failed); ENAS's
    kill between state and record is tests/baselines/test_weight_sharing.py's.
    """
    kwargs = {"evaluator": "supernet", "task": "digits", "latency_weight": 0,
              "evaluator_kwargs": {"inline_steps": 2, "pretrain_epochs": 1, "bn_batches": 1}}
    out, reference = tmp_path / "killed", tmp_path / "reference"
    budget = 30
    run_search(agent, "NAS-Bench-201-v0", kwargs, budget=budget, seed=4, out_dir=reference)
    cmd = search_command(agent, "NAS-Bench-201-v0", kwargs, budget, 4, out)
    kill_and_resume(cmd, out, budget, kills=2, rng=np.random.default_rng(len(agent)), jitter_s=0.005)
    check_exactly_once(out, reference, budget)
    got, want = records(out / "history.jsonl"), records(reference / "history.jsonl")
    assert [r["supernet_state"] for r in got] == [r["supernet_state"] for r in want]
    summary, expected = (json.loads((d / "summary.json").read_text()) for d in (out, reference))
    assert summary["result"] == expected["result"]
