"""The search-run API: budget, seed, history, best-so-far and one logger.

Every search method runs inside a :class:`SearchRun`. The run owns the
environment and wraps it so that *every* completed episode, whoever stepped
it, is recorded once: methods that propose whole architectures call
:meth:`SearchRun.evaluate`, which replays the architecture through
``reset``/``step``; RL methods step ``run.env`` themselves. Either way the
reward comes from the env.

With ``workers > 1`` (or ``backend="ray"``) the run owns an evaluation pool
(:mod:`nas_gym.parallel`) and methods hand it several architectures at once:
:meth:`SearchRun.evaluate_many` for a batch, :meth:`SearchRun.evaluate_stream`
for proposals that do not depend on results, or :meth:`SearchRun.submit` and
:meth:`SearchRun.result` to keep the workers busy while proposing more.
Results are recorded in submission order, whatever order the workers finish
in, so a method that proposes in a fixed order writes the same history with
any number of workers, and resume-by-replay keeps working.

A run writes one folder: ``history.jsonl`` (one line per evaluated
architecture, in order), ``summary.json`` (best architecture and its metrics,
agent, seed, budget, wall seconds) and TensorBoard event files with the
``nas/*`` tags against the number of architectures evaluated.

Resume is deterministic replay, not per-method checkpoints. ``run.json``
holds the run's settings and ``history.jsonl`` is appended and flushed one
line per evaluation, so a kill (SIGKILL included) loses at most the line
being written, which is dropped on restart. Run again with the same
arguments and the method starts over from its seed; each evaluation the
history holds is checked against what the method proposes and scored from
the record (nothing is trained again, and the method sees the very rewards it
saw before), then the run carries on where it stopped. Every evaluation
appears once in the history, and for a deterministic method the result
equals an uninterrupted run's. Redoing the method's own computation (a
controller update, a TPE proposal) is cheap next to evaluations, and there
is no controller, optimiser, population or RNG state on disk to get out of
step with the history. TensorBoard scalars of the replayed part are written
again and the interrupted process's are purged, so the curves have no gaps.
"""

from __future__ import annotations

import abc
import contextlib

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked
    fcntl = None
import json
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import gymnasium as gym
import numpy as np

from nas_gym.error import ArchitectureError, ConfigError, NASGymError
from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.cache import CachedEvaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.parallel import EvaluationPool, make_pool
from nas_gym.spaces import Architecture, SearchSpace

logger = logging.getLogger(__name__)

#: Keys of each ``history.jsonl`` record, in order.
HISTORY_KEYS = (
    "index", "arch", "reward", "val_accuracy", "test_accuracy", "latency_ms",
    "cost_s", "cached", "params", "flops", "diverged", "timed_out", "best_reward",
)
#: Keys a record needs to be replayed (histories written before params/flops/diverged/timed_out lack those).
_REPLAY_KEYS = ("index", "arch", "reward", "val_accuracy", "test_accuracy", "latency_ms", "cost_s", "cached")


class ResumeError(NASGymError):
    """A run folder cannot be resumed: the method did not replay its recorded history."""


class BudgetExhausted(Exception):
    """Raised inside a run when an evaluation is asked for after the budget is spent."""


@dataclass
class Budget:
    """How much a search may spend.

    Attributes:
        evaluations: Number of architectures to evaluate (≥ 1).
        seconds: Optional wall-clock limit in seconds.
    """

    evaluations: int
    seconds: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.evaluations, (int, np.integer)) or self.evaluations < 1:
            raise ConfigError(f"budget must be an integer ≥ 1 (architectures to evaluate), got {self.evaluations!r}.")
        if self.seconds is not None and not self.seconds > 0:
            raise ConfigError(f"budget seconds must be > 0 or None, got {self.seconds!r}.")


class RunLogger:
    """Writes ``history.jsonl``, ``summary.json`` and TensorBoard scalars for one run."""

    def __init__(
        self, out_dir: str | os.PathLike, hparams: dict[str, Any] | None = None, tensorboard: bool = True,
        purge_step: int | None = None,
    ):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._history = open(self.out_dir / "history.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: TensorBoard drops an interrupted process's events from this step on.
            self.writer = SummaryWriter(log_dir=str(self.out_dir), purge_step=purge_step)
            if hparams:
                table = "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in sorted(hparams.items()))
                self.writer.add_text("hyperparameters", table)

    def log_evaluation(self, record: dict[str, Any], search_cost_s: float, history: bool = True) -> None:
        """Append one history record and its ``nas/*`` scalars (x = architectures evaluated).

        ``history=False`` writes the scalars only (a resumed run's replayed records).
        """
        if history:
            self._history.write(json.dumps(record) + "\n")
            self._history.flush()
        if self.writer is not None:
            step = record["index"] + 1
            self.writer.add_scalar("nas/reward", record["reward"], step)
            self.writer.add_scalar("nas/val_accuracy", record["val_accuracy"], step)
            if record["latency_ms"] is not None:
                self.writer.add_scalar("nas/latency_ms", record["latency_ms"], step)
            self.writer.add_scalar("nas/best_reward", record["best_reward"], step)
            self.writer.add_scalar("nas/num_evaluated", step, step)
            self.writer.add_scalar("nas/search_cost_s", search_cost_s, step)

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        """Any other scalar (agent losses follow CleanRL tags, e.g. ``losses/policy_loss``)."""
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` atomically and the ``eval/*`` scalars."""
        tmp = self.out_dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, self.out_dir / "summary.json")
        if self.writer is not None and summary.get("best"):
            for key in ("reward", "val_accuracy", "test_accuracy", "latency_ms"):
                value = summary["best"].get(key)
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    self.writer.add_scalar(f"eval/best_{key}", value, summary["num_evaluated"])

    def close(self) -> None:
        """Flush and close files."""
        self._history.close()
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


class _RecordEpisodes(gym.Wrapper):
    """Reports every scored episode (final ``info`` with ``arch``) to the run.

    While a resumed run replays its history, the last step of an episode that
    builds the recorded architecture is scored from the record.
    """

    def __init__(self, env: gym.Env, run: SearchRun):
        super().__init__(env)
        self._run = run
        self._actions: list[Any] = []

    def reset(self, **kwargs):
        self._actions = []
        return self.env.reset(**kwargs)

    def step(self, action):
        self._actions.append(action)
        known = self._run._replayed_metrics(self._run.num_evaluated, self._actions)
        with _scored_as(self.env.unwrapped, known):
            obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated and "arch" in info:
            self._run._record(info)
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.env.unwrapped.action_masks()


@dataclass
class _Pending:
    """One submitted evaluation, until :meth:`SearchRun.result` records it."""

    actions: tuple[int, ...]
    #: Evaluate in this process when it is the oldest: no pool, or a cache hit (now or once an earlier
    #: submission of the same architecture is recorded), exactly as one sequential run would.
    in_turn: bool = False
    #: Cache key this evaluation will fill (guards against training a duplicate twice).
    key: str | None = None
    #: The pool's handle while a worker has it.
    handle: Any = None
    #: This process evaluates (or evaluated) it.
    here: bool = False
    info: dict[str, Any] | None = None
    #: The info came from a worker that wrote no cache (Ray): the driver stores it.
    remote: bool = False


class _Known(Evaluator):
    """Hands back metrics computed elsewhere, under the name and settings of the evaluator that made them."""

    def __init__(self, like: Evaluator, metrics: Metrics):
        self._like, self._metrics = like, metrics

    @property
    def name(self) -> str:
        return self._like.name

    def settings(self) -> dict[str, Any]:
        return self._like.settings()

    def evaluate(self, arch: Architecture) -> Metrics:
        return self._metrics


@contextlib.contextmanager
def _scored_as(env: gym.Env, known: Metrics | None) -> Iterator[None]:
    """While ``known`` is given, the env's evaluator hands back ``known`` instead of evaluating."""
    if known is None:
        yield
        return
    evaluator, env.evaluator = env.evaluator, _Known(env.evaluator, known)
    try:
        yield
    finally:
        env.evaluator = evaluator


def _lock_folder(folder: Path) -> IO[str] | None:
    """Hold ``folder/run.lock`` while this process writes the run, so two processes never append to one history.

    The OS drops the lock when its holder dies (SIGKILL included), so a killed
    run never blocks its own resume; a live one (e.g. a worker orphaned by a
    killed parent) makes the second process stop with an error instead.

    Returns:
        The open lock file (closing it releases the lock); None where the
        platform has no ``fcntl``.

    Raises:
        ConfigError: Another live process is writing the run folder.
    """
    if fcntl is None:
        return None
    lock = open(folder / "run.lock", "a+", encoding="utf-8")  # noqa: SIM115  (held until close())
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise ConfigError(
            f"Run folder {folder} is in use by another process (pid {holder}): wait for it to finish or stop "
            "it, then run the same command again to resume; or pick another --out."
        ) from None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def _without_cache(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Env arguments other than ``cache`` (Ray workers run with ``cache=False``; the driver owns the cache)."""
    return {k: v for k, v in env_kwargs.items() if k != "cache"}


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


class SearchRun:
    """One search: env, budget, seed, history, best-so-far and logging.

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
            :func:`nas_gym.parallel.make_pool` before importing torch, so
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
        self.best: dict[str, Any] | None = None
        self._search_cost_s = 0.0
        self._start = time.perf_counter()
        self._folder_lock: IO[str] | None = None
        try:
            self._replay: list[dict[str, Any]] = [] if self.out_dir is None else self._load_previous()
        except BaseException:
            if pool is not None:
                pool.close()
            raise
        # The pool first: its processes start while this one builds its own env.
        if pool is None:
            self._pool = make_pool(env_id, self.env_kwargs, workers, backend, ray_address)
        else:
            self._pool, backend = pool, pool.backend
        try:
            if pool is not None and (pool.env_id, _without_cache(pool.env_kwargs)) != (
                env_id, _without_cache(self.env_kwargs)
            ):
                raise ConfigError(
                    f"The evaluation pool was started for {pool.env_id} {pool.env_kwargs}, "
                    f"not for this run's {env_id} {self.env_kwargs}."
                )
            self.env = _RecordEpisodes(gym.make(env_id, **self.env_kwargs), self)
        except BaseException:
            if self._pool is not None:
                self._pool.close()
            self._release_folder()
            raise
        self.env.reset(seed=self.seed)
        self.backend = backend
        self._pending: deque[_Pending] = deque()
        self._in_flight: set[str] = set()
        # Guards _pending: a finished worker takes the next submission from a pool thread (_refill)
        # while this thread may be evaluating one itself.
        self._lock = threading.Lock()
        self._closing = False
        if self._pool is not None:
            self._pool.on_started(self._refill)
        self.logger = None
        if self.out_dir is not None:
            self.logger = RunLogger(
                self.out_dir, {"agent": agent, "seed": seed, **self.hparams}, purge_step=1 if self._replay else None
            )
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.budget.evaluations, desc=f"{agent} on {env_id}", unit="arch")

    # -- what methods use ----------------------------------------------------------
    @property
    def space(self) -> SearchSpace:
        """The env's search space."""
        return self.env.unwrapped.space

    @property
    def workers(self) -> int:
        """Architectures evaluated at once (1 when evaluating in this process)."""
        return 1 if self._pool is None else self._pool.workers

    def wait_for_workers(self) -> None:
        """Block until every worker process has started (for timings; searches need not call it)."""
        if self._pool is not None:
            self._pool.wait_started()

    @property
    def pending(self) -> int:
        """Evaluations submitted with :meth:`submit` whose results are not collected yet."""
        return len(self._pending)

    @property
    def num_evaluated(self) -> int:
        """Architectures evaluated so far."""
        return len(self.history)

    @property
    def remaining(self) -> int:
        """Evaluations left in the budget (0 when time ran out)."""
        if self.time_is_up:
            return 0
        return max(0, self.budget.evaluations - self.num_evaluated)

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

    def evaluate(self, arch: Architecture | Sequence[int] | str) -> dict[str, Any]:
        """Replay a whole architecture through the env and return its final-step ``info``.

        The architecture is given as an :class:`Architecture`, its string form,
        or its choice indices (which are exactly the env's actions). With an
        evaluation pool it is evaluated by a worker.

        Raises:
            BudgetExhausted: If the budget is already spent.
            ConfigError: The actions do not form a valid architecture, or
                submitted evaluations are still pending.
        """
        if self.done:
            raise BudgetExhausted(f"Budget of {self.budget.evaluations} evaluations is spent.")
        self._check_no_pending("evaluate")
        self.submit(arch)
        return self.result()

    def evaluate_many(self, archs: Iterable[Architecture | Sequence[int] | str]) -> list[dict[str, Any]]:
        """Evaluate several architectures, up to :attr:`workers` at once; infos in the order given.

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
            self.submit(actions)
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
            ahead = 1 if self._pool is None else 16 * self.workers
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
                self._drop_pending()
            if not self._pending:
                return
            yield self.result()

    def submit(self, arch: Architecture | Sequence[int] | str) -> None:
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
        recorded.

        Raises:
            BudgetExhausted: If the budget would be overrun: evaluated plus
                pending architectures already reach it (or time is up).
            ConfigError: The actions do not form a valid architecture.
        """
        if self.time_is_up or self.num_evaluated + self.pending >= self.budget.evaluations:
            raise BudgetExhausted(
                f"Budget of {self.budget.evaluations} evaluations is spent or fully submitted "
                f"({self.num_evaluated} evaluated, {self.pending} pending)."
            )
        entry = _Pending(self._actions(arch), in_turn=self._pool is None)
        known = self._replayed_metrics(self.num_evaluated + self.pending, entry.actions)
        if known is not None:  # resuming: scored from the history in this process, by no worker
            entry.here = True
            entry.info = self._evaluate_here(entry.actions, known)
        elif self._pool is not None:
            key = self._cache_key(entry.actions)
            if key is not None and (key in self._in_flight or self.env.unwrapped.cache.get(key) is not None):
                entry.in_turn = True
            else:
                entry.key = key
                if key is not None:
                    self._in_flight.add(key)
        with self._lock:
            self._pending.append(entry)
        self._dispatch()

    def result(self) -> dict[str, Any]:
        """Wait for the oldest submitted evaluation, record it and return its final-step ``info``.

        Results come back in submission order, so the history is the same
        with any number of workers. While the oldest is still running, this
        process evaluates submissions that no worker has taken yet (local
        backend).

        Raises:
            ConfigError: Nothing is pending, or the actions were invalid.
        """
        if not self._pending:
            raise ConfigError("run.result() was called with no evaluation pending; call run.submit(arch) first.")
        head = self._pending[0]
        while head.info is None:
            self._dispatch()
            entry = self._take(head)
            if entry is not None:
                entry.info = self._evaluate_here(entry.actions)
            elif head.handle.done():
                self._collect(head)
            elif running := self._running():
                self._pool.wait_any(running)
        with self._lock:
            self._pending.popleft()
        if head.key is not None:
            self._in_flight.discard(head.key)
        info = head.info
        if "arch" not in info:
            message = info.get("message", "")
            raise ConfigError(f"Actions {list(head.actions)} do not form a valid architecture: {message}")
        if head.remote and head.key is not None:
            self._store(head.actions, info)
        self._record(info)
        return info

    def _drop_pending(self) -> None:
        """Forget every submission not collected yet (the pool cancels those no worker has started)."""
        with self._lock:
            dropped = list(self._pending)
            self._pending.clear()
        for entry in dropped:
            if entry.key is not None:
                self._in_flight.discard(entry.key)
            if entry.handle is not None and hasattr(entry.handle, "cancel"):
                entry.handle.cancel()

    def _dispatch(self) -> None:
        """Hand the pool the oldest submissions nobody has taken, while it has a free worker."""
        if self._pool is None or self._closing:
            return
        started = []
        with self._lock:
            busy = sum(e.handle is not None and e.info is None and not e.handle.done() for e in self._pending)
            # Where this process is a worker it keeps the oldest submission: a method that evaluates one
            # architecture at a time then runs exactly as without a pool.
            keep = self._pending[0] if self._pending and self._pool.driver_evaluates else None
            for entry in self._pending:
                if busy >= self._pool.started():
                    break
                if entry is keep:
                    continue
                if entry.handle is None and entry.info is None and not entry.here and not entry.in_turn:
                    entry.handle = self._pool.submit(entry.actions)
                    started.append(entry.handle)
                    busy += 1
        for handle in started:  # outside the lock: a handle already done calls back at once, in this thread
            handle.add_done_callback(self._refill)

    def _refill(self, _handle: Any = None) -> None:
        """A worker finished or started (called from a pool thread): give it the next submission at once."""
        try:
            self._dispatch()
        except Exception as e:  # a broken pool surfaces in result(); a callback must not raise
            logger.debug("Could not hand the pool more work: %s", e)

    def _take(self, head: _Pending) -> _Pending | None:
        """The submission this process should evaluate now, marked as taken; None to wait for a worker."""
        with self._lock:
            if head.handle is None and head.info is None and not head.here:
                head.here = True
                return head
            if self._pool is not None and self._pool.driver_evaluates:
                for entry in self._pending:
                    if entry.handle is None and entry.info is None and not entry.here and not entry.in_turn:
                        entry.here = True
                        return entry
        return None

    def _running(self) -> list[Any]:
        """Handles of submissions a worker has and has not finished."""
        with self._lock:
            return [e.handle for e in self._pending if e.handle is not None and e.info is None and not e.handle.done()]

    def _collect(self, entry: _Pending) -> None:
        info = dict(entry.handle.result())
        info["action_mask"] = np.asarray(info.get("action_mask", ()), dtype=bool)
        with self._lock:
            entry.remote = not self._pool.uses_env_cache
            entry.info = info

    def _evaluate_here(self, actions: tuple[int, ...], known: Metrics | None = None) -> dict[str, Any]:
        """Step ``actions`` through this process's env, unrecorded (:meth:`result` records in order).

        With ``known`` (a replayed evaluation) the env scores the architecture from it.
        """
        env = self.env.unwrapped
        env.reset()
        info: dict[str, Any] = {}
        with _scored_as(env, known):
            for a in actions:
                _, _, terminated, _, info = env.step(a)
                if terminated:
                    break
        return info

    def _check_no_pending(self, what: str) -> None:
        if self._pending:
            raise ConfigError(
                f"run.{what}() was called with {self.pending} submitted evaluations pending; "
                "collect them with run.result() first."
            )

    def _actions(self, arch: Architecture | Sequence[int] | str) -> tuple[int, ...]:
        if isinstance(arch, str):
            arch = self.space.from_string(arch)
        actions = arch.indices if isinstance(arch, Architecture) else tuple(int(a) for a in arch)
        try:
            return self.space.validate(actions)
        except ArchitectureError as e:
            raise ConfigError(f"Actions {list(actions)} do not form a valid architecture: {e}") from e

    def _cache_key(self, actions: tuple[int, ...]) -> str | None:
        """Key of ``actions`` in the env's persistent cache, or None when the env has no cache."""
        evaluator = self.env.unwrapped.evaluator
        if isinstance(evaluator, CachedEvaluator) and evaluator.cache is not None:
            return evaluator.key(Architecture(self.space, actions))
        return None

    def _store(self, actions: tuple[int, ...], info: dict[str, Any]) -> None:
        """Put a remote worker's result into this machine's cache, as the env's own evaluator would have.

        Latency is left out: the env's latency model fills it in per host.
        """
        evaluator = self.env.unwrapped.evaluator
        metrics = Metrics(
            val_accuracy=info["val_accuracy"], test_accuracy=info["test_accuracy"], params=info["params"],
            flops=info["flops"], cost_s=info["cost_s"], diverged=info["diverged"], timed_out=info["timed_out"],
        )
        arch = Architecture(self.space, actions)
        CachedEvaluator(_Known(evaluator.evaluator, metrics), evaluator.cache).evaluate(arch)

    def log_scalar(self, tag: str, value: float) -> None:
        """Log a method-specific scalar against the number of architectures evaluated."""
        if self.logger is not None:
            self.logger.log_scalar(tag, float(value), self.num_evaluated)

    # -- resume ----------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "env_kwargs": self.env_kwargs, "agent": self.agent, "seed": self.seed,
                "hparams": self.hparams}

    def _load_previous(self) -> list[dict[str, Any]]:
        """Read what an earlier, interrupted run of the same settings left in ``out_dir``.

        Resuming is deterministic replay: the method runs again from its seed and
        each evaluation the history already holds is checked against it and taken
        from the history instead of being recorded twice. A line cut short by a
        kill is dropped (that evaluation simply runs again).
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._folder_lock = _lock_folder(self.out_dir)
        try:
            return self._read_previous()
        except BaseException:
            self._release_folder()
            raise

    def _release_folder(self) -> None:
        if self._folder_lock is not None:
            self._folder_lock.close()
            self._folder_lock = None

    def _read_previous(self) -> list[dict[str, Any]]:
        meta_path, history_path = self.out_dir / "run.json", self.out_dir / "history.jsonl"
        meta = json.loads(json.dumps(self._meta(), default=str))
        recorded = history_path.exists() and history_path.stat().st_size > 0
        # A folder with no evaluation recorded holds nothing to resume (e.g. the
        # env refused its arguments): it simply takes the new settings.
        if meta_path.exists() and recorded:
            try:
                previous = json.loads(meta_path.read_bytes())
            except ValueError as e:  # JSONDecodeError or UnicodeDecodeError
                raise ConfigError(
                    f"{meta_path} is not valid JSON ({e}); remove the run folder or pick another --out."
                ) from e
            if not isinstance(previous, dict):
                raise ConfigError(f"{meta_path} is not a run's settings (a JSON object); pick another --out.")
            if previous != meta:
                diff = sorted(k for k in meta if previous.get(k) != meta[k])
                raise ConfigError(
                    f"Run folder {self.out_dir} holds a different run (differs in {', '.join(diff)}): "
                    "run again with the same arguments to resume it, or pick another --out."
                )
        elif recorded:
            raise ConfigError(f"{history_path} exists but {meta_path} does not; pick another --out.")
        else:
            tmp = meta_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta, indent=2))
            os.replace(tmp, meta_path)
        if not history_path.exists():
            return []
        data = history_path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            with open(history_path, "r+b") as f:  # drop the line a kill cut short
                f.truncate(len(complete))
        records = []
        for n, line in enumerate(complete.splitlines()):
            try:
                record = json.loads(line)
            except ValueError as e:  # JSONDecodeError or UnicodeDecodeError
                raise ConfigError(f"{history_path} line {n + 1} is not valid JSON ({e}); remove the run folder.") from e
            missing = set(_REPLAY_KEYS) - set(record) if isinstance(record, dict) else _REPLAY_KEYS
            if missing:
                raise ConfigError(
                    f"{history_path} line {n + 1} is not a history record (missing {', '.join(sorted(missing))}); "
                    "remove the run folder or pick another --out."
                )
            if record.get("index") != n:
                raise ConfigError(f"{history_path} line {n + 1} has index {record.get('index')}, expected {n}.")
            records.append(record)
        if records:
            logger.info("Resuming %s: replaying %d recorded evaluations", self.out_dir, len(records))
        return records

    def _replayed_metrics(self, index: int, actions: Sequence[Any]) -> Metrics | None:
        """The recorded metrics if ``actions`` build the architecture history holds as evaluation ``index``."""
        if index >= len(self._replay) or len(actions) != self.space.num_decisions:
            return None
        if not hasattr(self.env.unwrapped, "evaluator"):
            return None
        try:
            arch = Architecture(self.space, self.space.validate([int(a) for a in actions]))
        except (NASGymError, TypeError, ValueError, OverflowError):
            return None  # not a valid architecture: the env handles the action itself
        record = self._replay[index]
        if record["arch"] != str(arch):
            return None  # the env scores it and _record reports the mismatch
        return Metrics(
            val_accuracy=record["val_accuracy"],
            test_accuracy=math.nan if record["test_accuracy"] is None else record["test_accuracy"],
            latency_ms=record["latency_ms"],
            params=record.get("params") or 0,
            flops=record.get("flops") or 0,
            cost_s=record["cost_s"] or 0.0,
            diverged=bool(record.get("diverged")),
            timed_out=bool(record.get("timed_out")),
            extra={"cached": bool(record["cached"])},
        )

    @property
    def resumed_from(self) -> int:
        """Evaluations that an earlier, interrupted run of this folder had recorded."""
        return len(self._replay)

    # -- bookkeeping ----------------------------------------------------------------
    def _record(self, info: dict[str, Any]) -> None:
        if self.done:
            return  # an RL method may finish an episode past the budget; it is not counted
        index = self.num_evaluated
        replaying = index < len(self._replay)
        if replaying:
            record = self._replay[index]
            if record["arch"] != info["arch"]:
                raise ResumeError(
                    f"Cannot resume {self.out_dir}: evaluation {index} was {record['arch']!r} but the method now "
                    f"proposes {info['arch']!r}, so it is not deterministic for seed {self.seed}. "
                    "Start a new run folder."
                )
            info = {**info, **{k: v for k, v in record.items() if k not in ("index", "best_reward")}}
        self._search_cost_s += float(info.get("cost_s") or 0.0) if not info.get("cached") else 0.0
        reward = float(info["reward"])
        if self.best is None or reward > self.best["reward"]:
            self.best = {k: _json_value(v) for k, v in info.items() if k not in ("action_mask", "step")}
        record = {k: _json_value(info.get(k)) for k in HISTORY_KEYS if k not in ("index", "best_reward")}
        record["index"] = index
        record["best_reward"] = self.best["reward"]
        record = {k: record[k] for k in HISTORY_KEYS}
        self.history.append(record)
        if replaying:
            if self.logger is not None:
                self.logger.log_evaluation(record, self.elapsed_s, history=False)
            if self._bar is not None:
                self._bar.update(1)
            return
        if self.logger is not None:
            self.logger.log_evaluation(record, self.elapsed_s)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(best=f"{self.best['reward']:.4f}")

    def summary(self) -> dict[str, Any]:
        """Best architecture and its metrics, agent, seed, budget and wall seconds."""
        return {
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "agent": self.agent,
            "seed": self.seed,
            "budget": self.budget.evaluations,
            "budget_seconds": self.budget.seconds,
            "num_evaluated": self.num_evaluated,
            "wall_s": self.elapsed_s,
            "search_cost_s": self._search_cost_s,
            "resumed_from": self.resumed_from,
            "best": self.best,
            "hparams": self.hparams,
            "workers": self.workers,
            "backend": self.backend,
        }

    def close(self) -> dict[str, Any]:
        """Write the summary, close logs, the evaluation pool and the env; return the summary."""
        summary = self.summary()
        self._closing = True
        with self._lock:
            self._pending.clear()
        if self._pool is not None:
            self._pool.close()
        if self.logger is not None:
            self.logger.write_summary(summary)
            self.logger.close()
        if self._bar is not None:
            self._bar.close()
        self.env.close()
        self._release_folder()
        return summary

    def __enter__(self) -> SearchRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Searcher(abc.ABC):
    """A search method. Subclasses take their hyperparameters as keyword arguments.

    Register one for the CLI under the entry-point group ``nas_gym.searchers``.
    """

    #: Name under which the method is registered.
    name: str = "searcher"

    def __init__(self, **hparams: Any):
        if hparams:
            raise ConfigError(f"{type(self).__name__} takes no hyperparameters {sorted(hparams)}.")

    def hparams(self) -> dict[str, Any]:
        """The method's hyperparameters (plain data), for logs."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @abc.abstractmethod
    def search(self, run: SearchRun) -> None:
        """Evaluate architectures through ``run`` until ``run.done``."""


def available_searchers() -> dict[str, Any]:
    """Search methods registered under the entry-point group ``nas_gym.searchers``."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="nas_gym.searchers")}


def load_searcher(name: str) -> type[Searcher]:
    """The searcher class registered as ``name``.

    Raises:
        ConfigError: Unknown name; the message lists the known ones.
    """
    from nas_gym.error import unknown_name

    found = available_searchers()
    if name not in found:
        raise unknown_name("agent", name, found)
    return found[name].load()


def run_search(
    agent: str,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    *,
    budget: int | Budget = 100,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    agent_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
    workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    pool: EvaluationPool | None = None,
) -> dict[str, Any]:
    """Run the search method ``agent`` on an env and return the run's summary.

    This is what ``nas-gym search`` calls. ``workers``, ``backend``,
    ``ray_address`` and ``pool`` set up parallel evaluation (see
    :class:`SearchRun`); a given ``pool`` is closed when the search ends,
    also when it fails.
    """
    try:
        searcher = load_searcher(agent)(**(agent_kwargs or {}))
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    run = SearchRun(
        env_id, env_kwargs, agent=agent, seed=seed, budget=budget, out_dir=out_dir,
        hparams=searcher.hparams(), progress=progress, workers=workers, backend=backend, ray_address=ray_address,
        pool=pool,
    )
    try:
        searcher.search(run)
    finally:
        summary = run.close()
    return summary
