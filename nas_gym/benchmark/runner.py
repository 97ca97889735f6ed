"""The benchmark runner: a grid of search methods x seeds (x env settings), one budget, run in parallel and resumable.

:func:`run_benchmark` runs every (env setting, method, seed) as one
:func:`nas_gym.search.run_search` in its own process and writes the run
folders ``OUT/{agent}/seed{S}/`` exactly as ``nas-gym search`` does, so
TensorBoard pointed at ``OUT`` shows ``agent/seedS`` side by side. With
several env settings each gets a subfolder ``OUT/{setting}/`` holding a
complete benchmark of its own (see :mod:`nas_gym.benchmark.layout`). At the
end it writes the report (:func:`nas_gym.benchmark.report.write_report`).

It is resumable: a run folder whose ``summary.json`` and ``history.jsonl``
both show the full budget is finished and skipped (:func:`run_state`); any
other run folder is left over from an interrupted or failed run. It is
continued in place where :mod:`nas_gym.search.run` can resume it (its ``run.json``
holds this run's settings, :func:`nas_gym.search.folder.run_meta`), and
otherwise removed and redone.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import shutil
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas_gym.benchmark.layout import CONFIG_FILE, RUN_ERROR_FILE, run_folder, setting_names
from nas_gym.benchmark.report import write_report
from nas_gym.benchmark.statistics import is_finished
from nas_gym.error import ConfigError, did_you_mean, unknown_name
from nas_gym.search.budget import Budget
from nas_gym.search.folder import RunFolder, run_meta
from nas_gym.search.pools import BACKENDS, die_with_parent, import_ray
from nas_gym.search.searcher import agent_name, load_searcher

logger = logging.getLogger(__name__)


# -- run folders ------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: what :func:`nas_gym.search.run_search` is called with."""

    #: The method's name, or a user's :class:`~nas_gym.search.searcher.Searcher` class.
    agent: Any
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
    #: Epochs trained each run may spend (``Budget.epochs``); None: the budget is evaluations only.
    budget_epochs: int | None = None


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def run_state(folder: Path, spec: RunSpec, hparams: dict[str, Any]) -> str:
    """``"missing"``, ``"finished"`` or ``"unfinished"``: what a run folder holds.

    Finished means ``summary.json`` exists and it and ``history.jsonl`` show
    the run's whole budget, which must be ``spec.budget``, and the method did
    not raise (no ``error.txt``).

    Args:
        folder: The run folder.
        spec: The run asked for.
        hparams: Its method's hyperparameters (as ``Searcher.hparams()`` gives them).

    Returns:
        The state of the folder.

    Raises:
        ConfigError: The folder holds a finished run with other settings
            (env, budget or hyperparameters), which must not be silently
            mixed into, or deleted by, this benchmark.
    """
    if not folder.exists():
        return "missing"
    if (folder / RUN_ERROR_FILE).exists():
        return "unfinished"  # the method raised, perhaps after its last evaluation: not a result
    run = RunFolder(folder)
    summary = run.read_summary()
    if summary is None or not run.history_path.is_file():
        return "unfinished"
    if not is_finished(summary, run.count_evaluations()):
        return "unfinished"
    wanted = {"env_id": spec.env_id, "env_kwargs": spec.env_kwargs, "budget": spec.budget, "hparams": hparams,
              "budget_epochs": spec.budget_epochs}
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

    Only folders written by a :mod:`nas_gym.search.run` that resumes mid-way (it
    leaves ``run.json``) for exactly this run qualify; older run folders hold
    no such record and appending to them would corrupt their history.
    """
    return RunFolder(folder).read_meta() == run_meta(spec.env_id, spec.env_kwargs, spec.agent, spec.seed, hparams)


def _run_one(spec: RunSpec) -> float:
    """Worker: one search run into its folder; returns its wall seconds."""
    import nas_gym  # noqa: F401  (registers the envs in a spawned process)
    from nas_gym.utils.threads import one_torch_thread

    # Runs fill the cores side by side; torch's own thread pool would oversubscribe them.
    one_torch_thread()
    from nas_gym.search.resume import ResumeError
    from nas_gym.search.searcher import run_search

    folder = run_folder(spec.out_dir, agent_name(spec.agent), spec.seed)
    (folder / RUN_ERROR_FILE).unlink(missing_ok=True)

    def run() -> dict[str, Any]:
        return run_search(
            spec.agent, spec.env_id, spec.env_kwargs, budget=Budget(spec.budget, epochs=spec.budget_epochs),
            seed=spec.seed,
            out_dir=folder, agent_kwargs=spec.agent_kwargs, progress=False, workers=spec.eval_workers,
            backend=spec.backend, ray_address=spec.ray_address,
        )

    try:
        try:
            summary = run()
        except ResumeError as e:
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


# -- the grid ---------------------------------------------------------------------
@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` did.

    Attributes:
        out_dir: The benchmark folder.
        ran: ``(setting, agent, seed)`` of the runs done now.
        skipped: ``(setting, agent, seed)`` of runs already finished before.
        failed: ``(setting, agent, seed, error message)`` of runs that raised.
        summary: What :func:`~nas_gym.benchmark.statistics.summarize` returned (per setting when several).
    """

    out_dir: Path
    ran: list[tuple[str, str, int]] = field(default_factory=list)
    skipped: list[tuple[str, str, int]] = field(default_factory=list)
    failed: list[tuple[str, str, int, str]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def _check_agents(agents: Sequence[Any], agent_kwargs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Load every method and build it with its kwargs now, so typos fail before any run; return hparams by name."""
    if not agents:
        raise ConfigError("No methods given; pass --agents random,evolution,... (comma-separated).")
    names = [agent_name(a) for a in agents]
    if len(set(names)) != len(names):
        raise ConfigError(f"Methods must be given once each, got {names}.")
    extra = sorted(set(agent_kwargs) - set(names))
    if extra:
        raise ConfigError(
            f"agent kwargs name methods {extra} that are not benchmarked ({', '.join(names)})."
            f"{did_you_mean(extra[0], names)} Key the JSON by method name, e.g. '{{\"darts\": {{...}}}}'."
        )
    for name, kwargs in agent_kwargs.items():
        if not isinstance(kwargs, dict):
            raise ConfigError(f"agent kwargs for {name!r} must be a JSON object of hyperparameters, got {kwargs!r}.")
    return {
        n: _plain(load_searcher(a)(**agent_kwargs.get(n, {})).hparams()) for n, a in zip(names, agents, strict=True)
    }


@dataclass
class _Grid:
    """The checked settings every run of a grid shares, and the runs to do."""

    agents: list[Any]
    agent_kwargs: dict[str, dict[str, Any]]
    seeds: list[int]
    budget: int
    budget_epochs: int | None
    hparams: dict[str, dict[str, Any]]
    side_by_side: int
    eval_workers: int
    backend: str
    ray_address: str | None
    todo: list[tuple[str, RunSpec]] = field(default_factory=list)


def _grid(
    agents: Sequence[Any], agent_kwargs: dict[str, dict[str, Any]] | None, seeds: int | Sequence[int], budget: int,
    budget_epochs: int | None, workers: int | None, eval_workers: int, backend: str, ray_address: str | None,
) -> _Grid:
    """Check what every run shares (fails before any run starts) and how many runs go side by side."""
    agents = list(agents)
    agent_kwargs = dict(agent_kwargs or {})
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ConfigError(f"seeds must be a count ≥ 1 or distinct integers, got {seeds!r}.")
    Budget(budget, epochs=budget_epochs)  # a bad budget fails here, not in every run
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
    return _Grid(agents, agent_kwargs, seed_list, int(budget), budget_epochs, hparams, side_by_side,
                 int(eval_workers), backend, ray_address)


def _plan(grid: _Grid, result: BenchmarkResult, name: str, folder: Path, env_id: str, setting: dict[str, Any],
          command: str | None) -> None:
    """Write one env setting's ``benchmark.json`` and queue its runs that are not finished."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "env_id": env_id, "env_kwargs": setting, "agents": [agent_name(a) for a in grid.agents], "seeds": grid.seeds,
        "budget": grid.budget, "budget_epochs": grid.budget_epochs, "agent_kwargs": grid.agent_kwargs,
        "command": command, "eval_workers": grid.eval_workers, "backend": grid.backend,
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    for agent in grid.agents:
        key = agent_name(agent)
        for seed in grid.seeds:
            spec = RunSpec(
                agent, seed, env_id, setting, grid.budget, grid.agent_kwargs.get(key, {}), str(folder),
                eval_workers=grid.eval_workers, backend=grid.backend, ray_address=grid.ray_address,
                budget_epochs=grid.budget_epochs,
            )
            # Raises for a folder of other settings, before anything below is deleted.
            state = run_state(run_folder(folder, key, seed), spec, grid.hparams[key])
            if state == "finished":
                result.skipped.append((name, key, seed))
            else:
                grid.todo.append((name, spec))


def _execute(grid: _Grid, result: BenchmarkResult, progress: bool) -> None:
    """Clear what cannot be resumed, then run every queued run (side by side, or on Ray)."""
    for _, spec in grid.todo:
        key = agent_name(spec.agent)
        folder = run_folder(spec.out_dir, key, spec.seed)
        if folder.exists() and not _resumable(folder, spec, grid.hparams[key]):
            logger.info("Redoing unfinished run %s.", folder)
            shutil.rmtree(folder)
    ray = None
    if grid.backend == "ray" and grid.ray_address is None and grid.todo:
        ray = import_ray()
        if ray.is_initialized():
            ray = None  # the caller's Ray: runs use it, and it stays up
        else:
            ray.init(num_cpus=grid.eval_workers, include_dashboard=False, logging_level=logging.WARNING)
    try:
        _run_all(grid.todo, grid.side_by_side, result, progress)
    finally:
        if ray is not None:
            ray.shutdown()


def run_benchmark(
    agents: Sequence[str],
    env_id: str,
    env_kwargs: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    *,
    seeds: int | Sequence[int] = 10,
    budget: int = 100,
    budget_epochs: int | None = None,
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
        budget: Architectures each run evaluates (at most, with ``budget_epochs``).
        budget_epochs: Epochs trained each run may spend, so methods that train at several
            fidelities and those that train fully compare at equal training; the curves then
            have epochs trained as x. Needs an env that trains.
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

    grid = _grid(agents, agent_kwargs, seeds, budget, budget_epochs, workers, eval_workers, backend, ray_address)
    settings = [dict(env_kwargs or {})] if env_kwargs is None or isinstance(env_kwargs, dict) else list(env_kwargs)
    if not settings or not all(isinstance(s, dict) for s in settings):
        raise ConfigError(f"env_kwargs must be a JSON object or a non-empty list of them, got {env_kwargs!r}.")
    for s in settings:
        env = gym.make(env_id, **s)  # a bad env setting fails here, not in every worker
        trains = env.unwrapped.evaluator.max_epochs() is not None
        env.close()
        if budget_epochs is not None and not trains:
            raise ConfigError(f"--budget-epochs needs an env that trains (evaluator='train'); {env_id} with {s} "
                              "trains nothing.")

    out = Path(out_dir)
    names = setting_names(settings)
    result = BenchmarkResult(out)
    for name, s in zip(names, settings, strict=True):
        _plan(grid, result, name, out / name, env_id, s, command)
    if len(names) > 1:
        top = {
            "env_id": env_id, "settings": dict(zip(names, settings, strict=True)), "agents": list(grid.hparams),
            "seeds": grid.seeds, "budget": budget, "budget_epochs": budget_epochs, "agent_kwargs": grid.agent_kwargs,
            "command": command,
        }
        (out / CONFIG_FILE).write_text(json.dumps(top, indent=2))
    _execute(grid, result, progress)
    result.summary = write_report(out)
    return result


def _run_all(todo: list[tuple[str, RunSpec]], workers: int, result: BenchmarkResult, progress: bool) -> None:
    from tqdm.auto import tqdm

    total = len(todo) + len(result.skipped)
    bar = tqdm(total=total, initial=len(result.skipped), unit="run", desc="benchmark", disable=not progress)

    def done(name: str, spec: RunSpec, error: BaseException | None) -> None:
        key = agent_name(spec.agent)
        if error is None:
            result.ran.append((name, key, spec.seed))
        else:
            message = f"{type(error).__name__}: {error}"
            logger.error("Run %s seed %d failed: %s", key, spec.seed, message)
            result.failed.append((name, key, spec.seed, message))
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
