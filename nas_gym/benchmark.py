"""Benchmark runner: a grid of search methods x seeds (x env settings), one budget, and its statistics.

:func:`run_benchmark` runs every (env setting, method, seed) as one
:func:`nas_gym.search.run_search` in its own process and writes the run
folders ``OUT/{agent}/seed{S}/`` exactly as ``nas-gym search`` does, so
TensorBoard pointed at ``OUT`` shows ``agent/seedS`` side by side. With
several env settings each gets a subfolder ``OUT/{setting}/`` holding a
complete benchmark of its own.

It is resumable: a run folder whose ``summary.json`` and ``history.jsonl``
both show the full budget is finished and skipped; any other run folder is
left over from an interrupted or failed run. It is continued in place where
:mod:`nas_gym.search` can resume it (its ``run.json`` matches this run), and
otherwise removed and redone.

:func:`write_report` (called at the end of every benchmark) reads the
histories back and writes, next to the run folders:

- ``summary.md`` and ``summary.json``: per method, mean and 95 % confidence
  interval (Student t) of the best reward, of the test accuracy and latency
  of the best-validation architecture; with a table, the regret against the
  table's optimum and the evaluations needed to reach its top 1 %; with
  latency in play, the hypervolume as a fraction of the reference front's.
- ``curves.png``: best-so-far reward against architectures evaluated.
- ``pareto.png`` (latency in play): evaluated architectures, each method's
  non-dominated set and the reference front.

Definitions used throughout (and checked by the tests against the histories):

- *best reward* of a run: the largest ``reward`` in its history;
- *best-validation architecture*: the first history record with the largest
  ``val_accuracy``; its ``test_accuracy`` and ``latency_ms`` are reported;
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

import concurrent.futures as cf
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas_gym.error import ConfigError, unknown_name
from nas_gym.parallel import BACKENDS, die_with_parent, import_ray

logger = logging.getLogger(__name__)

CONFIG_FILE = "benchmark.json"
RUN_ERROR_FILE = "error.txt"

# Two-sided 95 % Student t quantiles t_{0.975, df} for df = 1..30, used when
# scipy (in the ``dev`` extra) is not installed; beyond 30 the normal 1.96 is
# within 2 % of the exact value.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)


# -- statistics ------------------------------------------------------------------
def t_quantile_975(df: int) -> float:
    """Two-sided 95 % Student t quantile ``t_{0.975, df}`` (scipy when installed, else a table)."""
    try:
        from scipy import stats
    except ImportError:
        return _T975[df - 1] if df <= len(_T975) else 1.96
    return float(stats.t.ppf(0.975, df))


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95 % confidence interval, ``t_{0.975,n-1} * sd / sqrt(n)``.

    The half-width is NaN for fewer than two values; both are NaN for none.
    """
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    if len(x) == 1:
        return float(x[0]), math.nan
    return float(x.mean()), t_quantile_975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))


def pareto_front(latency_ms: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (minimise latency, maximise accuracy), by latency.

    Of points with equal coordinates only the first is kept.
    """
    latency_ms, accuracy = np.asarray(latency_ms, float), np.asarray(accuracy, float)
    order = np.lexsort((-accuracy, latency_ms))  # latency ascending, then accuracy descending
    front, best = [], -math.inf
    for i in order:
        if accuracy[i] > best:
            front.append(int(i))
            best = accuracy[i]
    return np.asarray(front, dtype=int)


def hypervolume(
    latency_ms: np.ndarray, accuracy: np.ndarray, ref_latency_ms: float, ref_accuracy: float = 0.0
) -> float:
    """Area dominated by the points up to the reference point (minimise latency, maximise accuracy).

    Points beyond the reference latency or below the reference accuracy add nothing.
    """
    latency_ms, accuracy = np.asarray(latency_ms, float), np.asarray(accuracy, float)
    keep = (latency_ms < ref_latency_ms) & (accuracy > ref_accuracy)
    latency_ms, accuracy = latency_ms[keep], accuracy[keep]
    if len(latency_ms) == 0:
        return 0.0
    idx = pareto_front(latency_ms, accuracy)
    lat, acc = latency_ms[idx], accuracy[idx]
    # On the front accuracy rises with latency, so between consecutive points
    # the dominated height is the accuracy of the faster one.
    widths = np.diff(np.append(lat, ref_latency_ms))
    return float(np.sum(widths * (acc - ref_accuracy)))


# -- run folders ------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: what :func:`nas_gym.search.run_search` is called with."""

    agent: str
    seed: int
    env_id: str
    env_kwargs: dict[str, Any]
    budget: int
    agent_kwargs: dict[str, Any]
    out_dir: str
    #: Architectures the run evaluates at once (``run_search(workers=...)``).
    eval_workers: int = 1
    backend: str = "local"
    ray_address: str | None = None


def run_folder(out_dir: str | os.PathLike, agent: str, seed: int) -> Path:
    """The folder of one run: ``out_dir/{agent}/seed{seed}``."""
    return Path(out_dir) / agent / f"seed{seed}"


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def run_state(folder: Path, spec: RunSpec, hparams: dict[str, Any]) -> str:
    """``"missing"``, ``"finished"`` or ``"unfinished"``: what a run folder holds.

    Finished means ``summary.json`` exists and it and ``history.jsonl`` show
    the run's whole budget, which must be ``spec.budget``.

    Raises:
        ConfigError: The folder holds a finished run with other settings
            (env, budget or hyperparameters), which must not be silently
            mixed into, or deleted by, this benchmark.
    """
    if not folder.exists():
        return "missing"
    summary_path, history_path = folder / "summary.json", folder / "history.jsonl"
    if not summary_path.is_file() or not history_path.is_file():
        return "unfinished"
    try:
        summary = json.loads(summary_path.read_text())
    except json.JSONDecodeError:
        return "unfinished"
    own_budget = summary.get("budget")
    if summary.get("num_evaluated") != own_budget or _count_lines(history_path) != own_budget:
        return "unfinished"
    wanted = {"env_id": spec.env_id, "env_kwargs": spec.env_kwargs, "budget": spec.budget, "hparams": hparams}
    differing = [k for k, v in wanted.items() if _plain(summary.get(k)) != _plain(v)]
    if differing:
        details = "; ".join(f"{k}: folder has {summary.get(k)!r}, asked for {wanted[k]!r}" for k in differing)
        raise ConfigError(
            f"{folder} holds a finished run with other settings ({details}). "
            "Benchmark into another --out folder, or delete that run folder to redo it."
        )
    return "finished"


def _resumable(folder: Path, spec: RunSpec, hparams: dict[str, Any]) -> bool:
    """Whether an unfinished run folder can be continued in place rather than redone.

    Only folders written by a :mod:`nas_gym.search` that resumes mid-way (it
    leaves ``run.json``) for exactly this run qualify; older run folders hold
    no such record and appending to them would corrupt their history.
    """
    meta_path = folder / "run.json"
    if not meta_path.is_file():
        return False
    meta = {"env_id": spec.env_id, "env_kwargs": spec.env_kwargs, "agent": spec.agent, "seed": spec.seed,
            "hparams": hparams}
    try:
        return json.loads(meta_path.read_text()) == json.loads(json.dumps(meta, default=str))
    except json.JSONDecodeError:
        return False


def _run_one(spec: RunSpec) -> float:
    """Worker: one search run into its folder; returns its wall seconds."""
    import torch

    # Runs fill the cores side by side; torch's own thread pool would oversubscribe them.
    torch.set_num_threads(1)
    import nas_gym  # noqa: F401  (registers the envs in a spawned process)
    from nas_gym import search

    folder = run_folder(spec.out_dir, spec.agent, spec.seed)
    (folder / RUN_ERROR_FILE).unlink(missing_ok=True)

    def run() -> dict[str, Any]:
        return search.run_search(
            spec.agent, spec.env_id, spec.env_kwargs, budget=spec.budget, seed=spec.seed,
            out_dir=folder, agent_kwargs=spec.agent_kwargs, progress=False, workers=spec.eval_workers,
            backend=spec.backend, ray_address=spec.ray_address,
        )

    try:
        try:
            summary = run()
        except getattr(search, "ResumeError", ()) as e:
            # The method did not replay its recorded history (not deterministic): start over.
            logger.warning("%s; redoing %s from scratch.", e, folder)
            shutil.rmtree(folder)
            summary = run()
    except BaseException:
        # Kept for the user; the folder counts as unfinished and is redone next time.
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RUN_ERROR_FILE).write_text(traceback.format_exc())
        raise
    return float(summary["wall_s"])


# -- the runner -------------------------------------------------------------------
@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` did.

    Attributes:
        out_dir: The benchmark folder.
        ran: ``(setting, agent, seed)`` of the runs done now.
        skipped: ``(setting, agent, seed)`` of runs already finished before.
        failed: ``(setting, agent, seed, error message)`` of runs that raised.
        summary: What :func:`summarize` returned (per setting when several).
    """

    out_dir: Path
    ran: list[tuple[str, str, int]] = field(default_factory=list)
    skipped: list[tuple[str, str, int]] = field(default_factory=list)
    failed: list[tuple[str, str, int, str]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def setting_names(settings: Sequence[dict[str, Any]]) -> list[str]:
    """Folder names for env settings: the keys that differ (where given), as ``key=value`` joined by commas."""
    if len(settings) == 1:
        return [""]
    keys = sorted({k for s in settings for k in s})
    differing = [k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s in settings}) > 1]
    names = []
    for s in settings:
        text = ",".join(f"{k}={json.dumps(s[k], sort_keys=True)}" for k in differing if s.get(k) is not None)
        names.append(re.sub(r"[^A-Za-z0-9._=,+-]", "", text)[:100] or "base")
    if len(set(names)) < len(names):
        names = [f"setting{i}" for i in range(len(settings))]
    return names


def _check_agents(agents: Sequence[str], agent_kwargs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Load every method and build it with its kwargs now, so typos fail before any run; return hparams."""
    from nas_gym.error import did_you_mean
    from nas_gym.search import load_searcher

    if not agents:
        raise ConfigError("No methods given; pass --agents random,evolution,... (comma-separated).")
    if len(set(agents)) != len(agents):
        raise ConfigError(f"Methods must be given once each, got {list(agents)}.")
    extra = sorted(set(agent_kwargs) - set(agents))
    if extra:
        raise ConfigError(
            f"agent kwargs name methods {extra} that are not benchmarked ({', '.join(agents)})."
            f"{did_you_mean(extra[0], agents)} Key the JSON by method name, e.g. '{{\"darts\": {{...}}}}'."
        )
    for name, kwargs in agent_kwargs.items():
        if not isinstance(kwargs, dict):
            raise ConfigError(f"agent kwargs for {name!r} must be a JSON object of hyperparameters, got {kwargs!r}.")
    return {a: _plain(load_searcher(a)(**agent_kwargs.get(a, {})).hparams()) for a in agents}


def run_benchmark(
    agents: Sequence[str],
    env_id: str,
    env_kwargs: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    *,
    seeds: int | Sequence[int] = 10,
    budget: int = 100,
    out_dir: str | os.PathLike,
    workers: int | None = None,
    agent_kwargs: dict[str, dict[str, Any]] | None = None,
    command: str | None = None,
    progress: bool = True,
    eval_workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
) -> BenchmarkResult:
    """Run every method with every seed (on every env setting) and write the report.

    Args:
        agents: Method names, as for ``nas-gym search --agent``.
        env_id: A registered env id.
        env_kwargs: Env keyword arguments, or a list of them for a grid of env settings.
        seeds: Number of seeds (``0 .. seeds-1``) or the seeds themselves.
        budget: Architectures each run evaluates.
        out_dir: Benchmark folder; runs already finished in it are kept.
        workers: Architectures evaluated at once in all; default ``os.cpu_count()``.
            ``workers // eval_workers`` runs go side by side, each in its own
            process (one run at a time runs in this process).
        agent_kwargs: Hyperparameters per method, e.g. ``{"darts": {"proxy_task": "digits"}}``.
        command: The command line, recorded in ``summary.md``.
        progress: Show a progress bar over runs.
        eval_workers: Architectures each run evaluates at once (its
            ``nas-gym search --workers``). Runs side by side are the cheapest
            parallelism for a benchmark of many runs; evaluation workers suit
            few long runs, or a Ray cluster.
        backend: Where each run's evaluations go: ``"local"`` processes or ``"ray"`` tasks.
        ray_address: ``HOST:PORT`` of a Ray cluster (``backend="ray"``); None starts Ray here.

    Returns:
        What ran, was skipped and failed, and the summary. Failed runs do not
        stop the others; the caller decides how to report them.

    Raises:
        ConfigError: Unknown method, bad kwargs, budget or seeds, or a run
            folder holding a finished run with other settings.
    """
    import gymnasium as gym

    import nas_gym  # noqa: F401  (registers the envs)

    agents = list(agents)
    agent_kwargs = dict(agent_kwargs or {})
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ConfigError(f"seeds must be a count ≥ 1 or distinct integers, got {seeds!r}.")
    if not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ConfigError(f"budget must be an integer ≥ 1 (architectures per run), got {budget!r}.")
    settings = [dict(env_kwargs or {})] if env_kwargs is None or isinstance(env_kwargs, dict) else list(env_kwargs)
    if not settings or not all(isinstance(s, dict) for s in settings):
        raise ConfigError(f"env_kwargs must be a JSON object or a non-empty list of them, got {env_kwargs!r}.")
    if workers is None:
        workers = os.cpu_count() or 1
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"workers must be an integer ≥ 1 (architectures evaluated at once), got {workers!r}.")
    if not isinstance(eval_workers, (int, np.integer)) or isinstance(eval_workers, bool) or eval_workers < 1:
        raise ConfigError(f"eval_workers must be an integer ≥ 1 (evaluations at once per run), got {eval_workers!r}.")
    if backend not in BACKENDS:
        raise unknown_name("backend", backend, BACKENDS)
    if backend == "ray":
        import_ray()  # without the extra, fail before any run starts
    elif ray_address is not None:
        raise ConfigError(f"A Ray address ({ray_address!r}) needs backend='ray' (--backend ray); got {backend!r}.")
    side_by_side = max(1, int(workers) // int(eval_workers))
    if backend == "ray" and ray_address is None:
        # Ray started here once, for every run in turn; side-by-side processes would each start their own.
        side_by_side = 1
    hparams = _check_agents(agents, agent_kwargs)
    for s in settings:
        gym.make(env_id, **s).close()  # a bad env setting fails here, not in every worker

    out = Path(out_dir)
    names = setting_names(settings)
    result = BenchmarkResult(out)
    todo: list[tuple[str, RunSpec]] = []
    for name, s in zip(names, settings, strict=True):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "env_id": env_id, "env_kwargs": s, "agents": agents, "seeds": seed_list, "budget": budget,
            "agent_kwargs": agent_kwargs, "command": command, "eval_workers": int(eval_workers),
            "backend": backend,
        }
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        for agent in agents:
            for seed in seed_list:
                spec = RunSpec(
                    agent, seed, env_id, s, int(budget), agent_kwargs.get(agent, {}), str(folder),
                    eval_workers=int(eval_workers), backend=backend, ray_address=ray_address,
                )
                # Raises for a folder of other settings, before anything below is deleted.
                state = run_state(run_folder(folder, agent, seed), spec, hparams[agent])
                if state == "finished":
                    result.skipped.append((name, agent, seed))
                else:
                    todo.append((name, spec))
    for _, spec in todo:
        folder = run_folder(spec.out_dir, spec.agent, spec.seed)
        if folder.exists() and not _resumable(folder, spec, hparams[spec.agent]):
            logger.info("Redoing unfinished run %s.", folder)
            shutil.rmtree(folder)
    if len(names) > 1:
        top = {
            "env_id": env_id, "settings": dict(zip(names, settings, strict=True)), "agents": agents,
            "seeds": seed_list, "budget": budget, "agent_kwargs": agent_kwargs, "command": command,
        }
        (out / CONFIG_FILE).write_text(json.dumps(top, indent=2))

    ray = None
    if backend == "ray" and ray_address is None and todo:
        ray = import_ray()
        if ray.is_initialized():
            ray = None  # the caller's Ray: runs use it, and it stays up
        else:
            ray.init(num_cpus=int(eval_workers), include_dashboard=False, logging_level=logging.WARNING)
    try:
        _run_all(todo, side_by_side, result, progress)
    finally:
        if ray is not None:
            ray.shutdown()
    result.summary = write_report(out)
    return result


def _run_all(todo: list[tuple[str, RunSpec]], workers: int, result: BenchmarkResult, progress: bool) -> None:
    from tqdm.auto import tqdm

    total = len(todo) + len(result.skipped)
    bar = tqdm(total=total, initial=len(result.skipped), unit="run", desc="benchmark", disable=not progress)

    def done(name: str, spec: RunSpec, error: BaseException | None) -> None:
        if error is None:
            result.ran.append((name, spec.agent, spec.seed))
        else:
            message = f"{type(error).__name__}: {error}"
            logger.error("Run %s seed %d failed: %s", spec.agent, spec.seed, message)
            result.failed.append((name, spec.agent, spec.seed, message))
        bar.update(1)
        bar.set_postfix(failed=len(result.failed))

    try:
        if workers == 1 or len(todo) <= 1:
            for name, spec in todo:
                try:
                    _run_one(spec)
                except Exception as e:  # a failing run must not stop the others
                    done(name, spec, e)
                else:
                    done(name, spec, None)
            return
        # spawn: a forked torch/tensorboard process can deadlock on inherited locks.
        context = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(
            max_workers=min(workers, len(todo)), mp_context=context, initializer=die_with_parent
        ) as pool:
            # Progress bars of methods (e.g. DARTS epochs) in parallel workers would garble
            # this one; spawned workers read TQDM_DISABLE from the environment they start with,
            # and the pool starts them all on the first submit.
            previous = os.environ.get("TQDM_DISABLE")
            os.environ["TQDM_DISABLE"] = "1"
            try:
                futures = {pool.submit(_run_one, spec): (name, spec) for name, spec in todo}
            finally:
                if previous is None:
                    del os.environ["TQDM_DISABLE"]
                else:
                    os.environ["TQDM_DISABLE"] = previous
            try:
                for future in cf.as_completed(futures):
                    done(*futures[future], future.exception())
            except BaseException:
                # Ctrl-C: a worker would go on with the runs already queued to it, so stop
                # them; their folders are unfinished and get redone (or resumed) next time.
                terminate = getattr(pool, "terminate_workers", None)  # Python ≥ 3.14
                if terminate is not None:
                    terminate()
                else:
                    # Before shutdown, which drops the pool's (private) table of processes.
                    processes = list((getattr(pool, "_processes", None) or {}).values())
                    pool.shutdown(wait=False, cancel_futures=True)
                    for process in processes:
                        process.terminate()
                raise
    finally:
        bar.close()


# -- statistics over the run folders ---------------------------------------------
def _load_history(folder: Path) -> list[dict[str, Any]]:
    with open(folder / "history.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_figures(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-run figures from a history: best reward, best-validation record, best-so-far curve."""
    reward = np.array([r["reward"] for r in history], dtype=float)
    val = np.array([r["val_accuracy"] for r in history], dtype=float)
    best_val = history[int(np.argmax(val))]  # argmax returns the first of ties
    return {
        "best_reward": float(reward.max()),
        "test_accuracy": best_val["test_accuracy"],
        "latency_ms": best_val["latency_ms"],
        "curve": np.maximum.accumulate(reward),
    }


def _reference(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the env's table says: every row's reward, val accuracy and latency (empty without a table)."""
    import gymnasium as gym

    import nas_gym  # noqa: F401  (registers the envs)

    env = gym.make(env_id, **env_kwargs)
    try:
        base = env.unwrapped
        table, reward_fn = getattr(base, "table", None), base.reward_fn
        latency_weight = reward_fn.latency_weight
        if table is None:
            return {"latency_weight": latency_weight}
        val = np.asarray(table.column(table.roles["val"]), dtype=float)
        lat_name = table.roles["latency"]
        lat = None if lat_name is None else np.asarray(table.column(lat_name), dtype=float)
        info: dict[str, Any] = {
            "latency_weight": latency_weight, "table_path": str(table.path), "rows": len(table),
            "exhaustive": bool(table.is_exhaustive), "val": val, "latency": lat,
        }
        # With latency measured on this host the reward is not a function of the table.
        if lat is not None or latency_weight == 0 or getattr(base, "latency_model", None) is None:
            rewards = np.array([
                reward_fn(v, None if lat is None else lat[i]) for i, v in enumerate(val)
            ])
            best = int(rewards.argmax())
            info.update(
                rewards=rewards, optimum_reward=float(rewards[best]), optimum_arch=str(table.arch_at(best)),
                top1_threshold=float(np.percentile(rewards, 99)),
            )
        return info
    finally:
        env.close()


def _stat(values: Sequence[float | None]) -> dict[str, Any]:
    given = [float(v) for v in values if v is not None and math.isfinite(v)]
    mean, ci = mean_ci(given)
    return {"mean": mean, "ci": ci, "n": len(given), "values": [None if v is None else float(v) for v in values]}


def summarize(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Statistics of a benchmark folder, recomputed from the run histories.

    Only finished runs (full budget) of the methods and seeds in
    ``benchmark.json`` count.

    Returns:
        A JSON-ready dict: the config, the table reference (optimum, top-1 %
        threshold, exhaustive), whether latency is in play, and under
        ``methods`` one entry per method with ``runs``, ``seeds`` and, each as
        ``{"mean", "ci", "n", "values"}`` (``ci`` the 95 % half-width),
        ``best_reward``, ``test_accuracy`` (of the best-validation
        architecture), ``latency_ms`` (of the same), ``regret`` and
        ``hv_fraction``; ``evals_to_top1`` as ``{"values", "median",
        "reached"}`` (``None`` = never reached); ``curve`` as ``{"mean",
        "ci"}`` per number of evaluations. With several env settings:
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
    return _summarize_setting(out, config)[0]


def _summarize_setting(out: Path, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary and the arrays the plots need."""
    budget = config["budget"]
    ref = _reference(config["env_id"], config["env_kwargs"])
    histories: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for agent in config["agents"]:
        histories[agent] = {}
        for seed in config["seeds"]:
            folder = run_folder(out, agent, seed)
            summary_path = folder / "summary.json"
            if not summary_path.is_file():
                continue
            history = _load_history(folder)
            if len(history) == budget and json.loads(summary_path.read_text()).get("num_evaluated") == budget:
                histories[agent][seed] = history

    records = [r for runs in histories.values() for h in runs.values() for r in h]
    has_latency = any(r["latency_ms"] is not None for r in records)
    latency_in_play = has_latency and (ref["latency_weight"] > 0 or ref.get("latency") is not None)
    pareto: dict[str, Any] = {}
    if latency_in_play:
        pareto = _pareto_reference(ref, records)

    methods: dict[str, Any] = {}
    for agent, runs in histories.items():
        figures = {seed: run_figures(h) for seed, h in runs.items()}
        entry: dict[str, Any] = {
            "runs": len(runs),
            "seeds": sorted(runs),
            "best_reward": _stat([f["best_reward"] for f in figures.values()]),
            "test_accuracy": _stat([f["test_accuracy"] for f in figures.values()]),
            "latency_ms": _stat([f["latency_ms"] for f in figures.values()]),
        }
        if "optimum_reward" in ref:
            entry["regret"] = _stat([ref["optimum_reward"] - f["best_reward"] for f in figures.values()])
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
            entry["hv_fraction"] = _stat(fractions)
        curves = np.array([f["curve"] for f in figures.values()]) if figures else np.empty((0, budget))
        stats = [mean_ci(curves[:, i]) for i in range(curves.shape[1])] if len(curves) else []
        entry["curve"] = {"mean": [m for m, _ in stats], "ci": [c for _, c in stats]}
        methods[agent] = entry

    summary = {
        "env_id": config["env_id"], "env_kwargs": config["env_kwargs"], "budget": budget,
        "seeds": config["seeds"], "agents": config["agents"], "agent_kwargs": config.get("agent_kwargs", {}),
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
        source = "all evaluated architectures"
    ref_latency_ms = 1.1 * float(lat.max())
    front = pareto_front(lat, acc)
    return {
        "ref_latency_ms": ref_latency_ms, "front_hv": hypervolume(lat, acc, ref_latency_ms),
        "front_source": source, "front": (lat[front], acc[front]),
        "all": (lat, acc) if ref.get("latency") is not None else None,
    }


# -- the report -------------------------------------------------------------------
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
        summary: What :func:`summarize` returns for one setting.
        heading: The first line; default ``# Benchmark: {env_id}``.
        image_prefix: Folder of the figures relative to the markdown file.
    """
    budget = summary["budget"]
    table = summary["table"]
    lines = [
        heading or f"# Benchmark: {summary['env_id']}",
        "",
        f"- env kwargs: `{json.dumps(summary['env_kwargs'], sort_keys=True)}`",
        f"- budget: {budget} architectures per run; seeds: {', '.join(map(str, summary['seeds']))}",
    ]
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
    columns = ["method", "runs", "best reward", "test acc of best-val (%)", "latency of best-val (ms)"]
    with_regret = table is not None and table.get("optimum_reward") is not None
    if with_regret:
        columns += ["regret", "median evals to top 1 %"]
    if summary["latency_in_play"]:
        columns.append("HV fraction")
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "|".join("-" * (len(c) + 2) for c in columns) + "|"]
    for agent, m in summary["methods"].items():
        cells = [agent, str(m["runs"]), _pm(m["best_reward"]), _pm(m["test_accuracy"], 100.0, 2),
                 _pm(m["latency_ms"], 1.0, 3)]
        if with_regret:
            top = m["evals_to_top1"]
            median = "—" if not top["values"] else (f"> {budget}" if top["median"] is None else f"{top['median']:g}")
            cells += [_pm(m["regret"]), f"{median} ({top['reached']}/{len(top['values'])} reached)"]
        if summary["latency_in_play"]:
            cells.append(_pm(m["hv_fraction"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Mean ± half-width of the 95 % confidence interval (Student t) over seeds. The best-validation "
        "architecture is the first evaluated one with the highest validation accuracy.",
    ]
    if with_regret:
        lines.append(
            "Regret: table optimum minus the run's best reward. Evaluations to top 1 %: architectures "
            f"evaluated until the best reward reached the threshold; runs that never did count as > {budget}."
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

    Returns:
        What :func:`summarize` returns.
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

    from nas_gym import plots

    summary, data = _summarize_setting(out, config)
    (out / "summary.md").write_text(format_summary_md(summary))
    (out / "summary.json").write_text(json.dumps(_json_safe(summary), indent=2))
    title = f"{summary['env_id']}, budget {summary['budget']}"
    optimum = None if summary["table"] is None else summary["table"].get("optimum_reward")
    curves = {a: (np.array(m["curve"]["mean"]), np.array(m["curve"]["ci"])) for a, m in summary["methods"].items()
              if m["runs"]}
    plots.plot_curves(curves, out / "curves.png", title=title, optimum=optimum)
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
