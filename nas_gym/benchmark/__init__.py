"""Benchmark: a grid of search methods x seeds (x env settings), one budget, and its statistics.

``nas-gym benchmark`` runs every (env setting, method, seed) as one search
run, side by side in processes and resumable, into run folders
``OUT/{agent}/seed{S}/`` read through :mod:`nas_gym.search.folder`, and reports
the statistics over seeds in ``summary.md``, ``curves.png`` and
``pareto.png``. The modules:

- :mod:`nas_gym.benchmark.layout`: the benchmark folder's file names and
  where each run's folder lies;
- :mod:`nas_gym.benchmark.runner`: the grid (:func:`run_benchmark`), which
  runs are finished, resumed or redone, and the parallel runs;
- :mod:`nas_gym.benchmark.statistics`: mean and 95 % bootstrap interval
  over seeds, regret, evaluations to top 1 %, hypervolume and
  Pareto front, recomputed from the histories (:func:`summarize`), and the
  definitions of those figures;
- :mod:`nas_gym.benchmark.describe`: what the env is, for titles and labels
  (its space and dataset, whether its accuracy is R²) and what its reward can be;
- :mod:`nas_gym.benchmark.report`: ``summary.md``, ``summary.json`` and the
  plots (:func:`write_report`).

Agent benchmarking over a suite of envs (``nas-gym benchmark --suite core``),
reported as Agarwal et al. (2021) recommend:

- :mod:`nas_gym.benchmark.suites`: suites as data (``nas_gym/data/suites/*.json``
  or a user's file), and each env's reference;
- :mod:`nas_gym.benchmark.scores`: normalised scores (0 = random search's expected
  best at the same evaluations, in closed form on a table; 1 = the optimum);
- :mod:`nas_gym.benchmark.aggregate`: IQM, mean, median, optimality gap,
  stratified-bootstrap intervals, performance profiles, probability of improvement;
- :mod:`nas_gym.benchmark.suite_runner`: :func:`run_suite`, all envs' runs in one pool;
- :mod:`nas_gym.benchmark.suite_report` and :mod:`nas_gym.benchmark.suite_plots`:
  ``suite.json``, ``leaderboard.md`` and the figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas_gym.utils.lazy import lazy_exports

# The names below load with their module on first use (PEP 562), so that `nas-gym search`, which reads
# only the suite names for its --help, does not import the report's plotting stack (matplotlib, ~0.8 s
# of every command's start). Type checkers and the API docs read them from the imports below.
_HOMES = {
    "layout": ("CONFIG_FILE", "RUN_ERROR_FILE", "run_folder", "setting_names"),
    "report": ("format_summary_md", "write_report"),
    "runner": ("BenchmarkResult", "RunSpec", "run_benchmark", "run_state"),
    "statistics": ("_T975", "hypervolume", "mean_ci", "pareto_front", "run_figures", "summarize", "t_quantile_975"),
    "suite_runner": ("run_suite",),
    "suites": ("Suite", "SuiteTask", "available_suites", "load_suite"),
}
__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"{__name__}.{module}" for module, names in _HOMES.items() for name in names}
)

if TYPE_CHECKING:
    from nas_gym.benchmark.layout import CONFIG_FILE, RUN_ERROR_FILE, run_folder, setting_names
    from nas_gym.benchmark.report import format_summary_md, write_report
    from nas_gym.benchmark.runner import BenchmarkResult, RunSpec, run_benchmark, run_state
    from nas_gym.benchmark.statistics import (
        hypervolume,
        mean_ci,
        pareto_front,
        run_figures,
        summarize,
        t_quantile_975,
    )
    from nas_gym.benchmark.suite_runner import run_suite
    from nas_gym.benchmark.suites import Suite, SuiteTask, available_suites, load_suite

__all__ = [
    "CONFIG_FILE",
    "RUN_ERROR_FILE",
    "BenchmarkResult",
    "RunSpec",
    "Suite",
    "SuiteTask",
    "available_suites",
    "load_suite",
    "run_suite",
    "format_summary_md",
    "hypervolume",
    "mean_ci",
    "pareto_front",
    "run_benchmark",
    "run_figures",
    "run_folder",
    "run_state",
    "setting_names",
    "summarize",
    "t_quantile_975",
    "write_report",
]
