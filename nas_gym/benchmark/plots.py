"""Benchmark figures: best-so-far curves and Pareto fronts, drawn with matplotlib's Agg backend.

The functions take plain arrays, so they draw anything shaped like a
benchmark; :mod:`nas_gym.benchmark` feeds them. Accuracies are fractions on
input and shown in %.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib
import numpy as np

# Agg draws to files only: benchmarks run on headless machines and in workers.
# The backend must be chosen before pyplot is imported.
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Curve = tuple[np.ndarray, np.ndarray]


def _colors(names) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def plot_curves(
    curves: Mapping[str, Curve],
    path: str | os.PathLike,
    *,
    title: str = "",
    optimum: float | None = None,
    xlabel: str = "architectures evaluated",
) -> None:
    """Best-so-far reward against architectures evaluated (or ``xlabel``): mean line and CI band per method.

    Args:
        curves: Method name -> (mean, CI half-width) per number of evaluations
            (NaN half-widths, e.g. from a single seed, draw no band).
        path: PNG file to write.
        title: Figure title (the suffix "mean ± 95 % CI" is added).
        optimum: Best reward the table holds, drawn as a dashed line.
        xlabel: What the curves' index counts (e.g. "epochs trained").
    """
    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=120)
    colors = _colors(curves)
    lows, highs = [], [] if optimum is None else [optimum]
    for name, (mean, ci) in curves.items():
        x = np.arange(1, len(mean) + 1)
        ax.plot(x, mean, color=colors[name], label=name, linewidth=1.6)
        band = np.nan_to_num(ci, nan=0.0)
        ax.fill_between(x, mean - band, mean + band, color=colors[name], alpha=0.2, linewidth=0)
        # The first few evaluations span most of the reward range; the comparison is in the rest.
        # nan-aware: a curve over epochs is NaN until the run's first full-fidelity result.
        lows.append(np.nanmin((mean - band)[len(mean) // 10:]))
        highs.append(np.nanmax(mean + band))
    if optimum is not None:
        ax.axhline(optimum, color="black", linestyle="--", linewidth=1, label=f"table optimum ({optimum:.4f})")
    if lows:
        lo, hi = min(lows), max(highs)
        pad = 0.05 * (hi - lo) or 0.01
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("best reward so far")
    ax.set_title(f"{title}: best-so-far reward, mean ± 95 % CI" if title else "best-so-far reward, mean ± 95 % CI")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _step(latency_ms: np.ndarray, accuracy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of a front drawn as the staircase it dominates (points sorted by latency)."""
    order = np.argsort(latency_ms)
    return latency_ms[order], accuracy[order]


def plot_pareto(
    points: Mapping[str, Curve],
    fronts: Mapping[str, Curve],
    path: str | os.PathLike,
    *,
    title: str = "",
    reference_front: Curve | None = None,
    reference_label: str = "true front",
    background: Curve | None = None,
) -> None:
    """Validation accuracy against latency: evaluated architectures and non-dominated sets.

    Args:
        points: Method name -> (latency_ms, val_accuracy) of every architecture it evaluated.
        fronts: Method name -> (latency_ms, val_accuracy) of its non-dominated set.
        path: PNG file to write.
        title: Figure title.
        reference_front: (latency_ms, val_accuracy) of the reference (true) front.
        reference_label: Legend label of the reference front.
        background: (latency_ms, val_accuracy) of every architecture in the table, drawn faintly.
    """
    fig, ax = plt.subplots(figsize=(9, 5), dpi=120)
    colors = _colors(points)
    if background is not None:
        ax.scatter(background[0], 100 * np.asarray(background[1]), s=2, color="0.85", label="all table architectures",
                   rasterized=True)
    for name, (lat, acc) in points.items():
        ax.scatter(lat, 100 * np.asarray(acc), s=8, color=colors[name], alpha=0.35, label=f"{name}: evaluated")
    for name, (lat, acc) in fronts.items():
        x, y = _step(np.asarray(lat), np.asarray(acc))
        ax.step(x, 100 * y, where="post", color=colors.get(name, "gray"), linewidth=1.8, marker="o", markersize=3,
                label=f"{name}: non-dominated")
    if reference_front is not None:
        x, y = _step(np.asarray(reference_front[0]), np.asarray(reference_front[1]))
        ax.step(x, 100 * y, where="post", color="black", linestyle="--", linewidth=1.4, label=reference_label)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{title}: Pareto fronts" if title else "Pareto fronts")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
