"""The benchmark's figures and intervals: titles by dataset, y-axes that hold every curve, R² on regression tasks,
fronts that say they pool seeds, and intervals clipped to what a figure can be. Real benchmarks at tiny budgets."""

import json
import math
import re

import gymnasium as gym
import numpy as np
import pytest
from matplotlib.collections import PolyCollection

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.benchmark import run_benchmark
from nas_gym.benchmark.describe import env_title, reward_range
from nas_gym.benchmark.layout import CONFIG_FILE
from nas_gym.benchmark.plots import plot_curves
from nas_gym.benchmark.report import draw_figures, format_interval
from nas_gym.benchmark.statistics import NON_NEGATIVE, UNIT, interval, summarize_setting

EMBEDDED = "NAS-Bench-201 · MNIST-1D (embedded)"


def _figures(out):
    summary, data = summarize_setting(out, json.loads((out / CONFIG_FILE).read_text()))
    return summary, draw_figures(summary, data)


def _drawn_y(ax):
    """Every y value the axes draw: the lines' points and the bands' (fill_between polygons') vertices."""
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
    ys += [path.vertices[:, 1] for c in ax.collections if isinstance(c, PolyCollection) for path in c.get_paths()]
    y = np.concatenate(ys)
    return y[np.isfinite(y)]


def _assert_y_limits_hold(ax):
    low, high = ax.get_ylim()
    y = _drawn_y(ax)
    assert len(y) and low <= y.min() and y.max() <= high, (ax.get_ylim(), y.min(), y.max())


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """The issue's case: random and evolution on the embedded table, 2 seeds, budget 20."""
    out = tmp_path_factory.mktemp("two_seeds")
    result = run_benchmark(["random", "evolution"], "NAS-Bench-201-v0", {}, seeds=2, budget=20, out_dir=out,
                           workers=1, progress=False)
    assert not result.failed
    return out


@pytest.mark.parametrize("which", ["embedded", "packaged cifar100", "table file with c100 columns"])
def test_figures_are_titled_by_the_dataset(which, nb201_table, tmp_path):
    env_kwargs, title = {
        "embedded": ({}, EMBEDDED),
        "packaged cifar100": ({"dataset": "cifar100"}, "NAS-Bench-201 · CIFAR-100"),
        "table file with c100 columns": ({"table": nb201_table, "val_column": "c100_valid",
                                          "test_column": "c100_test"}, "NAS-Bench-201 · CIFAR-100"),
    }[which]
    run_benchmark(["random"], "NAS-Bench-201-v0", env_kwargs, seeds=1, budget=3, out_dir=tmp_path, workers=1,
                  progress=False)
    summary, figures = _figures(tmp_path)
    assert summary["title"] == title
    fig = figures["curves.png"]
    assert fig.get_suptitle() == title
    assert "NAS-Bench-201-v0" in fig.axes[0].get_title()  # the env id stays, as the subtitle
    assert (tmp_path / "summary.md").read_text().startswith(f"# Benchmark: {title}, `NAS-Bench-201-v0`")


def test_titles_of_envs_that_train():
    for env_id, title in (("NAS-v0", "layers · digits"), ("NAS-RNN-v0", "rnn_cell · Mackey-Glass")):
        env = gym.make(env_id, cache=False)
        try:
            assert env_title(env.unwrapped.parts) == title
        finally:
            env.close()


def test_y_limits_hold_the_first_evaluations_and_the_bands():
    # The first evaluation far below the rest, with a wide band: the old axis dropped the first tenth of each curve.
    n = 30
    mean = np.full(n, 0.72)
    mean[:3] = [0.05, 0.4, 0.6]
    half = np.full(n, 0.02)
    half[:3] = 0.2
    low, high = np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1)
    fig = plot_curves({"a": (mean, low, high), "b": (mean + 0.01, low, np.full(n, np.nan))}, title="t")
    ax = fig.axes[0]
    _assert_y_limits_hold(ax)
    assert ax.get_ylim()[0] <= 0.0  # the band of the first evaluation reaches 0 (clipped there, not below)


def test_two_seed_run_bands_and_intervals_stay_in_range(two_seeds):
    summary, figures = _figures(two_seeds)
    low, high = summary["reward_range"]
    ax = figures["curves.png"].axes[0]
    _assert_y_limits_hold(ax)
    bands = np.concatenate([p.vertices[:, 1] for c in ax.collections if isinstance(c, PolyCollection)
                            for p in c.get_paths()])
    assert low - 1e-12 <= bands.min() and bands.max() <= high + 1e-12  # 1.36 before: past any reward
    for m in summary["methods"].values():
        assert max(m["curve"]["high"]) <= high
        for key in ("best_reward", "test_accuracy", "regret"):
            lo, hi = m[key]["range"]
            assert lo <= m[key]["low"] <= m[key]["mean"] <= m[key]["high"] <= hi
    text = (two_seeds / "summary.md").read_text()
    assert "percentile bootstrap of the mean" in text
    for row in re.findall(r"^\| (?:random|evolution) \|.*$", text, flags=re.M):
        cells = [c.strip() for c in row.strip("|").split("|")]
        numbers = [float(x) for x in re.findall(r"-?\d+\.\d+", cells[3])]  # test accuracy, %
        assert numbers and all(0 <= x <= 100 for x in numbers), cells[3]
        assert "±" not in cells[3]


def test_intervals_are_bootstrapped_within_the_values():
    # Two seeds (the "76.35 ± 66.71 %" as a t-interval): the bootstrap interval is the two values.
    stat = interval([0.711, 0.816], UNIT)
    assert (stat["mean"], stat["low"], stat["high"]) == pytest.approx((0.7635, 0.711, 0.816))
    assert format_interval(stat, 100.0, 2) == "76.35 [71.10, 81.60]"
    inside = interval([0.70, 0.72, 0.71, 0.69, 0.73], UNIT)
    assert 0.69 < inside["low"] < 0.71 < inside["high"] < 0.73
    # An MSE stays at or above 0: every resampled mean of non-negative values is.
    mse = interval([0.01, 0.2, 0.0], NON_NEGATIVE)
    assert mse["low"] >= 0.0 and format_interval(mse).startswith("0.0700 [")
    assert math.isnan(interval([0.5], UNIT)["low"]) and format_interval(interval([0.5], UNIT)) == "0.5000"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, (0.0, 1.0)),  # no latency in the reward: the accuracy
        ({"dataset": "cifar100", "latency_column": "lat_fpga_ms", "latency_weight": 0.5}, (-math.inf, 1.0)),
        ({"dataset": "cifar100", "latency_column": "lat_fpga_ms", "reward": "mnasnet_hard"}, (0.0, 1.0)),
        ({"dataset": "cifar100", "latency_column": "lat_fpga_ms", "reward": "mnasnet"}, (0.0, math.inf)),
        ({"dataset": "cifar100", "latency_weight": 0, "latency_limit_ms": 3, "latency_column": "lat_fpga_ms"},
         (-math.inf, 1.0)),
    ],
)
def test_reward_range(kwargs, expected):
    env = gym.make("NAS-Bench-201-v0", **kwargs)
    try:
        assert reward_range(env.unwrapped.parts) == expected
    finally:
        env.close()


def test_regression_pareto_plot_labels_r2_and_says_it_pools_seeds(tmp_path):
    result = run_benchmark(["random"], "NAS-RNN-v0", {}, seeds=2, budget=2, out_dir=tmp_path, workers=1,
                           progress=False)
    assert not result.failed and (tmp_path / "pareto.png").is_file()
    summary, figures = _figures(tmp_path)
    assert summary["regression"] and summary["latency_in_play"]
    ax = figures["pareto.png"].axes[0]
    assert ax.get_ylabel() == "validation R²"
    r2 = [r["val_accuracy"] for seed in (0, 1)
          for r in map(json.loads, (tmp_path / "random" / f"seed{seed}" / "history.jsonl").read_text().splitlines())]
    scattered = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if not isinstance(c, PolyCollection)])
    assert max(r2) > 0.05 and np.allclose(np.sort(scattered), np.sort(r2))  # R² as it is, not × 100
    labels = ax.get_legend_handles_labels()[1]
    assert "random: front (pooled over 2 seeds)" in labels and "random: evaluated (pooled over 2 seeds)" in labels
    assert "pooled over its 2 seeds" in ax.get_title()
    text = (tmp_path / "summary.md").read_text()
    assert "one front over its 2 seeds" in text and "highest validation R²" in text
