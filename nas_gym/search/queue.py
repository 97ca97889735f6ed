"""The scheduler of a search run: submitted evaluations, who evaluates each, results in submission order.

A search run hands it architectures (:meth:`Scheduler.submit`) and takes
results back oldest first (:meth:`Scheduler.next_result`). Each submission
is in one explicit :class:`State`:

- ``QUEUED``: nobody has it yet; the next free worker takes it, or this
  process does while it waits for an older one;
- ``IN_TURN``: this process evaluates it when it is the oldest, exactly as a
  sequential run would: there is no pool, or it is a cache hit (now, or once
  an earlier submission of the same architecture is recorded);
- ``RUNNING``: a worker of the pool has it;
- ``HERE``: this process is evaluating it;
- ``DONE``: its final ``info`` is known (evaluated here, collected from a
  worker, or given at submission: a resumed run's replayed record).

With a local pool this process is one of the workers: it keeps the oldest
submission for itself, so a method that evaluates one architecture at a time
runs exactly as without a pool. A worker that finishes calls back from a pool
thread and is handed the next ``QUEUED`` submission at once, so the state
changes happen under one lock.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas_gym.search.pools import EvaluationPool

logger = logging.getLogger(__name__)

Actions = tuple[int, ...]


class State(enum.Enum):
    """Where one submitted evaluation is."""

    QUEUED = "queued"
    IN_TURN = "in_turn"
    RUNNING = "running"
    HERE = "here"
    DONE = "done"


@dataclass
class Submission:
    """One submitted evaluation, until :meth:`Scheduler.next_result` hands it back.

    Attributes:
        actions: The architecture's choice indices (the env's actions).
        state: Where it is.
        key: Cache key this evaluation will fill (a duplicate in flight waits for it), or None.
        handle: The pool's handle while a worker has it.
        info: The final-step ``info`` once ``DONE``.
        by_worker: A pool worker evaluated it (its result is scored again by the run's env).
        remote: That worker wrote no cache (Ray): the run stores the result.
        epochs: The fidelity to evaluate at (``reset(options={"epochs": ...})``), or None for the full budget.
    """

    actions: Actions
    state: State
    key: str | None = None
    handle: Any = None
    info: dict[str, Any] | None = None
    by_worker: bool = False
    remote: bool = False
    epochs: int | None = None


class Scheduler:
    """Dispatches submissions to this process and to an evaluation pool; hands back results in order.

    Args:
        pool: The evaluation pool, or None to evaluate everything in this process.
        evaluate_here: Plays actions (at a fidelity) through this process's env and returns the final ``info``.
        cache_key: The persistent-cache key of actions at a fidelity, or None when the env has no cache.
        in_cache: Whether the cache already holds a key.
    """

    def __init__(
        self,
        pool: EvaluationPool | None,
        evaluate_here: Callable[[Actions, int | None], dict[str, Any]],
        cache_key: Callable[[Actions, int | None], str | None],
        in_cache: Callable[[str], bool],
    ):
        self.pool = pool
        self._evaluate_here = evaluate_here
        self._cache_key = cache_key
        self._in_cache = in_cache
        self._queue: deque[Submission] = deque()
        self._in_flight: set[str] = set()
        # Guards the states: a finished worker takes the next submission from a pool thread
        # (_refill) while this thread may be evaluating one itself.
        self._lock = threading.Lock()
        self._closing = False
        if pool is not None:
            pool.on_started(self._refill)

    @property
    def workers(self) -> int:
        """Architectures evaluated at once (1 when evaluating in this process)."""
        return 1 if self.pool is None else self.pool.workers

    def __len__(self) -> int:
        """Submissions not handed back yet."""
        return len(self._queue)

    def submit(self, actions: Actions, info: dict[str, Any] | None = None, epochs: int | None = None) -> None:
        """Queue an evaluation of ``actions`` at fidelity ``epochs``; with ``info`` it is already done (a replay)."""
        if info is not None:
            entry = Submission(actions, State.DONE, info=info, epochs=epochs)
        elif self.pool is None:
            entry = Submission(actions, State.IN_TURN, epochs=epochs)
        else:
            key = self._cache_key(actions, epochs)
            if key is not None and (key in self._in_flight or self._in_cache(key)):
                entry = Submission(actions, State.IN_TURN, epochs=epochs)
            else:
                entry = Submission(actions, State.QUEUED, key=key, epochs=epochs)
                if key is not None:
                    self._in_flight.add(key)
        with self._lock:
            self._queue.append(entry)
        self._dispatch()

    def next_result(self) -> Submission:
        """Wait for the oldest submission to be done and hand it back (removed from the queue).

        While the oldest is still with a worker, this process evaluates
        submissions no worker has taken yet (local pool).
        """
        head = self._queue[0]
        while head.state is not State.DONE:
            self._dispatch()
            entry = self._take(head)
            if entry is not None:
                info = self._evaluate_here(entry.actions, entry.epochs)
                with self._lock:
                    entry.info, entry.state = info, State.DONE
            elif head.handle.done():
                self._collect(head)
            elif running := self._running():
                self.pool.wait_any(running)
        with self._lock:
            self._queue.popleft()
        if head.key is not None:
            self._in_flight.discard(head.key)
        return head

    def drop(self) -> None:
        """Forget every submission not handed back yet (the pool cancels those no worker has started)."""
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
        for entry in dropped:
            if entry.key is not None:
                self._in_flight.discard(entry.key)
            if entry.handle is not None and hasattr(entry.handle, "cancel"):
                entry.handle.cancel()

    def close(self) -> None:
        """Drop what is pending and stop the pool."""
        self._closing = True
        with self._lock:
            self._queue.clear()
        if self.pool is not None:
            self.pool.close()

    # -- internals ---------------------------------------------------------------------
    def _busy(self, entry: Submission) -> bool:
        return entry.state is State.RUNNING and not entry.handle.done()

    def _dispatch(self) -> None:
        """Hand the pool the oldest queued submissions, while it has a free worker."""
        if self.pool is None or self._closing:
            return
        started = []
        with self._lock:
            busy = sum(self._busy(e) for e in self._queue)
            # Where this process is a worker it keeps the oldest submission: a method that evaluates one
            # architecture at a time then runs exactly as without a pool.
            keep = self._queue[0] if self._queue and self.pool.driver_evaluates else None
            for entry in self._queue:
                if busy >= self.pool.started():
                    break
                if entry is keep or entry.state is not State.QUEUED:
                    continue
                entry.handle, entry.state = self.pool.submit(entry.actions, entry.epochs), State.RUNNING
                started.append(entry.handle)
                busy += 1
        for handle in started:  # outside the lock: a handle already done calls back at once, in this thread
            handle.add_done_callback(self._refill)

    def _refill(self, _handle: Any = None) -> None:
        """A worker finished or started (called from a pool thread): give it the next submission at once."""
        try:
            self._dispatch()
        except Exception as e:  # a broken pool surfaces in next_result(); a callback must not raise
            logger.debug("Could not hand the pool more work: %s", e)

    def _take(self, head: Submission) -> Submission | None:
        """The submission this process evaluates now, marked as taken; None to wait for a worker."""
        with self._lock:
            if head.state in (State.QUEUED, State.IN_TURN):
                head.state = State.HERE
                return head
            if self.pool is not None and self.pool.driver_evaluates:
                for entry in self._queue:
                    if entry.state is State.QUEUED:
                        entry.state = State.HERE
                        return entry
        return None

    def _running(self) -> list[Any]:
        """Handles of submissions a worker has and has not finished."""
        with self._lock:
            return [e.handle for e in self._queue if e.handle is not None and self._busy(e)]

    def _collect(self, entry: Submission) -> None:
        info = dict(entry.handle.result())
        info["action_mask"] = np.asarray(info.get("action_mask", ()), dtype=bool)
        with self._lock:
            entry.by_worker, entry.remote = True, not self.pool.uses_env_cache
            entry.info, entry.state = info, State.DONE
