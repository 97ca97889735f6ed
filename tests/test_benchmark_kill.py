"""Resume after SIGKILL of ``nas-gym benchmark``: every run folder ends with each evaluation exactly once."""

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
from test_resume_kill import check_exactly_once, complete_lines

from nas_gym.search.searcher import run_search


def benchmark_command(agents: list[str], env_kwargs: dict, seeds: int, budget: int, out: Path) -> list[str]:
    """The ``nas-gym benchmark`` command line (run through this interpreter)."""
    return [sys.executable, "-m", "nas_gym.cli", "benchmark", "--agents", ",".join(agents),
            "--env", "NAS-Bench-201-v0", "--env-kwargs", json.dumps(env_kwargs), "--seeds", str(seeds),
            "--budget", str(budget), "--out", str(out), "--workers", "2", "--no-progress"]


def check_benchmark(out: Path, agents: list[str], seeds: int, budget: int, env_kwargs: dict, tmp_path: Path) -> None:
    """Every run folder of the benchmark equals an uninterrupted ``run_search`` of its agent and seed."""
    for agent in agents:
        for seed in range(seeds):
            reference = tmp_path / "reference" / agent / f"seed{seed}"
            run_search(agent, "NAS-Bench-201-v0", env_kwargs, budget=budget, seed=seed, out_dir=reference)
            check_exactly_once(out / agent / f"seed{seed}", reference, budget)
    assert (out / "summary.md").is_file()


@pytest.mark.slow
def test_sigkill_benchmark_process_group(tmp_path, nb201_kwargs):
    """``nas-gym benchmark`` and its worker processes killed together (as a terminal or job manager does)."""
    agents, seeds, budget = ["random", "evolution"], 2, 300
    out = tmp_path / "bench"
    cmd = benchmark_command(agents, nb201_kwargs, seeds, budget, out)
    rng = np.random.default_rng(11)
    for _ in range(3):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(float(rng.uniform(2.0, 8.0)))  # start-up takes seconds: some kills land there
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    check_benchmark(out, agents, seeds, budget, nb201_kwargs, tmp_path)


@pytest.mark.slow
def test_sigkill_benchmark_parent_only(tmp_path, nb201_kwargs):
    """Only the parent is killed: its orphaned workers finish their runs while the command runs again.

    The run-folder lock keeps the orphans and the new workers from writing one
    history together; a run still held by an orphan fails with a clear error
    and the next invocation completes it, exactly once.
    """
    agents, seeds, budget = ["random"], 2, 1500
    out = tmp_path / "bench"
    cmd = benchmark_command(agents, nb201_kwargs, seeds, budget, out)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while complete_lines(out / "random" / "seed0" / "history.jsonl") < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(20):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            break
        assert "is in use by another process" in done.stderr, done.stderr
        time.sleep(1.0)
    assert done.returncode == 0, done.stderr
    check_benchmark(out, agents, seeds, budget, nb201_kwargs, tmp_path)
