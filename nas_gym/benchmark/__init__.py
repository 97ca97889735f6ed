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
- :mod:`nas_gym.benchmark.statistics`: mean and 95 % t-interval (clipped to
  what each figure can be), regret, evaluations to top 1 %, hypervolume and
  Pareto front, recomputed from the histories (:func:`summarize`), and the
  definitions of those figures;
- :mod:`nas_gym.benchmark.describe`: what the env is, for titles and labels
  (its space and dataset, whether its accuracy is R²) and what its reward can be;
- :mod:`nas_gym.benchmark.report`: ``summary.md``, ``summary.json`` and the
  plots (:func:`write_report`).
"""

from __future__ import annotations

from nas_gym.benchmark.layout import CONFIG_FILE, RUN_ERROR_FILE, run_folder, setting_names
from nas_gym.benchmark.report import format_summary_md, write_report
from nas_gym.benchmark.runner import BenchmarkResult, RunSpec, run_benchmark, run_state
from nas_gym.benchmark.statistics import (
    _T975,  # noqa: F401  (the tests check the table against scipy)
    hypervolume,
    mean_ci,
    pareto_front,
    run_figures,
    summarize,
    t_quantile_975,
)

__all__ = [
    "CONFIG_FILE",
    "RUN_ERROR_FILE",
    "BenchmarkResult",
    "RunSpec",
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
