"""Search methods on NAS-Bench-201 (CIFAR-100), the NB201 paper's protocol at a fixed budget.

For each method: ``--seeds`` runs of ``--budget`` evaluated architectures on
``NAS-Bench-201-v0`` (validation column ``c100_valid``, test ``c100_test``,
``latency_weight=0``), and the mean ± 95% CI (Student t) of the test accuracy
of each run's best-validation architecture. Prints a markdown table.

Run: ``.venv/bin/python scripts/bench_nb201.py`` (``--help`` for options).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import tyro
from jobs import map_jobs  # scripts/jobs.py

from nas_gym.data import NB201_DATASETS

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    table: Path = NB201_DATASETS["cifar100"].path
    """NAS-Bench-201 CSV with arch_str, c100_valid and c100_test columns."""
    agents: list[str] = field(default_factory=lambda: ["random", "evolution", "reinforce", "ppo", "tpe", "grid"])
    """Search methods (entry-point names)."""
    seeds: int = 20
    """Runs per method (seeds 0..seeds-1)."""
    budget: int = 100
    """Architectures evaluated per run."""
    workers: int = 2
    """Parallel processes (1: the runs one after another in this process)."""


def _one(job: tuple[str, str, int, int]) -> tuple[str, int, float, float, float]:
    from nas_gym.search.searcher import run_search
    from nas_gym.utils.threads import one_torch_thread

    one_torch_thread()  # a table run of random search or evolution never loads torch

    agent, table, seed, budget = job
    kwargs = {"table": table, "val_column": "c100_valid", "test_column": "c100_test", "latency_weight": 0}
    start = time.perf_counter()
    summary = run_search(agent, "NAS-Bench-201-v0", kwargs, budget=budget, seed=seed)
    best = summary["best"]  # reward = validation accuracy here, so this is the best-validation arch
    return agent, seed, best["val_accuracy"] * 100, best["test_accuracy"] * 100, time.perf_counter() - start


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t interval."""
    from scipy.stats import t

    n = len(values)
    if n < 2:
        return values[0], math.nan
    return statistics.fmean(values), t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)


def main(args: Args) -> None:
    jobs = [(a, str(args.table), s, args.budget) for a in args.agents for s in range(args.seeds)]
    results: dict[str, list[tuple[float, float, float]]] = {a: [] for a in args.agents}
    start = time.perf_counter()
    for agent, _seed, val, test, secs in map_jobs(_one, jobs, args.workers):
        results[agent].append((val, test, secs))
    print(f"NAS-Bench-201-v0, CIFAR-100 (c100_valid -> c100_test), budget {args.budget}, {args.seeds} seeds, "
          f"{time.perf_counter() - start:.0f} s in all\n")
    print("| method | test acc. of best-val arch (%) | val acc. (%) | s/run |")
    print("|---|---|---|---|")
    for agent, rows in results.items():
        m, ci = mean_ci([r[1] for r in rows])
        print(f"| {agent} | {m:.2f} ± {ci:.2f} | {statistics.fmean(r[0] for r in rows):.2f} "
              f"| {statistics.fmean(r[2] for r in rows):.2f} |")


if __name__ == "__main__":
    main(tyro.cli(Args))
