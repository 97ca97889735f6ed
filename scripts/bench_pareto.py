"""Pareto search methods on NAS-Bench-201 (CIFAR-100, FPGA latency): hypervolume of what each run evaluated.

For each method: ``--seeds`` runs of ``--budget`` evaluations on
``NAS-Bench-201-v0`` with the packaged CIFAR table (validation column
``c100_valid``, test ``c100_test``, latency ``lat_fpga_ms``), and for each
run the hypervolume of its evaluated set (maximise validation accuracy,
minimise latency) as a fraction of the true front's, over the whole table.
The reference point is the table's median validation accuracy and
90th-percentile latency (``NASEnv.hypervolume_reference``). Prints the mean
± 95% CI (Student t) per method and the seconds per run, as a markdown
table.

Run: ``.venv/bin/python scripts/bench_pareto.py`` (``--help`` for options).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro
from jobs import map_jobs  # scripts/jobs.py

from nas_gym.data import NB201_DATASETS

REPO = Path(__file__).resolve().parents[1]
#: v0, not v1: the benchmark's setting is pinned (v1 changes the embedded table's defaults, not this table's).
ENV_ID = "NAS-Bench-201-v0"


def _quiet() -> None:
    """Silence Gymnasium's note that a newer version of the env exists (the version is chosen here)."""
    import gymnasium  # noqa: F401  (first: importing it puts its own filter in front)

    warnings.filterwarnings("ignore", message=".*is out of date.*")


@dataclass
class Args:
    table: Path = NB201_DATASETS["cifar100"].path
    """NAS-Bench-201 CSV with arch_str, c100_valid, c100_test and lat_fpga_ms columns (relative: to the repo)."""
    agents: list[str] = field(
        default_factory=lambda: ["nsga2", "mo_evolution", "random", "mo_reinforce", "mo_ppo"]
    )
    """Search methods (entry-point names); one declared but not importable is skipped with a note."""
    seeds: int = 10
    """Runs per method (seeds first_seed..first_seed+seeds-1)."""
    first_seed: int = 0
    """First seed: tune on seeds away from the reported 0-9."""
    agent_kwargs: str = "{}"
    """JSON object of hyperparameters given to every method (e.g. '{"screen_size": 10}')."""
    budget: int = 300
    """Architectures evaluated per run."""
    workers: int = 2
    """Parallel processes, one run each (1: one after another in this process)."""
    levels: bool = False
    """Also print how hard the goal is: the hypervolume fraction of a front made of the k-th best cell
    (by validation accuracy) of every latency level of the table, for a few k."""


def env_kwargs(table: Path) -> dict:
    """The env arguments of the benchmark: CIFAR-100 accuracy and FPGA latency from ``table``."""
    return {"table": str(table), "val_column": "c100_valid", "test_column": "c100_test",
            "latency_column": "lat_fpga_ms"}


def reference(table: Path) -> tuple[float, float, float]:
    """(reference latency, reference accuracy, hypervolume of the table's true front) for ``table``."""
    import gymnasium as gym

    import nas_gym  # noqa: F401  (registers the envs)
    from nas_gym.multi_objective.pareto import hypervolume

    _quiet()
    env = gym.make(ENV_ID, **env_kwargs(table))
    try:
        ref = env.unwrapped.hypervolume_reference()
        front = env.unwrapped.pareto_front(objectives=["val_accuracy", "latency_ms"])  # signed: accuracy, -latency
    finally:
        env.close()
    ref_lat, ref_acc = ref["latency_ms"], ref["val_accuracy"]
    return ref_lat, ref_acc, hypervolume(-front[:, 1], front[:, 0], ref_lat, ref_acc)


def level_fronts(table: Path, ks: tuple[int, ...] = (1, 2, 3, 5, 10)) -> tuple[int, dict[int, float]]:
    """(latency levels, {k: hypervolume fraction of the front of each level's k-th best cell}) for ``table``.

    On this table FPGA latency is a function of a cell's operation counts, so
    many cells share each latency; a search's front reaches the true one only
    if it finds the single best cell of each level on it.
    """
    import gymnasium as gym

    import nas_gym  # noqa: F401  (registers the envs)
    from nas_gym.multi_objective.pareto import hypervolume

    _quiet()
    env = gym.make(ENV_ID, **env_kwargs(table))
    try:
        tab, ref = env.unwrapped.parts.table, env.unwrapped.hypervolume_reference()
        lat, acc = tab.column(tab.roles["latency"]), tab.column(tab.roles["val"])
    finally:
        env.close()
    levels = np.unique(lat)
    ranked = [np.sort(acc[lat == level])[::-1] for level in levels]
    hv = {k: hypervolume(levels, np.array([r[min(k, len(r)) - 1] for r in ranked]), ref["latency_ms"],
                         ref["val_accuracy"]) for k in ks}
    return len(levels), {k: v / hv[1] for k, v in hv.items()}


def _one(job: tuple[str, str, int, int, dict]) -> tuple[str, int, list[float], list[float], float]:
    import torch

    torch.set_num_threads(1)
    _quiet()
    from nas_gym.search.run import SearchRun
    from nas_gym.search.searcher import load_searcher

    agent, table, seed, budget, hparams = job
    start = time.perf_counter()
    searcher = load_searcher(agent)(**hparams)
    with SearchRun(ENV_ID, env_kwargs(Path(table)), agent=agent, seed=seed, budget=budget,
                   hparams=searcher.hparams()) as run:
        searcher.search(run)
        history = run.history
    lat = [r["latency_ms"] for r in history]
    acc = [r["val_accuracy"] for r in history]
    return agent, seed, lat, acc, time.perf_counter() - start


def available(agents: list[str]) -> list[str]:
    """``agents`` less those declared as entry points but not importable (noted on stderr).

    Raises:
        ConfigError: An agent that no entry point declares.
    """
    from nas_gym.search.searcher import load_searcher

    found = []
    for agent in agents:
        try:
            load_searcher(agent)
        except (ImportError, AttributeError) as err:
            print(f"skipping {agent}: its entry point does not load ({err})", file=sys.stderr)
            continue
        found.append(agent)
    return found


def main(args: Args) -> int:
    table = args.table if args.table.is_absolute() else (REPO / args.table)
    if not table.is_file():
        print(f"{table} is absent: nothing to benchmark.")
        return 0
    from nas_gym.benchmark import mean_ci
    from nas_gym.multi_objective.pareto import hypervolume

    agents = available(args.agents)
    ref_lat, ref_acc, front_hv = reference(table)
    hparams = json.loads(args.agent_kwargs)
    from nas_gym.search.searcher import load_searcher

    for agent in agents:  # a bad hyperparameter stops the script before any run
        load_searcher(agent)(**hparams)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(a, str(table), s, args.budget, hparams) for a in agents for s in seeds]
    fractions: dict[str, list[float]] = {a: [] for a in agents}
    seconds: dict[str, list[float]] = {a: [] for a in agents}
    start = time.perf_counter()
    for agent, _seed, lat, acc, secs in map_jobs(_one, jobs, args.workers):
        fractions[agent].append(hypervolume(lat, acc, ref_lat, ref_acc) / front_hv)
        seconds[agent].append(secs)
    print(f"{ENV_ID}, CIFAR-100 validation accuracy vs FPGA latency (lat_fpga_ms), budget {args.budget}, "
          f"seeds {seeds.start}-{seeds.stop - 1}, {time.perf_counter() - start:.0f} s in all")
    print(f"reference point: accuracy {ref_acc:.4f} (table median), latency {ref_lat:.4f} ms (90th percentile); "
          f"true front hypervolume {front_hv:.6f}\n")
    print("| method | hypervolume fraction (mean ± 95% CI) | min | s/run |")
    print("|---|---|---|---|")
    for agent in agents:
        m, ci = mean_ci(fractions[agent])
        print(f"| {agent} | {m:.4f} ± {ci:.4f} | {min(fractions[agent]):.4f} | "
              f"{statistics.fmean(seconds[agent]):.2f} |")
    if args.levels:
        count, fractions_k = level_fronts(table)
        print(f"\n{count} latency levels; hypervolume fraction of the front of each level's k-th best cell:\n")
        print("| k | " + " | ".join(map(str, fractions_k)) + " |")
        print("|---|" + "---|" * len(fractions_k))
        print("| fraction | " + " | ".join(f"{v:.4f}" for v in fractions_k.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(tyro.cli(Args)))
