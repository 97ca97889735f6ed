"""The benchmark's report: ``summary.md``, ``summary.json``, ``curves.png`` and ``pareto.png``.

:func:`write_report` (called at the end of every benchmark) reads the
histories back through :func:`~nas_gym.benchmark.statistics.summarize_setting`
and writes, next to the run folders:

- ``summary.md`` (:func:`format_summary_md`) and ``summary.json``: per
  method, mean and 95 % confidence interval of the best reward, of the test
  accuracy and latency of the best-validation architecture; with a table, the
  regret and the evaluations needed to reach its top 1 %; with latency in
  play, the hypervolume fraction;
- ``curves.png``: best-so-far reward against architectures evaluated
  (:func:`nas_gym.benchmark.plots.plot_curves`);
- ``pareto.png`` (latency in play): evaluated architectures, each method's
  non-dominated set and the reference front (:func:`nas_gym.benchmark.plots.plot_pareto`).

With several env settings each setting's folder gets its own report and the
benchmark folder a ``summary.md`` with one section per setting.
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


def _pm(stat: dict[str, Any], scale: float = 1.0, digits: int = 4) -> str:
    if stat["n"] == 0:
        return "—"
    mean, ci = stat["mean"] * scale, stat["ci"] * scale
    return f"{mean:.{digits}f}" if math.isnan(ci) else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def format_summary_md(summary: dict[str, Any], *, heading: str | None = None, image_prefix: str = "") -> str:
    """``summary.md`` for one env setting (figures in the units the columns name).

    Args:
        summary: What :func:`~nas_gym.benchmark.statistics.summarize` returns for one setting.
        heading: The first line; default ``# Benchmark: {env_id}``.
        image_prefix: Folder of the figures relative to the markdown file.

    Returns:
        The markdown text.
    """
    budget = summary["budget"]
    table = summary["table"]
    lines = [
        heading or f"# Benchmark: {summary['env_id']}",
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
    regression = any("best_val_mse" in m for m in summary["methods"].values())
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
        cells = [agent, str(m["runs"]), _pm(m["best_reward"]), _pm(m["test_accuracy"], 100.0, 2),
                 _pm(m["latency_ms"], 1.0, 3)]
        if regression:
            empty = {"mean": math.nan, "ci": math.nan, "n": 0}
            cells[3:4] = [_pm(m.get("best_val_mse", empty), 1.0, 4), _pm(m.get("test_mse", empty), 1.0, 4)]
        if with_regret:
            top = m["evals_to_top1"]
            median = "—" if not top["values"] else (f"> {limit}" if top["median"] is None else f"{top['median']:g}")
            cells += [_pm(m["regret"]), f"{median} ({top['reached']}/{len(top['values'])} reached)"]
        if summary["latency_in_play"]:
            cells.append(_pm(m["hv_fraction"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Mean ± half-width of the 95 % confidence interval (Student t) over seeds. The best-validation "
        "architecture is the first evaluated one with the highest validation accuracy"
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
            "HV fraction: hypervolume (max validation accuracy, min latency; reference point "
            f"{p['ref_latency_ms']:.3f} ms, accuracy 0) of each run's non-dominated set divided by that of "
            f"the reference front from {p['front_source']}, averaged over seeds."
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

    from nas_gym.benchmark import plots

    summary, data = summarize_setting(out, config)
    (out / "summary.md").write_text(format_summary_md(summary))
    (out / "summary.json").write_text(json.dumps(_json_safe(summary), indent=2))
    title = f"{summary['env_id']}, budget {summary['budget']}"
    optimum = None if summary["table"] is None else summary["table"].get("optimum_reward")
    curves = {a: (np.array(m["curve"]["mean"]), np.array(m["curve"]["ci"])) for a, m in summary["methods"].items()
              if m["runs"]}
    by_epochs = summary.get("budget_epochs") is not None
    if by_epochs:
        title = f"{summary['env_id']}, budget {summary['budget_epochs']} epochs"
    plots.plot_curves(curves, out / "curves.png", title=title, optimum=optimum,
                      xlabel="epochs trained" if by_epochs else "architectures evaluated")
    if summary["latency_in_play"]:
        pareto = data["pareto"]
        points, fronts = {}, {}
        for agent, runs in data["histories"].items():
            seen = [r for h in runs.values() for r in h if r["latency_ms"] is not None]
            if not seen:
                continue
            lat = np.array([r["latency_ms"] for r in seen], dtype=float)
            acc = np.array([r["val_accuracy"] for r in seen], dtype=float)
            points[agent] = (lat, acc)
            idx = pareto_front(lat, acc)
            fronts[agent] = (lat[idx], acc[idx])
        plots.plot_pareto(
            points, fronts, out / "pareto.png", title=title, reference_front=pareto["front"],
            reference_label=f"front of {pareto['front_source']}", background=pareto["all"],
        )
    return summary
