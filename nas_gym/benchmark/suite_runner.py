"""Run agents x seeds on every env of a suite, in parallel and resumable, and write the suite's report.

``OUT/{task}/`` is a complete single-env benchmark folder (its runs
``OUT/{task}/{agent}/seed{S}/``, its ``benchmark.json`` and ``summary.md``),
so everything ``nas-gym benchmark --env`` writes and reads holds per task;
``OUT/benchmark.json`` names the suite, and the suite's report
(:mod:`nas_gym.benchmark.suite_report`) pools the tasks' normalised scores.
All runs of all tasks share one pool of processes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nas_gym.benchmark.layout import CONFIG_FILE
from nas_gym.benchmark.report import write_report
from nas_gym.benchmark.runner import BenchmarkResult, _execute, _grid, _plan
from nas_gym.benchmark.suite_report import write_suite_report
from nas_gym.benchmark.suites import Suite, load_suite, task_reference
from nas_gym.error import ConfigError


def run_suite(
    suite: str | os.PathLike | Suite,
    agents: Sequence[Any],
    *,
    seeds: int | Sequence[int] = 10,
    budget: int | None = None,
    out_dir: str | os.PathLike,
    workers: int | None = None,
    agent_kwargs: dict[str, dict[str, Any]] | None = None,
    command: str | None = None,
    progress: bool = True,
) -> BenchmarkResult:
    """Run every agent with every seed on every env of ``suite``; write ``suite.json``, ``leaderboard.md``, figures.

    Args:
        suite: A suite's name (``"core"``), a path to a suite file, or a :class:`Suite`.
        agents: Method names as for ``--agent`` (``"evolution"``, ``"sb3:A2C"``), or a user's
            :class:`~nas_gym.search.searcher.Searcher` subclasses (importable, so that worker
            processes can load them; filed under their ``name``).
        seeds: Number of seeds (``0 .. seeds-1``) or the seeds themselves.
        budget: Evaluations per run; default the suite's.
        out_dir: The suite's folder; finished runs in it are kept, unfinished ones resumed.
        workers: Runs side by side; default ``os.cpu_count()``.
        agent_kwargs: Hyperparameters per method name.
        command: The command line, recorded in the report.
        progress: Show a progress bar over runs.

    Returns:
        What ran, was skipped and failed (``(task, agent, seed, ...)``), and under ``summary``
        what :func:`~nas_gym.benchmark.suite_report.summarize_suite` returned. A failed run
        does not stop the others; an agent with a failed run is left out of the aggregates,
        and the leaderboard says why.

    Raises:
        ConfigError: Unknown suite, method, bad kwargs, budget or seeds, or a run folder
            holding a finished run with other settings.
    """
    import nas_gym  # noqa: F401  (registers the envs)

    start = time.perf_counter()
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    budget = suite.budget if budget is None else budget
    for task in suite.tasks:
        if task.reference != "table":
            task_reference(suite, task)  # a missing stored reference fails now, not after every run
    grid = _grid(agents, agent_kwargs, seeds, budget, None, workers, 1, "local", None)
    out = Path(out_dir)
    config_path = out / CONFIG_FILE
    if config_path.is_file():
        previous = json.loads(config_path.read_text())
        if "suite" in previous and previous["suite"].get("name") != suite.name:
            raise ConfigError(f"{out} holds the suite {previous['suite'].get('name')!r}, not {suite.name!r}; "
                              "use another --out folder.")
    result = BenchmarkResult(out)
    for task in suite.tasks:
        _plan(grid, result, task.name, out / task.name, task.env_id, task.env_kwargs, command)
    definition = {**asdict(suite), "folder": str(suite.folder), "tasks": [asdict(t) for t in suite.tasks]}
    out.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps({
        "suite": definition, "agents": list(grid.hparams), "seeds": grid.seeds, "budget": grid.budget,
        "agent_kwargs": grid.agent_kwargs, "command": command,
    }, indent=2))
    _execute(grid, result, progress)
    for task in suite.tasks:
        write_report(out / task.name)
    result.summary = write_suite_report(out, suite, wall_s=time.perf_counter() - start, ran=len(result.ran),
                                        skipped=len(result.skipped))
    return result
