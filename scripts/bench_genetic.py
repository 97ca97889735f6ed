"""Local search, the genetic algorithm and evolution on NAS-Bench-201 tables: quality and evaluations to the optimum.

For each method configuration, ``--seeds`` runs of ``--budget`` evaluations
on ``NAS-Bench-201-v0`` (the embedded MNIST-1D table by default, or
``--dataset cifar100``, the packaged CIFAR table, pure accuracy), and:

- the mean ± 95% CI (Student t) of the test accuracy of each run's
  best-validation architecture, and its validation accuracy;
- the share of runs whose best-validation architecture is the table's
  optimum (its largest validation accuracy; ties count);
- over the runs that reach it, the mean number of evaluations they needed.

A configuration is ``LABEL=AGENT`` or ``LABEL=AGENT:JSON`` (the method's
hyperparameters), e.g. ``ga-nox=genetic:{"crossover_prob":0}``.

Run: ``.venv/bin/python scripts/bench_genetic.py --dataset cifar100 --budget 300``.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import tyro
from jobs import map_jobs  # scripts/jobs.py

from nas_gym.benchmark.statistics import mean_ci
from nas_gym.data import NB201_DATASETS

CIFAR100 = {"val_column": "c100_valid", "test_column": "c100_test", "latency_weight": 0}


@dataclass
class Args:
    configs: list[str] = field(default_factory=lambda: [
        "local_search=local_search", "genetic=genetic", "genetic-nox=genetic:{\"crossover_prob\": 0}",
        "evolution=evolution", "random=random"])
    """Method configurations, LABEL=AGENT or LABEL=AGENT:JSON."""
    dataset: str = "mnist1d"
    """The packaged NAS-Bench-201 table: mnist1d (the embedded one), cifar10 or cifar100."""
    table: Path | None = None
    """Or a NAS-Bench-201 CSV of your own with c100_valid/c100_test columns (instead of --dataset)."""
    seeds: int = 20
    """Runs per configuration (seeds first_seed..first_seed+seeds-1)."""
    first_seed: int = 0
    """The first seed: tune on other seeds than the ones a figure is reported on."""
    budget: int = 100
    """Architectures evaluated per run."""
    workers: int = 1
    """Parallel processes, runs at once (1: one after another in this process)."""


def _env_kwargs(args: Args) -> dict:
    if args.table is not None:
        return {"table": str(args.table), **CIFAR100}
    return {} if args.dataset == "mnist1d" else {"dataset": args.dataset, "latency_weight": 0}


def _one(job: tuple[str, str, dict, dict, int, int]) -> tuple[str, float, float, int | None]:
    """(label, val %, test % of the best-validation arch, evaluations to the table optimum or None)."""
    from nas_gym.search.run import SearchRun
    from nas_gym.search.searcher import load_searcher

    label, agent, hparams, env_kwargs, seed, budget = job
    searcher = load_searcher(agent)(**hparams)
    with SearchRun("NAS-Bench-201-v0", env_kwargs, agent=agent, seed=seed, budget=budget) as run:
        searcher.search(run)
        table = run.parts.table
        optimum = float(table.column(table.roles["val"]).max())
    history = run.history
    best = max(history, key=lambda r: r["val_accuracy"])  # first on ties, as the run's best
    reached = next((r["index"] + 1 for r in history if r["val_accuracy"] >= optimum), None)
    return label, best["val_accuracy"] * 100, best["test_accuracy"] * 100, reached


def parse_config(text: str) -> tuple[str, str, dict]:
    """``LABEL=AGENT[:JSON]`` as (label, agent, hyperparameters)."""
    label, _, spec = text.partition("=")
    agent, _, params = (spec or label).partition(":")
    return label, agent, json.loads(params) if params else {}


def main(args: Args) -> None:
    configs = [parse_config(c) for c in args.configs]
    from nas_gym.search.searcher import load_searcher

    for _, agent, hp in configs:  # a bad configuration fails here, not after the others have run
        load_searcher(agent)(**hp)
    env_kwargs = _env_kwargs(args)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(label, agent, hp, env_kwargs, s, args.budget) for label, agent, hp in configs for s in seeds]
    results: dict[str, list[tuple[float, float, int | None]]] = {label: [] for label, _, _ in configs}
    start = time.perf_counter()
    for label, val, test, reached in map_jobs(_one, jobs, args.workers):
        results[label].append((val, test, reached))
    where = (f"{args.table.name}, CIFAR-100 columns" if args.table is not None
             else NB201_DATASETS[args.dataset].title + " table")
    print(f"NAS-Bench-201-v0 ({where}), budget {args.budget}, {args.seeds} seeds from {args.first_seed}, "
          f"{time.perf_counter() - start:.0f} s in all\n")
    print("| method | test acc. of best-val arch (%) | val acc. (%) | found optimum | evals to optimum (mean) |")
    print("|---|---|---|---|---|")
    for label, rows in results.items():
        m, ci = mean_ci([r[1] for r in rows])
        hits = [r[2] for r in rows if r[2] is not None]
        to_opt = f"{statistics.fmean(hits):.0f}" if hits else "–"
        print(f"| {label} | {m:.2f} ± {ci:.2f} | {statistics.fmean(r[0] for r in rows):.2f} "
              f"| {len(hits)}/{len(rows)} | {to_opt} |")


if __name__ == "__main__":
    main(tyro.cli(Args))
