"""The search-run API: budget, seed, history, best-so-far and summary.

Every search method runs inside a :class:`SearchRun`. Methods that propose
whole architectures call :meth:`SearchRun.evaluate` (or
:meth:`~SearchRun.evaluate_many`, :meth:`~SearchRun.evaluate_stream`,
:meth:`~SearchRun.submit`/:meth:`~SearchRun.result`), which play them
through the env's ``reset``/``step``; RL methods step ``run.env``
themselves, and a wrapper reports every episode they complete. Either way
the reward comes from the env, and every evaluation becomes one
:class:`~nas_gym.env.evaluation.Evaluation` record.

A run is made of parts, each in its own module:

- the scheduler (:mod:`nas_gym.search.queue`): submitted evaluations, one
  explicit state each, handed to this process or to the evaluation pool
  (:mod:`nas_gym.search.pools`) and given back in submission order, whatever
  order the workers finish in, so a method that proposes in a fixed order
  writes the same history with any number of workers;
- the run folder (:mod:`nas_gym.search.folder`): lock, ``run.json``,
  ``history.jsonl``, ``summary.json``;
- the logger (:mod:`nas_gym.search.logger`): TensorBoard ``nas/*`` scalars
  against the number of architectures evaluated, and the progress bar;
- the replay (:mod:`nas_gym.search.resume`): resume is deterministic
  replay, not per-method checkpoints. Run again with the same arguments and
  the method starts over from its seed; each evaluation the history holds is
  checked against what the method proposes and scored by the env from the
  record, then the run carries on where it stopped;
- the tally (:mod:`nas_gym.search.summary`): best so far, search cost and
  epochs trained, and the Pareto front of ``summary.json``/``pareto.json``;
- the episode recorder (:mod:`nas_gym.search.episodes`): the wrapper
  around ``run.env`` that reports the episodes RL methods complete.

This module holds :class:`SearchRun`, which owns those parts, records each
evaluation in order and writes the summary, and :func:`run_search`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from nas_gym.env.evaluation import HISTORY_KEYS, Evaluation
from nas_gym.env.parts import EnvParts
from nas_gym.error import ArchitectureError, ConfigError
from nas_gym.evaluators.cached import CachedEvaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.search.budget import Budget
from nas_gym.search.episodes import RecordEpisodes
from nas_gym.search.folder import RunFolder, run_meta
from nas_gym.search.logger import RunLogger
from nas_gym.search.pools import EvaluationPool, make_pool, play
from nas_gym.search.queue import Actions, Scheduler
from nas_gym.search.resume import Replay, ResumeError
from nas_gym.search.summary import SUMMARY_KEYS, Tally, pareto_front
from nas_gym.spaces import Architecture, SearchSpace

__all__ = ["HISTORY_KEYS", "Budget", "BudgetExhausted", "ResumeError", "SearchRun"]

logger = logging.getLogger(__name__)

class BudgetExhausted(Exception):
    """Raised inside a run when an evaluation is asked for after the budget is spent."""


def _without_cache(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Env arguments other than ``cache`` (Ray workers run with ``cache=False``; the driver owns the cache)."""
    return {k: v for k, v in env_kwargs.items() if k != "cache"}


class SearchRun:
    """One search: env, budget, seed, history, best-so-far and summary.

    Args:
        env_id: A registered env id, e.g. ``"NAS-v0"``.
        env_kwargs: Keyword arguments for ``gym.make``.
        agent: Name of the search method (for logs and summary).
        seed: Seed of the run; methods draw all randomness from :attr:`rng`.
        budget: Architectures to evaluate, or a :class:`Budget`.
        out_dir: Run folder; None writes nothing to disk.
        hparams: Method hyperparameters, written once to TensorBoard and the summary.
        progress: Show a progress bar on the console.
        workers: Architectures evaluated at once; 1 (default, with the local
            backend) evaluates in this process.
        backend: ``"local"`` (worker processes on this machine) or ``"ray"``
            (Ray tasks; needs the ``ray`` extra).
        ray_address: Address ``HOST:PORT`` of a running Ray cluster; None
            with ``backend="ray"`` starts Ray on this machine.
        pool: An evaluation pool started earlier for this env (e.g. by
            :func:`nas_gym.search.pools.make_pool` before importing torch, so
            its workers start while this process imports); the run takes it
            over and closes it. ``workers``, ``backend`` and ``ray_address``
            are then ignored.

    Raises:
        ConfigError: ``pool`` was started for another env or other env arguments.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None = None,
        *,
        agent: str = "custom",
        seed: int = 0,
        budget: int | Budget = 100,
        out_dir: str | os.PathLike | None = None,
        hparams: dict[str, Any] | None = None,
        progress: bool = False,
        workers: int = 1,
        backend: str = "local",
        ray_address: str | None = None,
        pool: EvaluationPool | None = None,
    ):
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.agent = agent
        self.seed = int(seed)
        self.budget = budget if isinstance(budget, Budget) else Budget(budget)
        self.hparams = dict(hparams or {})
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.rng = np.random.default_rng(self.seed)
        self.history: list[dict[str, Any]] = []
        #: What a method adds to ``summary.json`` beyond the run's own figures (:meth:`add_to_summary`).
        self.extra_summary: dict[str, Any] = {}
        self._start = time.perf_counter()
        self.folder = None if self.out_dir is None else RunFolder(self.out_dir)
        try:
            meta = run_meta(env_id, self.env_kwargs, agent, self.seed, self.hparams)
            records = [] if self.folder is None else self.folder.open(meta)
            self._replay = Replay(records, self.out_dir, self.seed)
            self._replay.check_budget(self.budget, None if self.folder is None else self.folder.read_summary())
        except BaseException:
            if pool is not None:
                pool.close()
            self._release_folder()
            raise
        # The pool first: its processes start while this one builds its own env.
        if pool is None:
            try:
                pool = make_pool(env_id, self.env_kwargs, workers, backend, ray_address)
            except BaseException:
                self._release_folder()
                raise
        elif (pool.env_id, _without_cache(pool.env_kwargs)) != (env_id, _without_cache(self.env_kwargs)):
            pool.close()
            self._release_folder()
            raise ConfigError(
                f"The evaluation pool was started for {pool.env_id} {pool.env_kwargs}, "
                f"not for this run's {env_id} {self.env_kwargs}."
            )
        try:
            self.env = RecordEpisodes(
                gym.make(env_id, **self.env_kwargs),
                lambda actions, epochs: self._replayed_metrics(self.num_evaluated, actions, epochs),
                lambda evaluation: self._record(evaluation),
            )
        except BaseException:
            if pool is not None:
                pool.close()
            self._release_folder()
            raise
        self.env.reset(seed=self.seed)
        try:
            self._stateful = self._replay.restore_evaluator_state(self.env.unwrapped.evaluator, pool, self.folder)
        except BaseException:
            self.env.close()
            if pool is not None:
                pool.close()
            self._release_folder()
            raise
        #: The evaluator's full training budget in epochs (its largest fidelity), or None where it does not train.
        self.max_epochs: int | None = self.env.unwrapped.evaluator.max_epochs()
        if self.budget.epochs is not None and self.max_epochs is None:
            self.env.close()
            if pool is not None:
                pool.close()
            self._release_folder()
            raise ConfigError(f"A budget of epochs needs an env that trains (evaluator='train'); {env_id} with "
                              f"evaluator {self.env.unwrapped.evaluator.name!r} trains nothing.")
        self._tally = Tally(self.max_epochs)
        self.backend = backend if pool is None else pool.backend
        # The scheduler looks _evaluate_here up at each call, so it can be observed (tests count it).
        self._scheduler = Scheduler(
            pool, lambda actions, epochs: self._evaluate_here(actions, epochs), self._cache_key, self._in_cache
        )
        self.logger = RunLogger(
            self.out_dir, {"agent": agent, "seed": seed, **self.hparams}, progress=progress,
            total=self.budget.evaluations, desc=f"{agent} on {env_id}", total_epochs=self.budget.epochs,
        )

    # -- what methods use ----------------------------------------------------------
    @property
    def space(self) -> SearchSpace:
        """The env's search space."""
        return self.env.unwrapped.space

    @property
    def parts(self) -> EnvParts:
        """The env's parts (task, table, latency model, reward, ...), for methods that need more than ``step``."""
        return self.env.unwrapped.parts

    @property
    def workers(self) -> int:
        """Architectures evaluated at once (1 when evaluating in this process)."""
        return self._scheduler.workers

    def wait_for_workers(self) -> None:
        """Block until every worker process has started (for timings; searches need not call it)."""
        if self._scheduler.pool is not None:
            self._scheduler.pool.wait_started()

    @property
    def pending(self) -> int:
        """Evaluations submitted with :meth:`submit` whose results are not collected yet."""
        return len(self._scheduler)

    @property
    def num_evaluated(self) -> int:
        """Architectures evaluated so far."""
        return len(self.history)

    @property
    def remaining(self) -> int:
        """Evaluations left in the budget (0 when time or the epochs budget ran out)."""
        if self.time_is_up or self.epochs_are_up:
            return 0
        return max(0, self.budget.evaluations - self.num_evaluated)

    @property
    def epochs_trained(self) -> int:
        """Epochs of training the recorded evaluations cost (0 where the env does not train).

        An evaluation at fidelity ``e`` (``epochs=e``; without one, the full
        budget :attr:`max_epochs`) costs ``e`` minus the highest fidelity the
        same architecture was evaluated at earlier in this run, never less
        than 0: continuing from that checkpoint trains only the difference,
        and a repeat costs nothing. The count is the run's, not the cache's,
        so a run costs the same epochs on a warm cache as on a cold one.
        """
        return self._tally.epochs_trained

    @property
    def epochs_are_up(self) -> bool:
        """Whether the optional budget of epochs trained is spent."""
        return self.budget.epochs is not None and self._tally.epochs_trained >= self.budget.epochs

    @property
    def time_is_up(self) -> bool:
        """Whether the optional wall-clock budget is spent."""
        return self.budget.seconds is not None and self.elapsed_s >= self.budget.seconds

    @property
    def done(self) -> bool:
        """Whether the budget is spent."""
        return self.remaining == 0

    @property
    def elapsed_s(self) -> float:
        """Wall seconds since the run started."""
        return time.perf_counter() - self._start

    def evaluate(self, arch: Architecture | Sequence[int] | str, *, epochs: int | None = None) -> dict[str, Any]:
        """Replay a whole architecture through the env and return its final-step ``info``.

        The architecture is given as an :class:`Architecture`, its string form,
        or its choice indices (which are exactly the env's actions). With an
        evaluation pool it is evaluated by a worker. ``epochs`` is the
        episode's fidelity (``env.reset(options={"epochs": epochs})``); None
        trains the full budget.

        Raises:
            BudgetExhausted: If the budget is already spent.
            ConfigError: The actions do not form a valid architecture, or
                submitted evaluations are still pending.
        """
        if self.done:
            raise BudgetExhausted(f"Budget of {self.budget.evaluations} evaluations is spent.")
        self._check_no_pending("evaluate")
        self.submit(arch, epochs=epochs)
        return self.result()

    def evaluate_many(
        self, archs: Iterable[Architecture | Sequence[int] | str], *, epochs: int | None = None
    ) -> list[dict[str, Any]]:
        """Evaluate several architectures (at fidelity ``epochs``), up to :attr:`workers` at once; infos in order.

        Only the first :attr:`remaining` architectures are evaluated, so a
        batch never overruns the budget. They are recorded in the order given,
        whichever finishes first, so the history does not depend on the
        number of workers.

        Raises:
            BudgetExhausted: If the budget is already spent.
            ConfigError: An architecture is invalid (nothing is evaluated
                then), or submitted evaluations are still pending.
        """
        if self.done:
            raise BudgetExhausted(f"Budget of {self.budget.evaluations} evaluations is spent.")
        self._check_no_pending("evaluate_many")
        batch = [self._actions(a) for a in archs][: self.remaining]
        for actions in batch:
            self.submit(actions, epochs=epochs)
        return [self.result() for _ in batch]

    def evaluate_stream(
        self, archs: Iterable[Architecture | Sequence[int] | str], *, ahead: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Evaluate architectures drawn from ``archs`` in order, yielding each ``info`` as it is recorded.

        For proposals that do not depend on results (random search, a grid):
        up to ``ahead`` evaluations are submitted at once (default: 16 per
        worker with a pool, else 1), so a worker that finishes
        early starts on the next architecture instead of waiting for an older
        one, slower on another worker, to be recorded. :meth:`evaluate_many`
        in batches of :attr:`workers` would leave it idle until the slowest of
        the batch is done. Workers take submissions oldest first, never more
        than one each at a time.

        An item is drawn from ``archs`` (which may be a lazy generator) only
        when it is submitted and never past the budget, so a seeded generator
        draws the same items, and the history is the same, with any number of
        workers. The stream ends when the budget is spent, ``archs`` runs
        out, or a time budget runs out; submissions not collected then are
        dropped (not recorded).

        Raises:
            ConfigError: An architecture is invalid, or submitted evaluations
                are already pending.
        """
        self._check_no_pending("evaluate_stream")
        if ahead is None:
            ahead = 1 if self._scheduler.pool is None else 16 * self.workers
        if ahead < 1:
            raise ConfigError(f"evaluate_stream(ahead=...) must be ≥ 1, got {ahead!r}.")
        items = iter(archs)
        exhausted = False
        while True:
            while not exhausted and self.pending < ahead and not self.time_is_up and (
                self.num_evaluated + self.pending < self.budget.evaluations
            ):
                try:
                    arch = next(items)
                except StopIteration:
                    exhausted = True
                    break
                try:
                    self.submit(arch)
                except BudgetExhausted:  # the time budget ran out while ``archs`` drew this one
                    break
            if self.time_is_up:
                self._scheduler.drop()
            if not self.pending:
                return
            recorded = self.num_evaluated
            info = self.result()
            # A result that comes back after the time budget ran out is not recorded
            # (``_record``), so it is not yielded either: every yielded info is in the history.
            if self.num_evaluated > recorded:
                yield info

    def submit(self, arch: Architecture | Sequence[int] | str, *, epochs: int | None = None) -> None:
        """Start evaluating an architecture; collect its ``info`` later with :meth:`result`.

        Up to :attr:`workers` evaluations run at once; more are queued. For a
        method that updates its model after every result (e.g. evolution),
        submitting ``workers`` architectures and then alternating
        :meth:`result` and :meth:`submit` keeps every worker busy (submit
        more where proposals do not depend on results yet, as
        :meth:`evaluate_stream` does, so none waits for the oldest)::

            while not run.done:
                while run.pending < min(run.workers, run.remaining):
                    run.submit(propose())
                info = run.result()

        Without a pool the evaluation runs in this process when its result
        is asked for; so do cache hits, once every earlier submission is
        recorded. ``epochs`` is the fidelity (see :meth:`evaluate`).

        Raises:
            BudgetExhausted: If the budget would be overrun: evaluated plus
                pending architectures already reach it (or time is up).
            ConfigError: The actions do not form a valid architecture.
        """
        if self.epochs_are_up:
            raise BudgetExhausted(
                f"Budget of {self.budget.epochs} epochs is spent ({self._tally.epochs_trained} trained)."
            )
        if self.time_is_up or self.num_evaluated + self.pending >= self.budget.evaluations:
            raise BudgetExhausted(
                f"Budget of {self.budget.evaluations} evaluations is spent or fully submitted "
                f"({self.num_evaluated} evaluated, {self.pending} pending)."
            )
        actions = self._actions(arch)
        if epochs is not None:
            self.env.unwrapped.check_fidelity(epochs)  # refused here, not in a worker
        known = self._replayed_metrics(self.num_evaluated + self.pending, actions, epochs)
        # Resuming: scored from the history by this process's env, by no worker.
        info = None if known is None else self._final_info(self.env.unwrapped.score(self._arch(actions), known))
        self._scheduler.submit(actions, info, epochs)

    def result(self) -> dict[str, Any]:
        """Wait for the oldest submitted evaluation, record it and return its final-step ``info``.

        Results come back in submission order, so the history is the same
        with any number of workers. While the oldest is still running, this
        process evaluates submissions that no worker has taken yet (local
        backend).

        Raises:
            ConfigError: Nothing is pending, or the actions were invalid.
        """
        if not self.pending:
            raise ConfigError("run.result() was called with no evaluation pending; call run.submit(arch) first.")
        done = self._scheduler.next_result()
        info = done.info
        if "arch" not in info:
            message = info.get("message", "")
            raise ConfigError(f"Actions {list(done.actions)} do not form a valid architecture: {message}")
        if done.by_worker:
            # A worker measured it; this process's env pays the reward, as for every other evaluation.
            arch, measured = self._arch(done.actions), Evaluation.from_info(info).metrics()
            if done.remote and done.key is not None:
                # Latency is left out of the cache: the env's latency model fills it in per host.
                kept = {k: v for k, v in measured.extra.items() if k != "cached"}
                self.env.unwrapped.evaluator.store(
                    arch, dataclasses.replace(measured, latency_ms=None, extra=kept), epochs=done.epochs
                )
            info = self._final_info(self.env.unwrapped.score(arch, measured))
        self._record(Evaluation.from_info(info))
        return info

    def add_search_cost(self, seconds: float) -> None:
        """Count work a method did outside evaluations (e.g. a zero-cost pre-filter) in ``search_cost_s``."""
        self._tally.search_cost_s += float(seconds)

    def add_to_summary(self, key: str, value: Any) -> None:
        """Add ``key`` (plain JSON data) to ``summary.json``, e.g. a weight-sharing search's stand-alone result.

        Raises:
            ConfigError: ``key`` is one of the summary's own keys.
        """
        if key in SUMMARY_KEYS:
            raise ConfigError(f"{key!r} is a key of the run's own summary; pick another name.")
        self.extra_summary[key] = value

    def log_scalar(self, tag: str, value: float) -> None:
        """Log a method-specific scalar against the number of architectures evaluated."""
        self.logger.log_scalar(tag, float(value), self.num_evaluated)

    # -- evaluating in this process ----------------------------------------------------
    def _evaluate_here(self, actions: Actions, epochs: int | None = None) -> dict[str, Any]:
        """Play ``actions`` through this process's env, unrecorded (:meth:`result` records in order)."""
        return play(self.env.unwrapped, actions, epochs)

    def _final_info(self, evaluation: Evaluation) -> dict[str, Any]:
        """The final-step ``info`` the env's ``step`` returns for ``evaluation``."""
        space = self.space
        mask = np.zeros(self.env.unwrapped.action_space.n, dtype=bool)
        return {**evaluation.info(), "action_mask": mask, "step": space.num_decisions}

    def _check_no_pending(self, what: str) -> None:
        if self.pending:
            raise ConfigError(
                f"run.{what}() was called with {self.pending} submitted evaluations pending; "
                "collect them with run.result() first."
            )

    def _arch(self, actions: Actions) -> Architecture:
        return Architecture(self.space, actions)

    def _actions(self, arch: Architecture | Sequence[int] | str) -> Actions:
        if isinstance(arch, str):
            arch = self.space.from_string(arch)
        actions = arch.indices if isinstance(arch, Architecture) else tuple(int(a) for a in arch)
        try:
            return self.space.validate(actions)
        except ArchitectureError as e:
            raise ConfigError(f"Actions {list(actions)} do not form a valid architecture: {e}") from e

    def _cache_key(self, actions: Actions, epochs: int | None = None) -> str | None:
        """Key of ``actions`` (at fidelity ``epochs``) in the env's persistent cache, or None without a cache."""
        evaluator = self.env.unwrapped.evaluator
        if isinstance(evaluator, CachedEvaluator) and evaluator.cache is not None:
            return evaluator.key(self._arch(actions), epochs)
        return None

    def _in_cache(self, key: str) -> bool:
        return self.env.unwrapped.cache.get(key) is not None

    # -- resume (nas_gym.search.resume) -------------------------------------------------
    def _replayed_metrics(self, index: int, actions: Sequence[Any], epochs: int | None = None) -> Metrics | None:
        """The recorded metrics if ``actions`` at fidelity ``epochs`` are evaluation ``index`` of the history."""
        return self._replay.metrics(index, self.env.unwrapped, actions, epochs)

    @property
    def resumed_from(self) -> int:
        """Evaluations that an earlier, interrupted run of this folder had recorded."""
        return len(self._replay)

    # -- bookkeeping (the tally: nas_gym.search.summary) ---------------------------------
    def _record(self, evaluation: Evaluation) -> None:
        """Count one evaluation: history line, best so far, search cost, logs."""
        if self.done:
            return  # an RL method may finish an episode past the budget; it is not counted
        index = self.num_evaluated
        replaying = index < len(self._replay)
        if replaying:
            evaluation = self._replay.recorded(index, evaluation)
        evaluation = self._tally.add(evaluation)
        record = evaluation.record(index, self._tally.best_key[1])
        self.history.append(record)
        if self.folder is not None and not replaying:
            if self._stateful is not None:
                # Before the record: a kill between the two leaves a state one ahead, never one behind.
                self.folder.save_state(index + 1, self._stateful.state_dict())
            self.folder.append(record)
        self.logger.log_evaluation(
            record, self.elapsed_s, replayed=replaying,
            epochs_trained=None if self.max_epochs is None else self._tally.epochs_trained,
            best_full_reward=None if self._tally.best_full_fidelity is None else self._tally.best_full_key[1],
        )

    # -- results ----------------------------------------------------------------------
    @property
    def best(self) -> dict[str, Any] | None:
        """The best evaluation so far as plain data (``summary.json``'s ``best``), or None."""
        return self._tally.best

    @property
    def best_full_fidelity(self) -> dict[str, Any] | None:
        """The best evaluation at the full budget (no fidelity, or the largest): a multi-fidelity run's result."""
        return self._tally.best_full_fidelity

    @property
    def evaluations(self) -> tuple[Evaluation, ...]:
        """Every evaluation recorded so far, in order."""
        return tuple(self._tally.evaluations)

    def pareto(self) -> dict[str, Any] | None:
        """The non-dominated set of the feasible evaluations (validation accuracy, latency) and its hypervolume.

        The reference point is the env's (:meth:`NASEnv.hypervolume_reference`:
        a table's median accuracy and 90th-percentile latency), else the worst
        accuracy and latency evaluated. None when the evaluations have no latency.
        """
        return pareto_front(self._tally.evaluations, self.env.unwrapped.hypervolume_reference)

    def summary(self) -> dict[str, Any]:
        """Best architecture and its metrics, agent, seed, budget and wall seconds."""
        return {
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "agent": self.agent,
            "seed": self.seed,
            "budget": self.budget.evaluations,
            "budget_seconds": self.budget.seconds,
            "budget_epochs": self.budget.epochs,
            "num_evaluated": self.num_evaluated,
            "epochs_trained": None if self.max_epochs is None else self._tally.epochs_trained,
            "wall_s": self.elapsed_s,
            "search_cost_s": self._tally.search_cost_s,
            "resumed_from": self.resumed_from,
            "best": self.best,
            # A low-fidelity evaluation can out-score the full trainings; this is the best of those.
            "best_full_fidelity": self.best_full_fidelity if self.max_epochs is not None else None,
            "hparams": self.hparams,
            "workers": self.workers,
            "backend": self.backend,
            **self.extra_summary,
        }

    def close(self) -> dict[str, Any]:
        """Write the summary (and ``pareto.json``), close logs, the evaluation pool and the env; return the summary."""
        summary = self.summary()
        pareto = self.pareto()
        if pareto is not None:
            summary["hypervolume"] = pareto["hypervolume"]
        self._scheduler.close()
        if self.folder is not None:
            self.folder.write_summary(summary)
            if pareto is not None:
                self.folder.write_pareto(pareto)
        self.logger.log_summary(summary)
        self.logger.close()
        self.env.close()
        self._release_folder()
        return summary

    def _release_folder(self) -> None:
        if self.folder is not None:
            self.folder.close()

    def __enter__(self) -> SearchRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
