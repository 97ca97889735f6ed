"""Reliability figures: evaluations lost or duplicated by SIGKILL and resume, and fuzz cases that escaped.

1. Kill and resume: a real ``nas-gym search`` subprocess is killed with
   SIGKILL at ``kills`` random points (each a random number of recorded
   evaluations into the run, plus a random 0-50 ms, so kills land during
   start-up, replay, evaluation and history writes), then run to the end with
   the same arguments ("mid-run" counts the kills that landed before the
   search had finished). Its history is compared with an uninterrupted run of the
   same seed: evaluations lost (in the reference, absent from the history),
   duplicated (an index recorded more than once) and different (same index,
   other arch or reward). Goal: 0, 0 and 0.
2. Fuzzing: the property-based targets of ``tests/test_fuzz.py`` (random env
   kwargs, action sequences, corrupted table, ``.npz``, cache and run-folder
   files), ``fuzz_cases`` each; an unexpected exception is anything that is
   not a ``nas_gym`` error. Goal: 0.

Run: ``.venv/bin/python scripts/bench_reliability.py`` (``--help`` for options).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import tyro
from hypothesis import HealthCheck, Phase, given, settings

from nas_gym.data import NB201_DATASETS

REPO = Path(__file__).resolve().parents[1]
TINY_TRAINING = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1, "train_fraction": 0.3},
                 "latency": "none"}


@dataclass
class Args:
    table: Path = NB201_DATASETS["cifar100"].path
    """NAS-Bench-201 CSV for the table env (and the fuzz targets that need a real table)."""
    env: Literal["table", "training"] = "table"
    """Search on NAS-Bench-201-v0 (table lookups) or NAS-v0 (real training, 2 layers, 1 epoch)."""
    agents: tuple[str, ...] = ("reinforce", "evolution")
    """Search methods to kill and resume, one run each."""
    budget: int = 300
    """Architectures per search."""
    kills: int = 10
    """SIGKILLs per search before it is let finish."""
    seed: int = 0
    """Seed of the searches and of the kill points."""
    workers: int = 1
    """``--workers`` of the killed searches and of their references (2: parallel evaluation is killed too)."""
    fuzz_cases: int = 200
    """Hypothesis examples per fuzz target (0 skips fuzzing)."""


def _load(name: str):
    """Import a module of ``tests/`` by path (the kill driver and the fuzz targets live there)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(history: Path, reference: Path) -> dict[str, int]:
    """Lost, duplicated and differing evaluations of ``history`` against ``reference``."""
    got = [json.loads(line) for line in history.read_text().splitlines()]
    want = {r["index"]: r for r in (json.loads(line) for line in reference.read_text().splitlines())}
    counts = Counter(r["index"] for r in got)
    first = {}
    for r in got:
        first.setdefault(r["index"], r)
    return {
        "lines": len(got),
        "lost": sum(i not in counts for i in want),
        "duplicated": sum(n - 1 for n in counts.values()),
        "different": sum(i in first and (first[i]["arch"], first[i]["reward"]) != (r["arch"], r["reward"])
                         for i, r in want.items()),
    }


def kill_and_resume(args: Args, workdir: Path) -> tuple[int, int, int]:
    """Section 1; return total lost, duplicated and different evaluations."""
    from nas_gym.search.searcher import run_search

    kill = _load("test_resume_kill")
    if args.env == "table":
        env_id = "NAS-Bench-201-v0"
        env_kwargs = {"table": str(args.table), "val_column": "c100_valid", "test_column": "c100_test",
                      "latency_weight": 0}
    else:
        env_id, env_kwargs = "NAS-v0", TINY_TRAINING
    totals = Counter()
    print(f"== Kill and resume: {env_id}, budget {args.budget}, {args.kills} SIGKILLs per search, "
          f"--workers {args.workers} ==")
    print(f"{'agent':10s} {'mid-run':>7s} {'kills at (lines on disk)':44s} {'lines':>6s} {'lost':>5s} {'dup':>4s} "
          f"{'diff':>5s} {'best equal':>10s} {'s':>6s}")
    for n, agent in enumerate(args.agents):
        out, reference = workdir / f"{agent}-killed", workdir / f"{agent}-reference"
        start = time.perf_counter()
        cmd = [*kill.search_command(agent, env_id, env_kwargs, args.budget, args.seed, out),
               "--workers", str(args.workers)]
        # A cache per method, so no method finds another's trainings already done.
        env = {**os.environ, "NAS_GYM_CACHE_DIR": str(workdir / f"{agent}-cache")}
        at = kill.kill_and_resume(cmd, out, args.budget, args.kills, np.random.default_rng([args.seed, n]), env=env,
                                  timeout_s=600, jitter_s=0.005 if args.env == "table" else 0.05)
        wall = time.perf_counter() - start
        run_search(agent, env_id, {**env_kwargs, "cache": False} if args.env == "training" else env_kwargs,
                   budget=args.budget, seed=args.seed, out_dir=reference, workers=args.workers)
        figures = compare(out / "history.jsonl", reference / "history.jsonl")
        best, expected = (json.loads((d / "summary.json").read_text())["best"] for d in (out, reference))
        same_best = (best["arch"], best["reward"]) == (expected["arch"], expected["reward"])
        totals.update({k: figures[k] for k in ("lost", "duplicated", "different")})
        mid_run = sum(n < args.budget for n in at)
        totals["kills"] += len(at)
        totals["mid_run"] += mid_run
        print(f"{agent:10s} {mid_run:7d} {str(at):44s} {figures['lines']:6d} {figures['lost']:5d} "
              f"{figures['duplicated']:4d} {figures['different']:5d} {str(same_best):>10s} {wall:6.1f}")
    print(f"SIGKILLs: {totals['kills']} ({totals['mid_run']} before the search finished)")
    print(f"Evaluations lost: {totals['lost']}   duplicated: {totals['duplicated']}   "
          f"different from the uninterrupted run: {totals['different']}   (goal: 0, 0, 0)")
    return totals["lost"], totals["duplicated"], totals["different"]


def run_target(strategy, target, examples: int) -> tuple[int, list[tuple[object, Exception]]]:
    """Run up to ``examples`` hypothesis cases of one fuzz target; return cases run and what escaped."""
    ran, unexpected = 0, []

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def case(example):
        nonlocal ran
        ran += 1
        try:
            target(example)
        except Exception as e:  # counted, not raised: the figure is how many escaped
            unexpected.append((example, e))

    case()
    return ran, unexpected


def fuzz(args: Args) -> tuple[int, int]:
    """Section 2; return cases run and unexpected exceptions."""
    targets = _load("test_fuzz").TARGETS
    needs_table = {"env_kwargs", "actions", "table_file", "run_folder"}
    print(f"\n== Fuzzing: up to {args.fuzz_cases} cases per target; only nas_gym errors are allowed ==")
    total_cases = total_unexpected = 0
    for name, (strategy, target) in targets.items():
        if name in needs_table and not args.table.is_file():
            print(f"{name:12s} skipped ({args.table} is absent)")
            continue
        start = time.perf_counter()
        ran, unexpected = run_target(strategy, target, args.fuzz_cases)
        total_cases += ran
        total_unexpected += len(unexpected)
        print(f"{name:12s} {ran:5d} cases  {len(unexpected):3d} unexpected  {time.perf_counter() - start:6.1f} s")
        for example, e in unexpected[:3]:
            print(f"    {type(e).__name__}: {e}  <- {example!r:.200}")
    print(f"Fuzz cases run: {total_cases}   unexpected exceptions: {total_unexpected}   (goal: 0)")
    return total_cases, total_unexpected


def main(args: Args) -> int:
    with tempfile.TemporaryDirectory(prefix="nas_gym_reliability_") as folder:
        # Searches and fuzz targets use a scratch cache, never the user's.
        os.environ["NAS_GYM_CACHE_DIR"] = str(Path(folder) / "cache")
        print(f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        lost, duplicated, different = kill_and_resume(args, Path(folder)) if args.kills else (0, 0, 0)
        _, unexpected = fuzz(args) if args.fuzz_cases else (0, 0)
    return int(bool(lost or duplicated or different or unexpected))


if __name__ == "__main__":
    sys.exit(main(tyro.cli(Args)))
