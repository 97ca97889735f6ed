"""Parallel-evaluation figures, printed from one run.

1. Evaluations per second on default ``NAS-v0`` (real training, cache off)
   with 1 and 2 local workers, the same random architectures, workers
   started before the clock starts; and their ratio. Goal ≥ 1.8 on 2 cores.
2. End to end: wall seconds of ``nas-gym search --agent evolution --env NAS-v0
   --budget 8`` with ``--workers 1`` and ``--workers 2`` (Python start-up,
   imports and exit included, about 2 s either way), the search's own wall
   seconds from ``summary.json`` (medians of ``cli_repeats`` runs each), and
   whether the two histories hold the same architectures.
3. Ray's overhead per evaluation against in-process evaluation, on the
   table env (lookups take microseconds, so the difference is overhead),
   with a Ray instance started here (``ray.init(num_cpus=2)``): one
   evaluation at a time (round trip), and ``workers`` at a time. Goal ≤ 50 ms.

The figures are only meaningful on a quiet machine: other jobs on the cores
change the ratio more than anything measured here.

Run: ``.venv/bin/python scripts/bench_parallel.py`` (``--help`` for options).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.data import NB201_DATASETS
from nas_gym.search.run import SearchRun

REPO = Path(__file__).resolve().parents[1]
NAS_CLI = Path(sys.executable).with_name("nas-gym")


@dataclass
class Args:
    table: Path = NB201_DATASETS["cifar100"].path
    """NAS-Bench-201 CSV (arch_str, c100_valid, ...) for the Ray overhead."""
    evaluations: int = 16
    """Architectures per throughput measurement on NAS-v0."""
    cli_budget: int = 8
    """Budget of the end-to-end ``nas-gym search`` comparison (0 skips it)."""
    cli_repeats: int = 3
    """Runs of each end-to-end command; medians are printed."""
    ray_evaluations: int = 200
    """Table lookups per Ray overhead measurement (0 skips Ray)."""
    workers: int = 2
    """Workers of the parallel measurements."""
    seed: int = 0
    """Seed of the sampled architectures."""


def evaluations_per_s(env_id: str, env_kwargs: dict, archs: list, workers: int, backend: str = "local") -> float:
    """Evaluations per second of ``archs`` through one run, workers started before timing."""
    with SearchRun(env_id, env_kwargs, budget=len(archs), workers=workers, backend=backend) as run:
        run.wait_for_workers()
        start = time.perf_counter()
        if workers == 1:
            for arch in archs:  # one at a time: a round trip per evaluation
                run.evaluate(arch)
        else:
            run.evaluate_many(archs)
        return len(archs) / (time.perf_counter() - start)


def sample(env_id: str, env_kwargs: dict, n: int, seed: int) -> list[str]:
    """``n`` random architectures (strings) of the env's space."""
    with SearchRun(env_id, env_kwargs, budget=1) as run:
        rng = np.random.default_rng(seed)
        return [str(run.space.sample(rng)) for _ in range(n)]


def cli_search(budget: int, workers: int, out: Path) -> tuple[float, float, list[str]]:
    """``nas-gym search --agent evolution`` on default NAS-v0 (cache off).

    Returns the command's wall seconds (Python start, imports, the search and
    exit), the search's own wall seconds (``summary.json``), and its archs.
    """
    cmd = [
        str(NAS_CLI), "search", "--agent", "evolution", "--env", "NAS-v0", "--env-kwargs", '{"cache": false}',
        "--budget", str(budget), "--seed", "0", "--workers", str(workers), "--out", str(out), "--no-progress",
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    search_s = json.loads((out / "summary.json").read_text())["wall_s"]
    return wall, search_s, [json.loads(line)["arch"] for line in (out / "history.jsonl").read_text().splitlines()]


def main(args: Args) -> None:
    nas_kwargs = {"cache": False}
    archs = sample("NAS-v0", nas_kwargs, args.evaluations, args.seed)
    one = evaluations_per_s("NAS-v0", nas_kwargs, archs, 1)
    many = evaluations_per_s("NAS-v0", nas_kwargs, archs, args.workers)
    print(f"1. default NAS-v0, {args.evaluations} evaluations: {one:.2f}/s with 1 worker, "
          f"{many:.2f}/s with {args.workers}; ratio {many / one:.2f} (goal ≥ 1.8)")

    if args.cli_budget:
        runs: dict[int, list[tuple[float, float, list[str]]]] = {1: [], args.workers: []}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.cli_repeats):  # alternated, so drifting load hits both alike
                for w in runs:
                    runs[w].append(cli_search(args.cli_budget, w, Path(tmp) / f"w{w}_{r}"))
        wall_1, search_1 = (float(np.median([run[i] for run in runs[1]])) for i in (0, 1))
        wall_n, search_n = (float(np.median([run[i] for run in runs[args.workers]])) for i in (0, 1))
        archs_1, archs_n = runs[1][0][2], runs[args.workers][0][2]
        print(f"2. nas-gym search --agent evolution --budget {args.cli_budget}, median of {args.cli_repeats}: "
              f"{wall_1:.1f} s with --workers 1, "
              f"{wall_n:.1f} s with --workers {args.workers} (ratio {wall_1 / wall_n:.2f}); the search itself "
              f"{search_1:.1f} s vs {search_n:.1f} s (ratio {search_1 / search_n:.2f}); "
              f"same architectures: {archs_1 == archs_n}")

    if args.ray_evaluations:
        table = {"table": str(args.table), "val_column": "c100_valid", "test_column": "c100_test",
                 "latency_weight": 0}
        lookups = sample("NAS-Bench-201-v0", table, args.ray_evaluations, args.seed)
        local = evaluations_per_s("NAS-Bench-201-v0", table, lookups, 1)
        ray_one = evaluations_per_s("NAS-Bench-201-v0", table, lookups, 1, backend="ray")
        ray_many = evaluations_per_s("NAS-Bench-201-v0", table, lookups, args.workers, backend="ray")
        per_eval_ms = (1 / ray_one - 1 / local) * 1e3
        pipelined_ms = (1 / ray_many - 1 / local) * 1e3
        print(f"3. Ray overhead per evaluation (table env, local Ray): {per_eval_ms:.1f} ms one at a time, "
              f"{pipelined_ms:.1f} ms with {args.workers} in flight (goal ≤ 50 ms; in-process "
              f"{1e3 / local:.3f} ms per evaluation)")


if __name__ == "__main__":
    main(tyro.cli(Args))
