"""The benchmark's report: ``summary.md``, ``summary.json``, ``curves.png`` and ``pareto.png``.

:func:`write_report` (called at the end of every benchmark) reads the
histories back through :func:`~nas_gym.benchmark.statistics.summarize_setting`
and writes, next to the run folders:

- ``summary.md`` (:func:`format_summary_md`) and ``summary.json``: per
  method, mean and 95 % confidence interval (a percentile bootstrap over
  seeds, within what the figure can be, :func:`format_interval`) of the best reward, of the test
  accuracy and latency of the best-validation architecture; with a table, the
  regret and the evaluations needed to reach its top 1 %; with latency in
  play, the hypervolume fraction;
- ``curves.png``: best-so-far reward against architectures evaluated
  (:func:`nas_gym.benchmark.plots.plot_curves`);
- ``pareto.png`` (latency in play): evaluated architectures, each method's
  non-dominated set of all its runs pooled, and the reference front
  (:func:`nas_gym.benchmark.plots.plot_pareto`).

The figures (:func:`draw_figures`) are titled by the env's search space and
dataset (:mod:`nas_gym.benchmark.describe`), with the env id, budget and seeds
under it. With several env settings each setting's folder gets its own report
and the benchmark folder a ``summary.md`` with one section per setting.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from nas_gym.benchmark.layout import CONFIG_FILE
from nas_gym.benchmark.statistics import pareto_front, summarize_setting


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None (strict JSON has neither)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_interval(stat: dict[str, Any], scale: float = 1.0, digits: int = 4) -> str:
    """A figure's mean and 95 % interval as a table cell: ``mean [low, high]``.

    Args:
        stat: What :func:`~nas_gym.benchmark.statistics.interval` returns.
        scale: Factor for display (100 for an accuracy in %).
        digits: Decimals.

    Returns:
        "—" without values, the mean alone for one value (one run gives no
        interval), else ``mean [low, high]``: a bootstrap interval is not
        symmetric about the mean, so it is not written as ± a half-width.

    >>> format_interval({"mean": 0.7635, "low": 0.711, "high": 0.816, "n": 2}, 100.0, 2)
    '76.35 [71.10, 81.60]'
    """
    if stat["n"] == 0:
        return "—"
    mean, low, high = stat["mean"], stat.get("low", math.nan), stat.get("high", math.nan)
    if math.isnan(low) or math.isnan(high):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} [{low * scale:.{digits}f}, {high * scale:.{digits}f}]"


def _seeds_note(summary: dict[str, Any]) -> str:
    """``"10 seeds"``, or ``"its seeds"`` where methods have different numbers of finished runs."""
    counts = {m["runs"] for m in summary["methods"].values() if m["runs"]}
    if len(counts) != 1:
        return "its seeds"
    n = counts.pop()
    return f"its {n} seed{'s' if n != 1 else ''}"


def _subtitle(summary: dict[str, Any]) -> str:
    """What was run, under a figure's title: env id, budget and seeds."""
    epochs = summary.get("budget_epochs")
    budget = f"{summary['budget']} architectures" if epochs is None else f"{epochs} epochs trained"
    n = len(summary["seeds"])
    return f"{summary['env_id']} · budget {budget} per run · {n} seed{'s' if n != 1 else ''}"


def _range_text(summary: dict[str, Any]) -> str:
    """The reward's range in interval notation, e.g. ``[0, 1]`` or ``(-∞, 1]``."""
    low, high = summary.get("reward_range") or (None, None)

    def number(x: float) -> str:
        return f"{x:g}" if float(x).is_integer() else f"{x:.4f}"

    left = "(-∞" if low is None or math.isinf(low) else f"[{number(low)}"
    right = "∞)" if high is None or math.isinf(high) else f"{number(high)}]"
    return f"{left}, {right}"


def format_summary_md(summary: dict[str, Any], *, heading: str | None = None, image_prefix: str = "") -> str:
    """``summary.md`` for one env setting (figures in the units the columns name).

    Args:
        summary: What :func:`~nas_gym.benchmark.statistics.summarize` returns for one setting.
        heading: The first line; default ``# Benchmark: {title}, `{env_id}```, the title
            naming the env's space and dataset (e.g. "NAS-Bench-201 · CIFAR-100").
        image_prefix: Folder of the figures relative to the markdown file.

    Returns:
        The markdown text.
    """
    budget = summary["budget"]
    table = summary["table"]
    lines = [
        heading or f"# Benchmark: {summary.get('title') or summary['env_id']}, `{summary['env_id']}`",
        "",
        f"- env kwargs: `{json.dumps(summary['env_kwargs'], sort_keys=True)}`",
        f"- budget: {budget} architectures per run; seeds: {', '.join(map(str, summary['seeds']))}",
    ]
    epochs = summary.get("budget_epochs")
    if epochs is not None:
        lines[-1] = (f"- budget: {epochs} epochs trained per run (at most {budget} architectures); "
                     f"seeds: {', '.join(map(str, summary['seeds']))}")
    unit = "architectures evaluated" if epochs is None else "epochs trained"
    limit = budget if epochs is None else epochs
    if summary.get("agent_kwargs"):
        lines.append(f"- agent kwargs: `{json.dumps(summary['agent_kwargs'], sort_keys=True)}`")
    if summary.get("command"):
        lines.append(f"- command: `{summary['command']}`")
    if table is not None:
        lines.append(
            f"- table: `{table['table_path']}` ({table['rows']} rows, "
            f"{'exhaustive' if table['exhaustive'] else 'not exhaustive'})"
        )
        if table.get("optimum_reward") is not None:
            lines.append(
                f"- table optimum reward {table['optimum_reward']:.4f} (`{table['optimum_arch']}`); "
                f"top-1 % threshold {table['top1_threshold']:.4f}"
            )
    regression = bool(summary.get("regression")) or any("best_val_mse" in m for m in summary["methods"].values())
    accuracy = "validation R²" if regression else "validation accuracy"
    columns = ["method", "runs", "best reward", "test acc of best-val (%)", "latency of best-val (ms)"]
    if regression:  # R² is no accuracy to read in percent: the MSEs say it
        columns[3:4] = ["best val MSE", "test MSE of best-val"]
    with_regret = table is not None and table.get("optimum_reward") is not None
    if with_regret:
        columns += ["regret", "median evals to top 1 %" if epochs is None else "median epochs to top 1 %"]
    if summary["latency_in_play"]:
        columns.append("HV fraction")
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "|".join("-" * (len(c) + 2) for c in columns) + "|"]
    for agent, m in summary["methods"].items():
        cells = [agent, str(m["runs"]), format_interval(m["best_reward"]),
                 format_interval(m["test_accuracy"], 100.0, 2), format_interval(m["latency_ms"], 1.0, 3)]
        if regression:
            empty = {"mean": math.nan, "n": 0}
            cells[3:4] = [format_interval(m.get("best_val_mse", empty), 1.0, 4),
                          format_interval(m.get("test_mse", empty), 1.0, 4)]
        if with_regret:
            top = m["evals_to_top1"]
            median = "—" if not top["values"] else (f"> {limit}" if top["median"] is None else f"{top['median']:g}")
            cells += [format_interval(m["regret"]), f"{median} ({top['reached']}/{len(top['values'])} reached)"]
        if summary["latency_in_play"]:
            cells.append(format_interval(m["hv_fraction"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Mean [95 % confidence interval] over seeds: the percentile bootstrap of the mean (50,000 resamples of "
        "the seeds, as rliable computes intervals), which lies within the values themselves and so within what "
        f"the figure can be (accuracies in [0, 100] %, R² ≤ 1, latencies and MSEs ≥ 0, the reward in "
        f"{_range_text(summary)}, {summary.get('reward_range_source', 'its range')}). "
        f"The best-validation architecture is the first evaluated one with the highest {accuracy}"
        + ("." if epochs is None else " among the full-fidelity evaluations (a short training is not a result)."),
    ]
    if regression:
        lines.append(
            "Regression task: the reward's accuracy term is the validation R² (1 - MSE / variance, clipped at 0). "
            "Best val MSE: the run's lowest validation MSE; test MSE: that architecture's, in the units of the "
            "task's targets (standardised for the forecasting tasks)."
        )
    if with_regret:
        lines.append(
            f"Regret: table optimum minus the run's best reward. To top 1 %: {unit} "
            f"until the best reward reached the threshold; runs that never did count as > {limit}."
        )
    if summary["latency_in_play"]:
        p = summary["pareto"]
        lines.append(
            f"HV fraction: hypervolume (max {accuracy}, min latency; reference point "
            f"{p['ref_latency_ms']:.3f} ms, {accuracy} 0) of each run's non-dominated set divided by that of "
            f"the reference front from {p['front_source']}, averaged over seeds. The Pareto plot pools each method's "
            f"runs: its evaluated architectures and one front over {_seeds_note(summary)}."
        )
    lines += ["", f"![best-so-far reward]({image_prefix}curves.png)"]
    if summary["latency_in_play"]:
        lines.append(f"![Pareto fronts]({image_prefix}pareto.png)")
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Write ``summary.md``, ``summary.json``, ``curves.png`` and (latency in play) ``pareto.png``.

    Args:
        out_dir: A folder written by ``nas-gym benchmark``.

    Returns:
        What :func:`~nas_gym.benchmark.statistics.summarize` returns.
    """
    out = Path(out_dir)
    config = json.loads((out / CONFIG_FILE).read_text())
    if "settings" in config:
        summaries = {name: write_report(out / name) for name in config["settings"]}
        parts = [f"# Benchmark: {config['env_id']}, {len(summaries)} env settings", ""]
        if config.get("command"):
            parts += [f"- command: `{config['command']}`", ""]
        for name, s in summaries.items():
            parts.append(format_summary_md(s, heading=f"## {name}", image_prefix=f"{name}/"))
        (out / "summary.md").write_text("\n".join(parts))
        result = {"settings": summaries}
        (out / "summary.json").write_text(json.dumps(_json_safe(result), indent=2))
        return result

    summary, data = summarize_setting(out, config)
    (out / "summary.md").write_text(format_summary_md(summary))
    (out / "summary.json").write_text(json.dumps(_json_safe(summary), indent=2))
    draw_figures(summary, data, out)
    return summary


def draw_figures(summary: dict[str, Any], data: dict[str, Any], out_dir: str | os.PathLike | None = None) -> dict:
    """The report's figures of one env setting: ``curves.png`` and (latency in play) ``pareto.png``.

    Titled by the env's dataset (``summary["title"]``) with the env id, budget
    and seeds under it; the accuracy axis says R² on a regression task; the
    Pareto plot says that it pools each method's seeds.

    Args:
        summary: What :func:`~nas_gym.benchmark.statistics.summarize_setting` returns first.
        data: What it returns second (the histories and the reference front).
        out_dir: Folder to write the PNG files to, or None to write none.

    Returns:
        The figures by file name (``matplotlib.figure.Figure``, closed, readable).
    """
    from nas_gym.benchmark import plots

    out = None if out_dir is None else Path(out_dir)
    title = summary.get("title") or summary["env_id"]
    subtitle = _subtitle(summary)
    optimum = None if summary["table"] is None else summary["table"].get("optimum_reward")
    curves = {
        a: tuple(np.array(m["curve"][k], dtype=float) for k in ("mean", "low", "high"))
        for a, m in summary["methods"].items() if m["runs"]
    }
    by_epochs = summary.get("budget_epochs") is not None
    figures = {"curves.png": plots.plot_curves(
        curves, None if out is None else out / "curves.png", title=title, subtitle=subtitle, optimum=optimum,
        xlabel="epochs trained" if by_epochs else "architectures evaluated",
        band_label="95 % bootstrap interval of the mean",
    )}
    if summary["latency_in_play"]:
        pareto = data["pareto"]
        points, fronts, seeds = {}, {}, {}
        for agent, runs in data["histories"].items():
            seen = [r for h in runs.values() for r in h if r["latency_ms"] is not None]
            if not seen:
                continue
            lat = np.array([r["latency_ms"] for r in seen], dtype=float)
            acc = np.array([r["val_accuracy"] for r in seen], dtype=float)
            points[agent] = (lat, acc)
            idx = pareto_front(lat, acc)
            fronts[agent] = (lat[idx], acc[idx])
            seeds[agent] = len(runs)
        figures["pareto.png"] = plots.plot_pareto(
            points, fronts, None if out is None else out / "pareto.png", title=title, subtitle=subtitle,
            reference_front=pareto["front"], reference_label=f"front of {pareto['front_source']}",
            background=pareto["all"], regression=bool(summary.get("regression")), seeds=seeds,
        )
    return figures
