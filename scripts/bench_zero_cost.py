"""How well zero-cost proxies rank architectures: Spearman ρ with stand-alone accuracy, on both spaces.

1. ``nb201`` on the embedded MNIST-1D table: ``--cells`` cells drawn with
   ``--seed`` (0 = all 15,625), each proxy computed on a batch of MNIST-1D
   (``task="mnist1d"``), against the table's validation accuracy.
2. ``layers`` (``NAS-v0``): the architectures of a run folder of real
   ``NAS-v0`` trainings (``--nas-v0``, by default the collection of
   ``scripts/build_surrogate.py``; its first ``--archs`` evaluations), each
   proxy computed on a batch of digits, against their trained validation
   accuracy.

Also the median milliseconds per score. Proxies are computed with
``evaluator="zero_cost"`` through ``NASEnv.score``, exactly as a search sees
them; ``-inf`` scores (no activation, a singular kernel) rank lowest.

Run: ``.venv/bin/python scripts/bench_zero_cost.py --cells 1000 --archs 300``.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import tyro

from nas_gym.zero_cost import PROXY_NAMES as PROXIES  # every documented proxy, in the README's order

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    cells: int = 1000
    """NB201 cells of the embedded table to score (0 = all)."""
    archs: int = 300
    """NAS-v0 architectures from the run folder to score (0 = skip that part)."""
    nas_v0: Path = REPO / "runs" / "surrogate_data"
    """Run folder of real NAS-v0 trainings (history.jsonl)."""
    seed: int = 0
    """Seed of the cell sample and of the proxies' initialisation and batch."""
    workers: int = 2
    """Processes."""


def _score(job: tuple[str, dict, str, list[str], int]) -> tuple[str, str, list[float], float]:
    """(space label, proxy, scores, median ms) for one chunk of architectures."""
    import gymnasium as gym

    import nas_gym  # noqa: F401

    label, kwargs, proxy, archs, seed = job
    env = gym.make(kwargs.pop("env_id"), **kwargs, evaluator_kwargs={"proxy": proxy, "seed": seed})
    space = env.unwrapped.space
    scores, times = [], []
    for text in archs:
        evaluation = env.unwrapped.score(space.from_string(text))
        scores.append(evaluation.extra["zero_cost_score"])
        times.append(evaluation.cost_s)
    return label, proxy, scores, statistics.median(times) * 1000


def _spearman(scores: list[float], truth: np.ndarray) -> float:
    from scipy.stats import spearmanr

    finite = np.array([s if math.isfinite(s) else -1e300 for s in scores])  # -inf ranks lowest
    return float(spearmanr(finite, truth)[0])


def main(args: Args) -> None:
    import gymnasium as gym

    import nas_gym  # noqa: F401

    env = gym.make("NAS-Bench-201-v1")
    table = env.unwrapped.parts.table
    rows = np.arange(len(table)) if args.cells == 0 else \
        np.sort(np.random.default_rng(args.seed).permutation(len(table))[: args.cells])
    sets = {"nb201 (embedded MNIST-1D table)": (
        {"env_id": "NAS-Bench-201-v1", "evaluator": "zero_cost", "task": "mnist1d", "latency_weight": 0},
        [str(table.arch_at(int(r))) for r in rows], table.column(table.roles["val"])[rows])}
    history = args.nas_v0 / "history.jsonl"
    if args.archs <= 0:
        pass
    elif history.is_file():
        records = [json.loads(line) for line in history.read_text().splitlines() if line.strip()][: args.archs]
        sets[f"layers (NAS-v0, {history.parent.name})"] = (
            {"env_id": "NAS-v0", "evaluator": "zero_cost", "latency": "none", "cache": False},
            [r["arch"] for r in records], np.array([r["val_accuracy"] for r in records]))
    else:
        print(f"NAS-v0 part skipped: {history} does not exist (run scripts/build_surrogate.py collect)")
    jobs = []
    for label, (kwargs, archs, _) in sets.items():
        chunk = max(1, -(-len(archs) // max(1, args.workers)))
        for proxy in PROXIES:
            jobs += [(label, dict(kwargs), proxy, archs[i:i + chunk], args.seed) for i in range(0, len(archs), chunk)]
    scores: dict[tuple[str, str], list[float]] = {}
    ms: dict[tuple[str, str], list[float]] = {}
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        for label, proxy, chunk_scores, chunk_ms in pool.map(_score, jobs):
            scores.setdefault((label, proxy), []).extend(chunk_scores)
            ms.setdefault((label, proxy), []).append(chunk_ms)
    print(f"{time.perf_counter() - start:.0f} s in all (seed {args.seed})\n")
    for label, (_, archs, truth) in sets.items():
        print(f"### {label}: {len(archs)} architectures, Spearman ρ with validation accuracy\n")
        print("| proxy | Spearman ρ | median ms per score | -inf scores |")
        print("|---|---|---|---|")
        for proxy in PROXIES:
            s = scores[label, proxy]
            print(f"| {proxy} | {_spearman(s, truth):.3f} | {statistics.median(ms[label, proxy]):.1f} "
                  f"| {sum(not math.isfinite(x) for x in s)} |")
        print()


if __name__ == "__main__":
    main(tyro.cli(Args))
