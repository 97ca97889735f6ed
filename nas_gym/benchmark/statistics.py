"""The benchmark's statistics, recomputed from the run folders' histories.

:func:`summarize` reads a benchmark folder back and returns, per method, the
mean and 95 % confidence interval (the percentile bootstrap over seeds,
:func:`interval`, as a suite's aggregates use) of the best reward and of the
test accuracy and latency of the best-validation architecture; with a
table, the regret against the table's optimum (:func:`table_reference`) and the
evaluations needed to reach its top 1 %; with latency in play, the
hypervolume (:func:`hypervolume`) as a fraction of the reference front's
(:func:`pareto_front`).

Definitions used throughout (and checked by the tests against the histories):

- *best reward* of a run: the largest ``reward`` in its history;
- *best-validation architecture*: the first history record with the largest
  ``val_accuracy``; its ``test_accuracy`` and ``latency_ms`` are reported;
- on a regression task, *best validation MSE*: the smallest ``val_mse`` in the
  history, and the ``test_mse`` of the first record that has it;
- *regret*: table optimum of the reward (the env's reward function applied
  to every table row) minus the run's best reward;
- *evaluations to top 1 %*: 1 + the first history index whose best-so-far
  reward reaches the 99th percentile of the table's rewards; a run that never
  does counts as more than the budget (so the median can read "> budget");
- *hypervolume* (maximise validation accuracy, minimise latency): area
  dominated by a run's non-dominated set up to the reference point
  (latency = 1.1 x the largest latency in the table, or among all evaluated
  architectures without one; accuracy = 0), divided by that of the reference
  front (the table's, or without a table the non-dominated set of every
  architecture any method evaluated); a method's figure is the mean over its
  seeds of the per-run fractions.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas_gym.benchmark import describe
from nas_gym.benchmark.layout import CONFIG_FILE, RUN_ERROR_FILE, run_folder
from nas_gym.error import ConfigError
from nas_gym.multi_objective.pareto import hypervolume, pareto_front
from nas_gym.search.folder import RunFolder

# Two-sided 95 % Student t quantiles t_{0.975, df} for df = 1..30, used when
# scipy (in the ``dev`` extra) is not installed; beyond 30 the normal 1.96 is
# within 2 % of the exact value.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)


#: What a figure can be, ``(low, high)``; an infinite end where it is unbounded.
Bounds = tuple[float, float]
UNBOUNDED: Bounds = (-math.inf, math.inf)
#: Accuracies (fractions; an R² clipped at 0), hypervolume fractions of a front that dominates the runs'.
UNIT: Bounds = (0.0, 1.0)
#: Latencies, MSEs and other figures that cannot be negative.
NON_NEGATIVE: Bounds = (0.0, math.inf)
#: The reference front's source without a table: every architecture any method evaluated.
ALL_EVALUATED = "all evaluated architectures"


# -- statistics of numbers --------------------------------------------------------
def t_quantile_975(df: int) -> float:
    """Two-sided 95 % Student t quantile ``t_{0.975, df}`` (scipy when installed, else a table).

    >>> round(t_quantile_975(4), 3)
    2.776
    """
    try:
        from scipy import stats
    except ImportError:
        return _T975[df - 1] if df <= len(_T975) else 1.96
    return float(stats.t.ppf(0.975, df))


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95 % confidence interval, ``t_{0.975,n-1} * sd / sqrt(n)``.

    The half-width is NaN for fewer than two values; both are NaN for none.
    None values are left out.

    >>> mean, ci = mean_ci([1.0, 2.0, 3.0])
    >>> mean, round(ci, 2)
    (2.0, 2.48)
    >>> mean_ci([5.0, None])
    (5.0, nan)
    """
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    if len(x) == 1:
        return float(x[0]), math.nan
    return float(x.mean()), t_quantile_975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))


# -- statistics of the run folders ------------------------------------------------
def run_figures(
    history: list[dict[str, Any]], budget_epochs: int | None = None, max_epochs: int | None = None
) -> dict[str, Any]:
    """Per-run figures from a history: best reward, best-validation record, best-so-far curve.

    Only full-fidelity evaluations count (no ``epochs``, or the full budget
    ``max_epochs``): a short training's score is not a result. The curve is
    the best reward after each evaluation, or with ``budget_epochs`` after
    each epoch trained 1..``budget_epochs`` (NaN before the first full one).
    """
    is_full = [r.get("epochs") in (None, max_epochs) for r in history]
    full = [r for r, f in zip(history, is_full, strict=True) if f]
    if not full:
        length = len(history) if budget_epochs is None else budget_epochs
        return {"best_reward": math.nan, "test_accuracy": None, "latency_ms": None,
                "curve": np.full(length, math.nan)}
    reward = np.array([r["reward"] for r in full], dtype=float)
    val = np.array([r["val_accuracy"] for r in full], dtype=float)
    best_val = full[int(np.argmax(val))]  # argmax returns the first of ties
    # The best full-fidelity reward after each evaluation (-inf before the first).
    best = np.maximum.accumulate([r["reward"] if f else -math.inf for r, f in zip(history, is_full, strict=True)])
    if budget_epochs is None:
        curve = best
    else:
        used = np.cumsum([r.get("epochs_trained") or 0 for r in history])
        # After e epochs: the best of the evaluations whose epochs were all spent by then.
        at = np.searchsorted(used, np.arange(1, budget_epochs + 1), side="right") - 1
        curve = np.where(at >= 0, best[np.clip(at, 0, None)], -math.inf)
    curve[~np.isfinite(curve)] = math.nan
    figures = {
        "best_reward": float(reward.max()),
        "test_accuracy": best_val["test_accuracy"],
        "latency_ms": best_val["latency_ms"],
        "curve": curve,
    }
    mse = [(r["val_mse"], i) for i, r in enumerate(full) if r.get("val_mse") is not None]
    if mse:  # a regression task: the lowest validation MSE, and the test MSE of the record that has it
        best_mse, at = min(mse)
        figures.update(best_val_mse=float(best_mse), test_mse=full[at].get("test_mse"))
    return figures


def is_finished(summary: dict[str, Any], evaluations: int) -> bool:
    """Whether a run spent its whole budget: every evaluation, or (with an epochs budget) its epochs."""
    done = summary.get("num_evaluated")
    if done != evaluations:
        return False
    epochs = summary.get("budget_epochs")
    if epochs is not None and (summary.get("epochs_trained") or 0) >= epochs:
        return True
    return done == summary.get("budget")


#: :func:`table_reference` by its arguments: a report reads each env's table once per process.
_TABLE_REFERENCES: dict[str, dict[str, Any]] = {}


def table_reference(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the env is and what its table says (computed once per process for the same arguments).

    Always: the env's readable ``title``, whether its accuracy is a regression's R²
    (``regression``), its ``reward_range`` (:mod:`nas_gym.benchmark.describe`; on a table
    that scores the runs, the range of the table's rewards) and whether a table scores it
    (``scored_by_table``). With a table: every row's reward, val accuracy and latency.
    """
    key = json.dumps([env_id, env_kwargs], sort_keys=True, default=str)
    if key not in _TABLE_REFERENCES:
        _TABLE_REFERENCES[key] = _compute_table_reference(env_id, env_kwargs)
    return _TABLE_REFERENCES[key]


def _compute_table_reference(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    import gymnasium as gym

    import nas_gym  # noqa: F401  (registers the envs)
    from nas_gym.evaluators.table import TableEvaluator

    env = gym.make(env_id, **env_kwargs)
    try:
        parts = env.unwrapped.parts
        table, reward_fn = parts.table, parts.reward
        latency_weight = reward_fn.latency_weight
        info: dict[str, Any] = {
            "latency_weight": latency_weight, "max_epochs": parts.evaluator.max_epochs(),
            "title": describe.env_title(parts), "regression": describe.is_regression(parts),
            "reward_range": describe.reward_range(parts),
            "reward_range_source": f"what the {reward_fn.name} reward can be",
            "scored_by_table": isinstance(parts.evaluator, TableEvaluator),
        }
        if table is None:
            return info
        val = np.asarray(table.column(table.roles["val"]), dtype=float)
        lat_name = table.roles["latency"]
        lat = None if lat_name is None else np.asarray(table.column(lat_name), dtype=float)
        info.update(
            table_path=str(table.path), rows=len(table), exhaustive=bool(table.is_exhaustive), val=val, latency=lat,
            uniform=bool(table.is_exhaustive) and len(table) == int(np.prod(parts.space.nvec)),
        )
        # With latency measured on this host the reward is not a function of the table.
        if lat is not None or latency_weight == 0 or parts.latency_model is None:
            rewards = np.array([
                reward_fn(v, None if lat is None else lat[i]) for i, v in enumerate(val)
            ])
            best = int(rewards.argmax())
            info.update(
                rewards=rewards, optimum_reward=float(rewards[best]), optimum_arch=str(table.arch_at(best)),
                top1_threshold=float(np.percentile(rewards, 99)),
            )
            if info["scored_by_table"] and parts.latency_limit_ms is None and parts.params_limit is None:
                # Every reward a run can earn is one of the table's: the tightest range there is.
                info["reward_range"] = (float(np.nanmin(rewards)), float(rewards[best]))
                info["reward_range_source"] = "the range of the table's rewards"
        return info
    finally:
        env.close()


def clipped_interval(mean: float, ci: float, bounds: Bounds = UNBOUNDED) -> tuple[float, float]:
    """The interval ``mean ± ci`` clipped to ``bounds``, what the figure can be; NaN ends where ``ci`` is NaN.

    A t-interval over few seeds can run past what is possible (an accuracy
    above 1); for users of :func:`mean_ci` (the summaries use bootstrap
    intervals, :func:`interval`).

    >>> [round(end, 4) for end in clipped_interval(0.7635, 0.6671, (0.0, 1.0))]
    [0.0964, 1.0]
    """
    if math.isnan(ci):
        return math.nan, math.nan
    low, high = bounds
    return max(mean - ci, low), min(mean + ci, high)


#: Bootstrap replicates of a summary's intervals (rliable's count for aggregates) and of its curves' bands.
INTERVAL_REPS = 50_000
CURVE_REPS = 2_000


def interval(values: Sequence[float | None], bounds: Bounds = UNBOUNDED) -> dict[str, Any]:
    """Mean and 95 % bootstrap interval of the given values (None and non-finite ones left out), clipped to ``bounds``.

    The interval is the percentile bootstrap of the mean over seeds
    (:func:`nas_gym.benchmark.aggregate.bootstrap_ci` with one task: the same
    definition and draws as a suite's aggregates). It lies within the values'
    own range, so a figure that cannot pass a bound never gets an interval
    past it; the clip to ``bounds`` only guards that.

    Args:
        values: One figure per seed (None where a run has none).
        bounds: What the figure can be, ``(low, high)``; infinite ends for none.

    Returns:
        ``{"mean", "low", "high", "range", "n", "values"}``; ``low``/``high``
        are NaN for fewer than two values (one run tells nothing of the spread).

    >>> stat = interval([0.711, 0.816], UNIT)  # two seeds: the interval is the two values
    >>> stat["mean"], stat["low"], stat["high"]
    (0.7635, 0.711, 0.816)
    """
    from nas_gym.benchmark.aggregate import bootstrap_ci
    from nas_gym.benchmark.aggregate import mean as mean_of

    given = [float(v) for v in values if v is not None and math.isfinite(v)]
    mean, low, high = (float(np.mean(given)) if given else math.nan), math.nan, math.nan
    if len(given) >= 2:
        _, low, high = bootstrap_ci(np.asarray(given)[:, None], mean_of, reps=INTERVAL_REPS)
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "low": low, "high": high, "range": list(bounds), "n": len(given),
            "values": [None if v is None else float(v) for v in values]}


def curve_band(curves: np.ndarray, bounds: Bounds = UNBOUNDED, *, reps: int = CURVE_REPS,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs of best-so-far curves ``(runs, points)`` and its 95 % bootstrap band, clipped to ``bounds``.

    Every point uses the same resampled runs (a replicate is a set of whole
    runs), as :func:`interval` resamples them; NaN where a run has none yet.
    """
    n, points = curves.shape
    mean = curves.mean(axis=0) if n else np.full(points, math.nan)
    if n < 2:
        return mean, np.full(points, math.nan), np.full(points, math.nan)
    rng = np.random.RandomState(seed)
    draws = np.empty((reps, points))
    chunk = max(1, 2_000_000 // max(1, n * points))
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        draws[start:start + k] = curves[rng.choice(n, (k, n), replace=True)].mean(axis=1)
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    return mean, np.clip(low, *bounds), np.clip(high, *bounds)


def summarize(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Statistics of a benchmark folder, recomputed from the run histories.

    Only finished runs (full budget) of the methods and seeds in
    ``benchmark.json`` count.

    Args:
        out_dir: A folder written by ``nas-gym benchmark``.

    Returns:
        A JSON-ready dict: the config, the env's readable ``title``, whether
        its accuracy is a regression's R² (``regression``), its
        ``reward_range``, the table reference (optimum, top-1 % threshold,
        exhaustive), whether latency is in play, and under ``methods`` one
        entry per method with ``runs``, ``seeds`` and, each as
        :func:`interval` returns it (``low``/``high`` the 95 % bootstrap
        interval, within the figure's ``range``),
        ``best_reward``, ``test_accuracy`` (of the best-validation
        architecture), ``latency_ms`` (of the same), ``regret``,
        ``hv_fraction`` and on regression tasks ``best_val_mse`` and
        ``test_mse``; ``evals_to_top1`` as ``{"values", "median",
        "reached"}`` (``None`` = never reached); ``curve`` as ``{"mean",
        "low", "high"}`` per number of evaluations (:func:`curve_band`). With several env settings:
        ``{"settings": {name: summary}}``.

    Raises:
        ConfigError: ``out_dir`` holds no ``benchmark.json``.
    """
    out = Path(out_dir)
    config_path = out / CONFIG_FILE
    if not config_path.is_file():
        raise ConfigError(f"{out} holds no {CONFIG_FILE}; expected a folder written by `nas-gym benchmark`.")
    config = json.loads(config_path.read_text())
    if "settings" in config:
        return {"settings": {name: summarize(out / name) for name in config["settings"]}}
    return summarize_setting(out, config)[0]


def summarize_setting(out: Path, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary of one env setting's folder, and the data its plots need.

    Args:
        out: The env setting's folder (the benchmark folder with one setting).
        config: Its ``benchmark.json``.

    Returns:
        What :func:`summarize` returns for one setting, and a dict of
        ``histories`` (``{agent: {seed: history}}`` of the finished runs), the
        table reference ``ref`` and the reference front ``pareto`` (empty
        without latency in play).
    """
    budget = config["budget"]
    ref = table_reference(config["env_id"], config["env_kwargs"])
    histories: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for agent in config["agents"]:
        histories[agent] = {}
        for seed in config["seeds"]:
            path = run_folder(out, agent, seed)
            folder = RunFolder(path)
            summary = folder.read_summary()
            if summary is None or (path / RUN_ERROR_FILE).exists():  # a method that raised gave no result
                continue
            history = folder.read_history()
            if is_finished(summary, len(history)):
                histories[agent][seed] = history

    records = [r for runs in histories.values() for h in runs.values() for r in h]
    has_latency = any(r["latency_ms"] is not None for r in records)
    latency_in_play = has_latency and (ref["latency_weight"] > 0 or ref.get("latency") is not None)
    pareto: dict[str, Any] = {}
    if latency_in_play:
        pareto = _pareto_reference(ref, records)

    reward_bounds: Bounds = ref["reward_range"]
    # A run scored by the table can do no better than the table's optimum, nor worse than the worst reward.
    regret_bounds: Bounds = UNBOUNDED
    if "optimum_reward" in ref and ref["scored_by_table"]:
        regret_bounds = (0.0, ref["optimum_reward"] - reward_bounds[0])
    # A run's front is dominated by a reference front that holds every architecture it could evaluate.
    hv_bounds = UNIT if ref["scored_by_table"] or pareto.get("front_source") == ALL_EVALUATED else NON_NEGATIVE
    methods: dict[str, Any] = {}
    budget_epochs = config.get("budget_epochs")
    for agent, runs in histories.items():
        figures = {seed: run_figures(h, budget_epochs, ref.get("max_epochs")) for seed, h in runs.items()}
        entry: dict[str, Any] = {
            "runs": len(runs),
            "seeds": sorted(runs),
            "best_reward": interval([f["best_reward"] for f in figures.values()], reward_bounds),
            "test_accuracy": interval([f["test_accuracy"] for f in figures.values()], UNIT),
            "latency_ms": interval([f["latency_ms"] for f in figures.values()], NON_NEGATIVE),
        }
        if any("best_val_mse" in f for f in figures.values()):
            entry["best_val_mse"] = interval([f.get("best_val_mse") for f in figures.values()], NON_NEGATIVE)
            entry["test_mse"] = interval([f.get("test_mse") for f in figures.values()], NON_NEGATIVE)
        if "optimum_reward" in ref:
            entry["regret"] = interval([ref["optimum_reward"] - f["best_reward"] for f in figures.values()],
                                       regret_bounds)
            evals = []
            for f in figures.values():
                hit = np.flatnonzero(f["curve"] >= ref["top1_threshold"])
                evals.append(int(hit[0]) + 1 if len(hit) else None)
            median = float(np.median([math.inf if e is None else e for e in evals])) if evals else math.nan
            entry["evals_to_top1"] = {
                "values": evals, "median": median if math.isfinite(median) else None,
                "reached": sum(e is not None for e in evals),
            }
        if latency_in_play:
            fractions = []
            for h in runs.values():
                lat = np.array([math.inf if r["latency_ms"] is None else r["latency_ms"] for r in h])
                acc = np.array([r["val_accuracy"] for r in h])
                fractions.append(hypervolume(lat, acc, pareto["ref_latency_ms"]) / pareto["front_hv"])
            entry["hv_fraction"] = interval(fractions, hv_bounds)
        length = budget if budget_epochs is None else budget_epochs
        curves = np.array([f["curve"] for f in figures.values()]) if figures else np.empty((0, length))
        mean, low, high = curve_band(curves, reward_bounds)
        entry["curve"] = {"mean": mean.tolist(), "low": low.tolist(), "high": high.tolist()}
        methods[agent] = entry

    summary = {
        "env_id": config["env_id"], "title": ref["title"], "regression": ref["regression"],
        "reward_range": list(reward_bounds), "reward_range_source": ref["reward_range_source"],
        "env_kwargs": config["env_kwargs"], "budget": budget,
        "budget_epochs": budget_epochs, "seeds": config["seeds"], "agents": config["agents"],
        "agent_kwargs": config.get("agent_kwargs", {}),
        "command": config.get("command"),
        "table": None if "rows" not in ref else {
            k: ref.get(k) for k in ("table_path", "rows", "exhaustive", "optimum_reward", "optimum_arch",
                                    "top1_threshold")
        },
        "latency_in_play": latency_in_play,
        "pareto": {k: v for k, v in pareto.items() if k in ("ref_latency_ms", "front_hv", "front_source")},
        "methods": methods,
    }
    return summary, {"histories": histories, "ref": ref, "pareto": pareto}


def _pareto_reference(ref: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Reference point and front: the table's where it has latency, else all evaluated architectures'."""
    if ref.get("latency") is not None:
        lat, acc = ref["latency"], ref["val"]
        source = "table (exhaustive)" if ref["exhaustive"] else "table (not exhaustive)"
    else:
        seen = [r for r in records if r["latency_ms"] is not None]
        lat = np.array([r["latency_ms"] for r in seen], dtype=float)
        acc = np.array([r["val_accuracy"] for r in seen], dtype=float)
        source = ALL_EVALUATED
    ref_latency_ms = 1.1 * float(lat.max())
    front = pareto_front(lat, acc)
    return {
        "ref_latency_ms": ref_latency_ms, "front_hv": hypervolume(lat, acc, ref_latency_ms),
        "front_source": source, "front": (lat[front], acc[front]),
        "all": (lat, acc) if ref.get("latency") is not None else None,
    }
