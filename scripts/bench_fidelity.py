"""Multi-fidelity search against full-fidelity search on NAS-v0, at an equal budget of epochs trained.

Every method runs on ``NAS-v0`` (real training on digits) with a full budget
of ``--max-epochs`` epochs per architecture (``evaluator_kwargs["epochs"]``),
``latency="none"`` (so the reward is the validation accuracy and every run
repeats exactly), and a budget of ``--budget-epochs`` epochs trained
(``Budget(epochs=...)``: a promoted architecture counts only its extra
epochs). ``random`` and ``evolution`` train every architecture fully;
``hyperband``, ``bohb`` (and others named in ``--agents``) train at several
fidelities.

The anytime curve of a run: after each evaluation, x = epochs trained so
far, y = test accuracy of the best-validation architecture among the
*full-fidelity* evaluations so far (a short training's validation accuracy is
not a result). Printed: each method's final value (mean ± 95% CI over
seeds), and the epochs at which its mean curve first reaches regularised
evolution's final mean, as a fraction of the budget (the goal for
Hyperband/BOHB: ≤ 1/3). ``--plot`` draws the mean curves.

Runs share one evaluation cache in ``--out`` (the same architecture at the
same fidelity is trained once however many runs ask; every run still counts
its epochs), and the run folders there make the script resumable.

Run: ``.venv/bin/python scripts/bench_fidelity.py`` (``--help`` for options).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro
from jobs import map_jobs  # scripts/jobs.py

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    agents: list[str] = field(default_factory=lambda: ["hyperband", "bohb", "asha", "random", "evolution"])
    """Search methods (entry-point names); the reference is ``evolution``."""
    seeds: int = 5
    """Runs per method (seeds 0..seeds-1)."""
    max_epochs: int = 9
    """Full budget of one architecture (the largest fidelity)."""
    budget_epochs: int = 450
    """Epochs each run may train (50 full trainings at 9 epochs)."""
    workers: int = 1
    """Runs at once, one process each (1: one after another in this process)."""
    out: Path = REPO / "runs" / "bench_fidelity"
    """Run folders and the shared cache (relative: to the repo)."""
    plot: Path | None = REPO / "scripts" / "results" / "fidelity_anytime.png"
    """Where to draw the mean anytime curves (None: no plot)."""


def env_kwargs(args: Args) -> dict:
    """NAS-v0 at ``max_epochs`` per architecture, no latency (reward = validation accuracy), the shared cache."""
    return {"evaluator_kwargs": {"epochs": args.max_epochs}, "latency": "none",
            "cache": str(args.out / "cache.sqlite")}


def _one(job: tuple[str, int, dict, int, str]) -> tuple[str, int, float]:
    import torch

    torch.set_num_threads(1)
    from nas_gym.search.budget import Budget
    from nas_gym.search.searcher import run_search

    agent, seed, kwargs, budget_epochs, folder = job
    start = time.perf_counter()
    # Evaluations are capped by the epochs (each new one trains at least one).
    run_search(agent, "NAS-v0", kwargs, budget=Budget(budget_epochs, epochs=budget_epochs), seed=seed,
               out_dir=folder)
    return agent, seed, time.perf_counter() - start


def anytime(history: list[dict], max_epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Epochs trained after each evaluation, and the test accuracy of the best full-fidelity validation so far."""
    xs, ys, used, best = [], [], 0, (-math.inf, math.nan)
    for r in history:
        used += r.get("epochs_trained") or 0
        if r.get("epochs") in (None, max_epochs) and r["val_accuracy"] > best[0]:
            best = (r["val_accuracy"], r["test_accuracy"])
        xs.append(used)
        ys.append(best[1])
    return np.asarray(xs), np.asarray(ys, float)


def at(xs: np.ndarray, ys: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The step curve ``(xs, ys)`` read at each point of ``grid`` (NaN before its first full-fidelity result)."""
    idx = np.searchsorted(xs, grid, side="right") - 1
    return np.where(idx >= 0, ys[np.clip(idx, 0, None)], np.nan)


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t interval."""
    from scipy.stats import t

    n = len(values)
    if n < 2:
        return values[0], math.nan
    return statistics.fmean(values), float(t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n))


def main(args: Args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    kwargs = env_kwargs(args)
    jobs = [(a, s, kwargs, args.budget_epochs, str(args.out / f"{a}__{s}")) for a in args.agents
            for s in range(args.seeds)]
    start = time.perf_counter()
    # Seconds per run are printed as they finish, but not tabled: runs share a cache, and a resumed
    # run only replays, so they say little about a method's cost (its epochs are the measure here).
    for agent, seed, s in map_jobs(_one, jobs, args.workers):
        print(f"  {agent} seed {seed}: {s:.0f} s", flush=True)
    grid = np.arange(0, args.budget_epochs + 1)
    curves: dict[str, np.ndarray] = {}
    finals: dict[str, list[float]] = {}
    evaluated: dict[str, list[int]] = {}
    for agent in args.agents:
        rows = []
        for seed in range(args.seeds):
            path = args.out / f"{agent}__{seed}" / "history.jsonl"
            history = [json.loads(line) for line in path.read_text().splitlines()]
            xs, ys = anytime(history, args.max_epochs)
            rows.append(at(xs, ys, grid))
            finals.setdefault(agent, []).append(float(ys[-1]) * 100)
            evaluated.setdefault(agent, []).append(len(history))
        # A mean over every seed: NaN until each has a full-fidelity result.
        curves[agent] = np.mean(np.vstack(rows), axis=0) * 100
    # Full-fidelity references: regularised evolution (the goal's) and random search.
    references = {a: statistics.fmean(finals[a]) for a in ("evolution", "random") if a in finals}
    reference = references.get("evolution")

    print(f"\nNAS-v0, {args.max_epochs} epochs per full training, latency none, budget {args.budget_epochs} epochs "
          f"trained, seeds 0-{args.seeds - 1} ({time.perf_counter() - start:.0f} s):\n")
    header = ["method", "test acc. of best full-fidelity val (%)", "evaluations"]
    header += [f"epochs to {r}'s final mean (fraction of budget)" for r in references]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for agent in args.agents:
        mean, ci = mean_ci(finals[agent])
        cells = [agent, f"{mean:.2f} ± {ci:.2f}", f"{statistics.fmean(evaluated[agent]):.1f}"]
        for value in references.values():
            hit = np.flatnonzero(curves[agent] >= value - 1e-9)
            at_epoch = int(grid[hit[0]]) if hit.size else None
            cells.append("not reached" if at_epoch is None else f"{at_epoch} ({at_epoch / args.budget_epochs:.2f})")
        print("| " + " | ".join(cells) + " |")
    for name, value in references.items():
        print(f"{name}'s final mean: {value:.2f} %", end="; ")
    print(f"the goal: Hyperband/BOHB reach evolution's within {args.budget_epochs // 3} epochs (1/3 of the budget).")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.2))
        for agent, curve in curves.items():
            ax.plot(grid, curve, label=agent)
        if reference is not None:
            ax.axhline(reference, color="grey", ls=":", lw=1, label="evolution's final mean")
            ax.axvline(args.budget_epochs / 3, color="grey", ls="--", lw=1, label="1/3 of the budget")
        ax.set_xlabel("epochs trained")
        ax.set_ylabel("test accuracy of best full-fidelity val arch (%)")
        ax.set_title(f"NAS-v0 anytime curves, mean of {args.seeds} seeds")
        ax.legend(fontsize=8)
        lo = np.nanmin([np.nanpercentile(c, 10) for c in curves.values()])
        ax.set_ylim(lo - 1, 100)
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=120)
        print(f"Plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(tyro.cli(Args)))
