"""The suite report's figures, in the forms of Agarwal et al. (2021).

Aggregate intervals, performance profiles, sample-efficiency curves and the
probability-of-improvement matrix.

Each function takes the summary :func:`nas_gym.benchmark.suite_report.summarize_suite`
returns, draws with matplotlib's Agg backend (as :mod:`nas_gym.benchmark.plots`),
writes the figure where a path is given and returns it (closed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nas_gym.benchmark.layout import SUITE_FIGURES as FIGURES
from nas_gym.benchmark.plots import _colors, _finish, plt

#: Lowest normalised score the sample-efficiency axis shows (its label says so when a band reaches lower).
CURVE_FLOOR = -1.0
AGGREGATE_TITLES = {"IQM": "IQM", "mean": "Mean", "median": "Median", "optimality_gap": "Optimality gap"}


def _ranked(summary: dict[str, Any]) -> list[str]:
    return sorted(summary["complete"], key=lambda a: summary["aggregates"][a]["IQM"][0])


def _palette(summary: dict[str, Any]) -> dict[str, tuple]:
    """One colour per agent, the same in every figure (by name, not by rank); tab20 beyond 10 agents."""
    names = sorted(summary["complete"])
    if len(names) <= 10:
        return _colors(names)
    cmap = plt.get_cmap("tab20")
    return {name: cmap(i % 20) for i, name in enumerate(names)}


def _subtitle(summary: dict[str, Any]) -> str:
    s = summary["suite"]
    return (f"suite {s['name']} · {len(s['tasks'])} envs × {len(summary['seeds'])} seeds · "
            f"{summary['budget']} evaluations · 95 % stratified-bootstrap CIs")


def plot_aggregates(summary: dict[str, Any], path: str | os.PathLike | None = None):
    """IQM, mean, median and optimality gap of the normalised score per agent, as intervals (rliable's plot)."""
    agents = _ranked(summary)
    colors = _palette(summary)
    fig, axes = plt.subplots(1, 4, figsize=(13, 0.38 * len(agents) + 1.8), sharey=True, layout="constrained")
    for ax, (name, title) in zip(axes, AGGREGATE_TITLES.items(), strict=True):
        for y, a in enumerate(agents):
            point, low, high = summary["aggregates"][a][name]
            ax.barh(y, high - low, left=low, height=0.6, color=colors[a], alpha=0.75)
            ax.vlines(point, y - 0.3, y + 0.3, color="k", linewidth=1.5)
        ax.set_title(title, fontsize=11)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlabel("normalised score" if name != "optimality_gap" else "gap to 1 (lower is better)")
    axes[0].set_yticks(range(len(agents)), agents)
    fig.suptitle(_subtitle(summary), fontsize=10, color="0.25")
    return _finish(fig, path)


def _band_lines(summary: dict[str, Any], x: np.ndarray, bands: dict[str, tuple]) -> tuple:
    """A figure with one line and its band per agent (best ranked first in the legend)."""
    agents = _ranked(summary)[::-1]
    colors = _palette(summary)
    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    for a in agents:
        point, low, high = bands[a]
        ax.plot(x, point, color=colors[a], label=a)
        ax.fill_between(x, low, high, color=colors[a], alpha=0.15)
    ax.legend(fontsize=7, ncol=2 if len(agents) > 10 else 1)
    return fig, ax, agents


def plot_profiles(summary: dict[str, Any], path: str | os.PathLike | None = None):
    """Performance profiles: fraction of runs whose normalised score exceeds tau, with bootstrap bands."""
    taus = np.asarray(summary["profiles"]["taus"])
    bands = {a: tuple(np.asarray(v) for v in b) for a, b in summary["profiles"]["agents"].items()}
    fig, ax, agents = _band_lines(summary, taus, bands)
    ax.set_xlabel(r"normalised score $\tau$")
    ax.set_ylabel(r"fraction of runs with score $> \tau$")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title("Performance profiles\n" + _subtitle(summary), fontsize=9, color="0.25")
    return _finish(fig, path)


def plot_sample_efficiency(summary: dict[str, Any], path: str | os.PathLike | None = None):
    """IQM of the normalised score against architectures evaluated, with its interval."""
    x = np.asarray(summary["curves"]["evaluations"])
    bands = {a: tuple(np.asarray(curve).T) for a, curve in summary["curves"]["iqm"].items()}
    fig, ax, agents = _band_lines(summary, x, bands)
    ax.axhline(0.0, color="0.4", linewidth=0.8, linestyle="--")
    ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle=":")
    ax.set_xlabel("architectures evaluated")
    label = "IQM normalised score (0 = random search, 1 = optimum)"
    lowest = min(float(np.min(np.asarray(summary["curves"]["iqm"][a])[:, 1])) for a in agents)
    if lowest < CURVE_FLOOR:
        # After a handful of evaluations the score's span (optimum - random's expected best) is wide and a
        # poor first draw reads as far below 0; the axis keeps the part where methods differ.
        ax.set_ylim(bottom=CURVE_FLOOR)
        label += f"; axis from {CURVE_FLOOR:g}"
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.set_title("Sample efficiency\n" + _subtitle(summary), fontsize=9, color="0.25")
    return _finish(fig, path)


def plot_improvement(summary: dict[str, Any], path: str | os.PathLike | None = None):
    """The matrix of ``P(row agent > column agent)``, each cell with its point estimate."""
    agents = _ranked(summary)[::-1]
    n = len(agents)
    matrix = np.full((n, n), np.nan)
    for i, a in enumerate(agents):
        for j, b in enumerate(agents):
            if a != b:
                matrix[i, j] = summary["improvement"][a][b][0]
    size = max(4.5, 0.42 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size), layout="constrained")
    image = ax.imshow(matrix, cmap="RdBu", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if i != j:
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6 if n > 12 else 8)
    ax.set_xticks(range(n), agents, rotation=60, ha="right")
    ax.set_yticks(range(n), agents)
    ax.set_xlabel("Y")
    ax.set_ylabel("X")
    fig.colorbar(image, ax=ax, label="P(X > Y)", shrink=0.8)
    ax.set_title("Probability of improvement\n" + _subtitle(summary), fontsize=9, color="0.25")
    return _finish(fig, path)


def draw_all(summary: dict[str, Any], out_dir: str | os.PathLike) -> None:
    """Every figure of :data:`nas_gym.benchmark.layout.SUITE_FIGURES` into ``out_dir``."""
    out = Path(out_dir)
    plot_aggregates(summary, out / FIGURES["aggregates"])
    plot_profiles(summary, out / FIGURES["profiles"])
    plot_sample_efficiency(summary, out / FIGURES["sample_efficiency"])
    plot_improvement(summary, out / FIGURES["improvement"])
