"""Benchmark figures: best-so-far curves and Pareto fronts, drawn with matplotlib's Agg backend.

The functions take plain arrays, so they draw anything shaped like a
benchmark; :mod:`nas_gym.benchmark.report` feeds them. Each returns its
figure (closed, but its axes can still be read) and writes it where a path
is given. Accuracies are fractions on input, shown in % unless they are R².
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
from matplotlib.figure import Figure  # noqa: E402

#: (x, y) points of one method.
Points = tuple[np.ndarray, np.ndarray]
#: One method's curve: mean, and the low and high ends of its band, per number of evaluations.
Band = tuple[np.ndarray, np.ndarray, np.ndarray]


def _colors(names) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def _titles(fig: Figure, ax, title: str, what: str, subtitle: str) -> None:
    """The title (the env's dataset) in large print; under it what the plot shows and what was run."""
    if title:
        fig.suptitle(title, fontsize=12)
    ax.set_title("\n".join(line for line in (what, subtitle) if line), fontsize=9, color="0.25")


def _finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        fig.savefig(path)
    plt.close(fig)  # out of pyplot's registry; the Figure and its axes stay readable
    return fig


def plot_curves(
    curves: Mapping[str, Band],
    path: str | os.PathLike | None = None,
    *,
    title: str = "",
    subtitle: str = "",
    optimum: float | None = None,
    xlabel: str = "architectures evaluated",
    band_label: str = "95 % CI",
) -> Figure:
    """Best-so-far reward against architectures evaluated (or ``xlabel``): mean line and band per method.

    The y-axis spans every value drawn, the first evaluations and the bands
    included, so no curve is cut; bands come clipped to what the reward can
    be (:func:`nas_gym.benchmark.statistics.clipped_interval`).

    Args:
        curves: Method name -> (mean, band low, band high) per number of evaluations
            (NaN ends, e.g. from a single seed, draw no band; NaN means, e.g. before a
            run's first full-fidelity result, draw nothing).
        path: PNG file to write, or None for none.
        title: Figure title, e.g. the env's dataset ("NAS-Bench-201 · CIFAR-100").
        subtitle: Smaller line under it, e.g. the env id, budget and seeds.
        optimum: Best reward the table holds, drawn as a dashed line.
        xlabel: What the curves' index counts (e.g. "epochs trained").
        band_label: What the bands are, named in the title.

    Returns:
        The figure.
    """
    fig, ax = plt.subplots(figsize=(8.5, 4.8), dpi=120, layout="constrained")
    colors = _colors(curves)
    drawn = [] if optimum is None else [np.array([optimum])]
    for name, (mean, low, high) in curves.items():
        mean = np.asarray(mean, dtype=float)
        x = np.arange(1, len(mean) + 1)
        ax.plot(x, mean, color=colors[name], label=name, linewidth=1.6)
        low = np.where(np.isnan(low), mean, low)
        high = np.where(np.isnan(high), mean, high)
        ax.fill_between(x, low, high, color=colors[name], alpha=0.2, linewidth=0)
        drawn += [mean, low, high]
    if optimum is not None:
        ax.axhline(optimum, color="black", linestyle="--", linewidth=1, label=f"table optimum ({optimum:.4f})")
    values = np.concatenate(drawn) if drawn else np.empty(0)
    values = values[np.isfinite(values)]
    if len(values):
        lo, hi = float(values.min()), float(values.max())
        pad = 0.05 * (hi - lo) or 0.01
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("best reward so far")
    _titles(fig, ax, title, f"best-so-far reward: mean and {band_label}", subtitle)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return _finish(fig, path)


def _step(latency_ms: np.ndarray, accuracy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of a front drawn as the staircase it dominates (points sorted by latency)."""
    order = np.argsort(latency_ms)
    return latency_ms[order], accuracy[order]


def plot_pareto(
    points: Mapping[str, Points],
    fronts: Mapping[str, Points],
    path: str | os.PathLike | None = None,
    *,
    title: str = "",
    subtitle: str = "",
    reference_front: Points | None = None,
    reference_label: str = "true front",
    background: Points | None = None,
    regression: bool = False,
    seeds: Mapping[str, int] | None = None,
) -> Figure:
    """Validation accuracy (or R²) against latency: evaluated architectures and non-dominated sets.

    Args:
        points: Method name -> (latency_ms, val_accuracy) of every architecture it evaluated.
        fronts: Method name -> (latency_ms, val_accuracy) of its non-dominated set.
        path: PNG file to write, or None for none.
        title: Figure title, e.g. the env's dataset.
        subtitle: Smaller line under it, e.g. the env id, budget and seeds.
        reference_front: (latency_ms, val_accuracy) of the reference (true) front.
        reference_label: Legend label of the reference front.
        background: (latency_ms, val_accuracy) of every architecture in the table, drawn faintly.
        regression: The accuracy is a regression task's validation R²: drawn as
            it is (a fraction), not in %.
        seeds: Method name -> the number of runs whose evaluations ``points`` and
            ``fronts`` pool; the legend and title say so.

    Returns:
        The figure.
    """
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=120, layout="constrained")
    colors = _colors(points)
    scale = 1.0 if regression else 100.0
    seeds = dict(seeds or {})

    def pooled(name: str) -> str:
        n = seeds.get(name)
        return "" if n is None else f" (pooled over {n} seed{'s' if n != 1 else ''})"

    if background is not None:
        ax.scatter(background[0], scale * np.asarray(background[1]), s=2, color="0.85",
                   label="all table architectures", rasterized=True)
    for name, (lat, acc) in points.items():
        ax.scatter(lat, scale * np.asarray(acc), s=8, color=colors[name], alpha=0.35,
                   label=f"{name}: evaluated{pooled(name)}")
    for name, (lat, acc) in fronts.items():
        x, y = _step(np.asarray(lat), np.asarray(acc))
        ax.step(x, scale * y, where="post", color=colors.get(name, "gray"), linewidth=1.8, marker="o", markersize=3,
                label=f"{name}: front{pooled(name)}")
    if reference_front is not None:
        x, y = _step(np.asarray(reference_front[0]), np.asarray(reference_front[1]))
        ax.step(x, scale * y, where="post", color="black", linestyle="--", linewidth=1.4, label=reference_label)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("validation R²" if regression else "validation accuracy (%)")
    what = "Pareto fronts"
    if seeds:
        counts = sorted(set(seeds.values()))
        what += (f", each method's pooled over its {counts[0]} seed{'s' if counts[0] != 1 else ''}"
                 if len(counts) == 1 else ", each method's pooled over its seeds")
    _titles(fig, ax, title, what, subtitle)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize="small")
    return _finish(fig, path)
