"""A suite's report: every run's normalised scores (``suite.json``), the leaderboard and the figures a paper shows.

Recomputed from the run folders (``OUT/{task}/{agent}/seed{S}/``), so a
resumed or extended suite reports what its folders hold. Per agent, over all
(task, seed) runs of the suite (:mod:`nas_gym.benchmark.aggregate`): IQM,
mean, median and optimality gap of the normalised score at the budget, each
with a 95 % stratified-bootstrap interval; the same IQM at the anytime
checkpoints and of the area under the normalised curve; performance
profiles; and the probability of improvement of each agent over each other.
An agent counts in the aggregates only where it finished every run of every
task; the leaderboard lists the others with the first line of their error.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from nas_gym.benchmark import aggregate as agg
from nas_gym.benchmark import suite_plots
from nas_gym.benchmark.layout import CONFIG_FILE, LEADERBOARD_MD, RUN_ERROR_FILE, SUITE_FIGURES, SUITE_JSON, run_folder
from nas_gym.benchmark.scores import CHECKPOINTS, run_scores
from nas_gym.benchmark.statistics import is_finished, run_figures, table_reference
from nas_gym.benchmark.suites import Suite, parse_suite, task_reference
from nas_gym.search.folder import RunFolder

FIGURES = SUITE_FIGURES
#: Points of the sample-efficiency curves (evaluation counts), at most this many.
CURVE_POINTS = 25
#: Bootstrap replicates of the curves' and the improvement matrix's intervals (rliable's profile count).
CURVE_REPS = agg.PROFILE_REPS


def _error_line(folder: Path) -> str | None:
    path = folder / RUN_ERROR_FILE
    if not path.is_file():
        return None
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    # The traceback's last line, without the exception's module path.
    return lines[-1].split("nas_gym.error.", 1)[-1][:300] if lines else "failed"


def _triple(values: tuple[float, float, float]) -> list[float]:
    return [float(v) for v in values]


def summarize_suite(out_dir: str | os.PathLike, suite: Suite | None = None) -> dict[str, Any]:
    """The suite's normalised scores and aggregates, recomputed from its run folders.

    Args:
        out_dir: A folder written by :func:`nas_gym.benchmark.suite_runner.run_suite`.
        suite: The suite, when the caller has it; else read from ``benchmark.json``.

    Returns:
        A JSON-ready dict: ``suite``, ``agents``, ``seeds``, ``budget``, ``checkpoints``,
        ``references`` (per task: the optimum, whether exact, its source, and random
        search's expected best at each checkpoint), ``runs`` (per agent, task and seed:
        ``final``, ``anytime``, ``auc``, ``best_reward``), ``complete`` (agents with every
        run finished), ``incomplete`` (the others, with why), ``aggregates`` (per complete
        agent: ``IQM``, ``mean``, ``median``, ``optimality_gap`` as ``[point, low, high]``),
        ``anytime_iqm`` and ``auc_iqm`` likewise, ``task_means`` (mean score per task),
        ``curves`` (IQM after each of a grid of evaluation counts, with intervals),
        ``profiles`` (``taus`` and per agent ``[fraction, low, high]`` lists) and
        ``improvement`` (``P(row > column)`` with intervals).
    """
    out = Path(out_dir)
    config = json.loads((out / CONFIG_FILE).read_text())
    if suite is None:  # the definition the runs were made with, as benchmark.json keeps it
        definition = config["suite"]
        suite = parse_suite(definition, Path(definition["folder"]), str(out / CONFIG_FILE))
    agents, seeds, budget = config["agents"], config["seeds"], config["budget"]
    checkpoints = [k for k in CHECKPOINTS if k <= budget]
    if budget not in checkpoints:
        checkpoints.append(budget)

    references, ref_json = {}, {}
    for task in suite.tasks:
        table = table_reference(task.env_id, task.env_kwargs) if task.reference == "table" else None
        ref = task_reference(suite, task, table)
        references[task.name] = ref
        ref_json[task.name] = {**ref.to_json(), "env_id": task.env_id, "env_kwargs": task.env_kwargs,
                               "random_best": {str(k): ref.random_best(k) for k in checkpoints}}

    runs: dict[str, dict[str, dict[str, Any]]] = {}
    curves: dict[str, np.ndarray] = {}
    run_wall_s = 0.0
    incomplete: dict[str, str] = {}
    for agent in agents:
        runs[agent] = {}
        stack = np.full((len(seeds), len(suite.tasks), budget), math.nan)
        problems = []
        for m, task in enumerate(suite.tasks):
            runs[agent][task.name] = {}
            for n, seed in enumerate(seeds):
                folder = run_folder(out / task.name, agent, seed)
                run = RunFolder(folder)
                summary = run.read_summary()
                history = run.read_history() if run.history_path.is_file() else []
                error = _error_line(folder)
                if error or summary is None or not is_finished(summary, len(history)) or len(history) < budget:
                    problems.append(f"{task.name} seed {seed}: {error or 'not finished'}")
                    continue
                run_wall_s += float(summary.get("wall_s") or 0.0)
                curve = run_figures(history)["curve"][:budget]
                scores = run_scores(curve, references[task.name], checkpoints)
                stack[n, m] = scores["curve"]
                runs[agent][task.name][str(seed)] = {
                    "final": scores["final"], "anytime": scores["anytime"], "auc": scores["auc"],
                    "best_reward": float(np.nanmax(curve)) if np.isfinite(curve).any() else None,
                }
        if problems:
            envs = sorted({p.split(" seed ")[0] for p in problems})
            incomplete[agent] = (f"{len(problems)} of {len(seeds) * len(suite.tasks)} runs missing "
                                 f"({', '.join(envs)}); first: {problems[0]}")
        elif np.isnan(stack).any():
            incomplete[agent] = "some runs have no full-fidelity evaluation to score"
        else:
            curves[agent] = stack

    complete = list(curves)
    final = {a: curves[a][:, :, -1] for a in complete}
    aggregates = {a: {name: _triple(v) for name, v in table.items()} for a, table in agg.aggregate_table(final).items()}
    anytime_iqm = {
        a: {str(k): _triple(agg.bootstrap_ci(curves[a][:, :, k - 1], agg.iqm)) for k in checkpoints} for a in complete
    }
    auc_iqm = {a: _triple(agg.bootstrap_ci(np.nanmean(curves[a], axis=2), agg.iqm)) for a in complete}
    task_means = {a: {t.name: float(final[a][:, m].mean()) for m, t in enumerate(suite.tasks)} for a in complete}

    grid = np.unique(np.linspace(1, budget, min(CURVE_POINTS, budget)).round().astype(int))
    curve_iqm = {
        a: [_triple(agg.bootstrap_ci(curves[a][:, :, k - 1], agg.iqm, reps=CURVE_REPS)) for k in grid]
        for a in complete
    }
    pooled = np.concatenate([final[a].ravel() for a in complete]) if complete else np.zeros(1)
    taus = np.linspace(min(0.0, float(np.floor(pooled.min() * 10) / 10)), 1.0, 41)
    profiles = {}
    for a in complete:
        point, low, high = agg.performance_profile(final[a], taus)
        profiles[a] = [point.tolist(), low.tolist(), high.tolist()]
    improvement = {
        a: {b: _triple(agg.probability_of_improvement(final[a], final[b], reps=CURVE_REPS)) for b in complete if b != a}
        for a in complete
    }
    return {
        "suite": {"name": suite.name, "description": suite.description,
                  "tasks": [{"name": t.name, "env_id": t.env_id, "env_kwargs": t.env_kwargs} for t in suite.tasks]},
        "agents": agents, "seeds": seeds, "budget": budget, "checkpoints": checkpoints,
        "command": config.get("command"), "references": ref_json, "runs": runs, "run_wall_s": run_wall_s,
        "complete": complete, "incomplete": incomplete, "aggregates": aggregates, "anytime_iqm": anytime_iqm,
        "auc_iqm": auc_iqm, "task_means": task_means,
        "curves": {"evaluations": grid.tolist(), "iqm": curve_iqm},
        "profiles": {"taus": taus.tolist(), "agents": profiles},
        "improvement": improvement,
        "bootstrap": {"reps": agg.REPS, "curve_reps": CURVE_REPS, "level": 0.95, "seed": 0,
                      "method": "stratified bootstrap over runs within each task, percentile intervals"},
    }


def _fmt(triple: list[float]) -> str:
    point, low, high = triple
    return f"{point:.3f} [{low:.3f}, {high:.3f}]"


def format_leaderboard(summary: dict[str, Any]) -> str:
    """``leaderboard.md``: agents ranked by IQM of the normalised score at the budget, with intervals and notes."""
    complete = sorted(summary["complete"], key=lambda a: -summary["aggregates"][a]["IQM"][0])
    tasks = [t["name"] for t in summary["suite"]["tasks"]]
    budget = summary["budget"]
    lines = [
        f"# Leaderboard: suite `{summary['suite']['name']}`",
        "",
        f"{summary['suite']['description']}",
        "",
        f"Normalised score at {budget} evaluations (0 = random search's expected best at the same number of "
        "evaluations, 1 = the env's optimum), pooled over "
        f"{len(tasks)} envs x {len(summary['seeds'])} seeds per agent. Intervals: 95 % stratified bootstrap "
        f"({summary['bootstrap']['reps']:,} replicates, percentile), as rliable computes them. "
        "IQM: mean of the middle 50 % of runs; optimality gap: mean shortfall from 1 (lower is better); "
        "AUC: IQM of the mean normalised score over evaluations 1..budget.",
        "",
    ]
    if summary.get("command"):
        lines += ["```bash", summary["command"], "```", ""]
    if summary.get("wall_s") is not None:
        done = summary.get("ran")
        what = "" if done is None else f" ({done} runs done by it, {summary.get('skipped', 0)} found finished)"
        lines += [f"Wall time of the last invocation: {summary['wall_s']:.0f} s{what}; the finished runs' own wall "
                  f"times sum to {summary['run_wall_s']:.0f} s.", ""]
    lines += [
        "| rank | agent | IQM | mean | median | optimality gap | AUC (IQM) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, a in enumerate(complete, start=1):
        g = summary["aggregates"][a]
        lines.append(f"| {i} | {a} | {_fmt(g['IQM'])} | {_fmt(g['mean'])} | {_fmt(g['median'])} | "
                     f"{_fmt(g['optimality_gap'])} | {_fmt(summary['auc_iqm'][a])} |")
    checkpoints = summary["checkpoints"]
    lines += ["", "## Anytime IQM", "", "| agent | " + " | ".join(f"{k} evals" for k in checkpoints) + " |",
              "|---|" + "---|" * len(checkpoints)]
    for a in complete:
        lines.append(f"| {a} | " + " | ".join(_fmt(summary["anytime_iqm"][a][str(k)]) for k in checkpoints) + " |")
    lines += ["", "## Mean normalised score per env", "", "| agent | " + " | ".join(tasks) + " |",
              "|---|" + "---|" * len(tasks)]
    for a in complete:
        lines.append(f"| {a} | " + " | ".join(f"{summary['task_means'][a][t]:.3f}" for t in tasks) + " |")
    lines += ["", "## Envs and references", "", "| env | id and settings | optimum | random's expected best "
              f"at {budget} | reference |", "|---|---|---|---|---|"]
    for t in tasks:
        r = summary["references"][t]
        settings = json.dumps(r["env_kwargs"]) if r["env_kwargs"] else ""
        lines.append(f"| {t} | `{r['env_id']}` {settings} | {r['optimum']:.4f} | {r['random_best'][str(budget)]:.4f} "
                     f"| {r['source']} |")
    if summary["incomplete"]:
        lines += ["", "## Not ranked", ""]
        lines += [f"- **{a}**: {why}" for a, why in summary["incomplete"].items()]
    lines += ["", "Figures: " + ", ".join(f"[{name}]({file})" for name, file in FIGURES.items()) + ".", ""]
    return "\n".join(lines)


def write_suite_report(out_dir: str | os.PathLike, suite: Suite | None = None, *, wall_s: float | None = None,
                       ran: int | None = None, skipped: int | None = None) -> dict[str, Any]:
    """Write ``suite.json``, ``leaderboard.md`` and the figures of :data:`FIGURES`; return the summary.

    ``wall_s``, ``ran`` and ``skipped`` describe the invocation that writes it (its wall time, the runs
    it did and those it found finished), for the leaderboard's note on cost.
    """
    out = Path(out_dir)
    summary = summarize_suite(out, suite)
    summary.update(wall_s=wall_s, ran=ran, skipped=skipped)
    (out / SUITE_JSON).write_text(json.dumps(summary, indent=1))
    (out / LEADERBOARD_MD).write_text(format_leaderboard(summary))
    if summary["complete"]:
        suite_plots.draw_all(summary, out)
    return summary
