"""How well zero-cost proxies rank architectures: Spearman ρ with stand-alone accuracy, on both spaces.

1. ``nb201`` on the embedded MNIST-1D table: ``--cells`` cells drawn with
   ``--seed`` (0 = all 15,625), each proxy computed on a batch of MNIST-1D
   (``task="mnist1d"``), against the table's validation accuracy.
2. ``layers`` (``NAS-v0``): the architectures of a run folder of real
   ``NAS-v0`` trainings (``--nas-v0``, by default the collection of
   ``scripts/build_surrogate.py``; its first ``--archs`` evaluations), each
   proxy computed on a batch of digits, against their trained validation
   accuracy.
3. With the packaged NAS-Bench-201 CIFAR table (``--cifar``,
   ``nas_gym/data/nb201_cifar.csv.gz``): the same ``nb201`` scores, still computed on
   MNIST-1D, against each cell's CIFAR-100 validation accuracy there. The
   proxies never see CIFAR: this is how far a ranking made on a real
   offline task carries to the benchmark's own dataset.
4. With NAS-Bench-Suite-Zero's released NB201 scores (``--suite-zero``, the
   file ``naslib/data/zc_nasbench201.json`` of NASLib, e.g. ``git show
   a06ba0e9931fcfd4605ddbddb6ed068eb58e58f1:naslib/data/zc_nasbench201.json``
   in a clone of github.com/automl/NASLib; Krishnakumar et al., NeurIPS
   2022): Spearman ρ of each of their proxies with the validation accuracy
   they store, per dataset, printed beside ours. Read as JSON (nothing is
   unpickled); never downloaded here.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro
from jobs import map_jobs  # scripts/jobs.py

from nas_gym.data import NB201_DATASETS
from nas_gym.predictors.zero_cost import PROXY_NAMES as PROXIES  # every documented proxy, in the README's order

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
    """Processes (1: the scoring in this process)."""
    cifar: Path = NB201_DATASETS["cifar100"].path
    """NAS-Bench-201 CSV with arch_str and c100_valid (absent: that comparison is skipped)."""
    suite_zero: Path | None = None
    """NAS-Bench-Suite-Zero's zc_nasbench201.json (None or absent: their values are not printed)."""


#: Our proxy names that NAS-Bench-Suite-Zero spells differently (its others match ours; it has no zico).
SUITE_NAMES = {"naswot": "nwot"}
#: The Suite's datasets as its file names them.
SUITE_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def suite_zero_rhos(path: Path) -> dict[str, dict[str, tuple[float, int]]]:
    """{dataset: {our proxy name: (Spearman ρ, architectures)}} from the Suite's released NB201 scores."""
    from scipy.stats import spearmanr

    data = json.loads(path.read_text())
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for dataset in SUITE_DATASETS:
        records = list(data.get(dataset, {}).values())
        out[dataset] = {}
        for proxy in PROXIES:
            key = SUITE_NAMES.get(proxy, proxy)
            pairs = [(r[key]["score"], r["val_accuracy"]) for r in records if isinstance(r.get(key), dict)]
            if len(pairs) > 2:
                score, acc = zip(*pairs, strict=True)
                out[dataset][proxy] = (float(spearmanr(score, acc)[0]), len(pairs))
    return out


def cifar100_truth(path: Path, arch_strings: list[str]) -> np.ndarray | None:
    """CIFAR-100 validation accuracy of each cell (by its arch_str) in the table at ``path``; None if absent."""
    import csv
    import gzip

    if not path.is_file():
        return None
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as f:
        accuracy = {row["arch_str"]: float(row["c100_valid"]) for row in csv.DictReader(f)}
    return np.array([accuracy[a] for a in arch_strings])


def _score(job: tuple[str, dict, str, list[str], int]) -> tuple[str, str, list[float], float]:
    """(space label, proxy, scores, median ms) for one chunk of architectures."""
    import gymnasium as gym

    import nas_gym  # noqa: F401

    label, kwargs, proxy, archs, seed = job
    kwargs = dict(kwargs)  # the job stays as it was: with one worker it runs in this process
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

    env = gym.make("NAS-Bench-201-Latency-v0")
    table = env.unwrapped.parts.table
    rows = np.arange(len(table)) if args.cells == 0 else \
        np.sort(np.random.default_rng(args.seed).permutation(len(table))[: args.cells])
    sets = {"nb201 (embedded MNIST-1D table)": (
        {"env_id": "NAS-Bench-201-Latency-v0", "evaluator": "zero_cost", "task": "mnist1d", "latency_weight": 0},
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
    for label, proxy, chunk_scores, chunk_ms in map_jobs(_score, jobs, args.workers):
        scores.setdefault((label, proxy), []).extend(chunk_scores)
        ms.setdefault((label, proxy), []).append(chunk_ms)
    print(f"{time.perf_counter() - start:.0f} s in all (seed {args.seed})\n")
    nb201 = next(iter(sets))
    c100 = cifar100_truth(args.cifar, [env.unwrapped.space.to_string(table.arch_at(int(r))) for r in rows])
    if c100 is None:
        print(f"CIFAR-100 comparison skipped: {args.cifar} does not exist\n")
    else:
        label = "nb201, proxies on MNIST-1D, against NAS-Bench-201's CIFAR-100 validation accuracy"
        sets[label] = sets[nb201][0], sets[nb201][1], c100
        for proxy in PROXIES:
            scores[label, proxy], ms[label, proxy] = scores[nb201, proxy], ms[nb201, proxy]
    for label, (_, archs, truth) in sets.items():
        print(f"### {label}: {len(archs)} architectures, Spearman ρ with validation accuracy\n")
        print("| proxy | Spearman ρ | median ms per score | -inf scores |")
        print("|---|---|---|---|")
        for proxy in PROXIES:
            s = scores[label, proxy]
            print(f"| {proxy} | {_spearman(s, truth):.3f} | {statistics.median(ms[label, proxy]):.1f} "
                  f"| {sum(not math.isfinite(x) for x in s)} |")
        print()
    if args.suite_zero is not None and args.suite_zero.is_file():
        rhos = suite_zero_rhos(args.suite_zero)
        print(f"### NAS-Bench-Suite-Zero's released NB201 scores ({args.suite_zero.name}): Spearman ρ with the "
              "validation accuracy it stores\n")
        print("| proxy | " + " | ".join(f"{d} (n)" for d in SUITE_DATASETS) + " |")
        print("|---|" + "---|" * len(SUITE_DATASETS))
        for proxy in PROXIES:
            cells = [f"{rhos[d][proxy][0]:.3f} ({rhos[d][proxy][1]})" if proxy in rhos[d] else "—"
                     for d in SUITE_DATASETS]
            print(f"| {proxy} | " + " | ".join(cells) + " |")
    elif args.suite_zero is not None:
        print(f"NAS-Bench-Suite-Zero part skipped: {args.suite_zero} does not exist")


if __name__ == "__main__":
    main(tyro.cli(Args))
