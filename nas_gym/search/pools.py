"""Evaluation pools: score whole architectures in worker processes or on a Ray cluster.

A pool evaluates *action sequences* (an architecture's choice indices, which
are exactly the env's actions): each worker builds the env once from
``(env_id, env_kwargs)``, then per evaluation calls ``reset`` and ``step``
for each action and sends back the final-step ``info`` as plain data. The
search run that owns the pool (:class:`nas_gym.search.run.SearchRun`) records
the results, so history, best-so-far and logs live in one process only.

Two backends:

- ``local``: a :class:`concurrent.futures.ProcessPoolExecutor` on this
  machine (spawned processes, one torch thread each). The driver process is
  one of the ``workers``: it has an env anyway and would otherwise sit
  waiting, so ``workers=2`` starts one extra process, and the driver
  evaluates what it has submitted but not yet handed to a process.
  Workers use the env's own persistent cache, a SQLite file every process
  shares; its claims make sure that two workers never train the same
  architecture.
- ``ray``: Ray tasks on a running cluster (``address``) or on a Ray instance
  started here. A task whose worker process dies is retried by Ray
  (``max_retries``); the driver gets one result per submission, so every
  evaluation is recorded exactly once. Remote workers cannot see this
  machine's cache file, so they run with ``cache=False`` and the driver reads
  and writes the cache (see :meth:`nas_gym.search.run.SearchRun.submit`).

>>> import nas_gym
>>> make_pool("NAS-v0", {}, workers=1) is None  # one local worker: evaluate in-process
True
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from nas_gym.error import ConfigError, MissingDependencyError, unknown_name

logger = logging.getLogger(__name__)

BACKENDS = ("local", "ray")
RAY_EXTRA_HELP = 'pip install "nas-gym[ray]"'

#: Envs built in this (worker) process, keyed by env id and JSON of its kwargs.
_ENVS: dict[str, Any] = {}


def _env_key(env_id: str, env_kwargs: dict[str, Any]) -> str:
    return json.dumps([env_id, env_kwargs], sort_keys=True, default=str)


def _worker_env(env_id: str, env_kwargs: dict[str, Any]):
    """The env of this worker process, built on first use and kept for later evaluations."""
    key = _env_key(env_id, env_kwargs)
    env = _ENVS.get(key)
    if env is None:
        import gymnasium as gym

        import nas_gym  # noqa: F401  (registers the envs)
        from nas_gym.utils.threads import one_torch_thread

        # One evaluation per worker and one worker per core: more threads only contend.
        one_torch_thread()
        env = gym.make(env_id, **env_kwargs)
        env.reset()
        _ENVS[key] = env
    return env


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def play_episode(env: Any, actions: Sequence[int], epochs: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Play ``actions`` through ``env`` from a reset; the final step's reward and ``info``.

    The one loop that turns a proposed architecture into an episode: the
    search run's own evaluations, every worker's and
    :func:`nas_gym.search.optuna_space.objective` go through it. The reward
    is what the env's last ``step`` returned (a vector for an env with
    ``objectives``); the ``info`` has no ``arch`` key when the actions were
    invalid (the env's penalty info).

    Args:
        env: An env (wrapped or not) whose actions ``actions`` are.
        actions: One action per decision.
        epochs: The episode's fidelity (``reset``'s option), or None for the full budget.

    Returns:
        The final step's reward and ``info``.
    """
    env.reset(options=None if epochs is None else {"epochs": epochs})
    reward: Any = 0.0
    info: dict[str, Any] = {}
    for a in actions:
        _, reward, terminated, _, info = env.step(int(a))
        if terminated:
            break
    return reward, info


def play(env: Any, actions: Sequence[int], epochs: int | None = None) -> dict[str, Any]:
    """Play ``actions`` through ``env`` from a reset and return the final step's ``info`` (see :func:`play_episode`)."""
    return play_episode(env, actions, epochs)[1]


def evaluate_actions(
    env_id: str, env_kwargs: dict[str, Any], actions: Sequence[int], epochs: int | None = None
) -> dict[str, Any]:
    """Play ``actions`` through this process's env and return the final ``info`` as plain data.

    This is the function every worker runs; it is module level so that both
    pickle (local processes) and Ray can ship it by reference.

    Args:
        env_id: Registered env id.
        env_kwargs: Keyword arguments of ``gym.make``.
        actions: One action per decision.
        epochs: The fidelity (``reset(options={"epochs": ...})``), or None for the full budget.

    Returns:
        The final-step ``info`` (see :func:`play`) with arrays turned into lists.
    """
    info = play(_worker_env(env_id, env_kwargs), actions, epochs)
    return {k: _plain(v) for k, v in info.items()}


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent dies (no-op elsewhere).

    A search or benchmark killed with SIGKILL cannot stop its pool; without this
    its workers would keep running, holding run folders the resumed command needs.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:  # pragma: no cover - libc without prctl
        logger.debug("prctl(PR_SET_PDEATHSIG) unavailable; workers may outlive a killed parent")


def _start_worker(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Process-pool initializer: die with the parent, build the env before the first evaluation arrives."""
    die_with_parent()
    try:
        _worker_env(env_id, env_kwargs)
    except Exception as e:  # noqa: BLE001
        # The driver builds the same env and reports the error cleanly; a traceback from every
        # worker would bury it. An evaluation sent here anyway raises it again, to the driver.
        logger.debug("Worker could not build %s: %s", env_id, e)


class PendingEvaluation(Protocol):
    """One submitted evaluation (a :class:`concurrent.futures.Future` is one)."""

    def result(self) -> dict[str, Any]:
        """Block until the evaluation is done and return its final ``info`` (plain data)."""

    def done(self) -> bool:
        """Whether the result is ready."""

    def add_done_callback(self, fn: Any) -> None:
        """Call ``fn(self)`` once the evaluation is done (in some other thread)."""


class EvaluationPool(abc.ABC):
    """Evaluates architectures in other processes, up to :attr:`workers` at once.

    Attributes:
        env_id: Registered env id the workers build.
        env_kwargs: Keyword arguments of the workers' ``gym.make``.
        workers: Evaluations that run at the same time, the driver's included.
        processes: Worker processes (or Ray tasks in flight) of the pool itself.
        driver_evaluates: Whether the driver is one of the ``workers`` and
            evaluates what no worker has started yet.
        uses_env_cache: Whether workers read and write the env's persistent
            cache themselves (local processes) or the driver must (Ray).
    """

    #: Name of the backend (``"local"`` or ``"ray"``).
    backend: str = ""
    uses_env_cache: bool = True
    driver_evaluates: bool = False

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], workers: int):
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs)
        self.workers = int(workers)

    @property
    def processes(self) -> int:
        """Evaluations the pool itself runs at once."""
        return self.workers - 1 if self.driver_evaluates else self.workers

    def started(self) -> int:
        """Workers ready for evaluations now (the driver hands the pool no more than that at once)."""
        return self.processes

    def on_started(self, fn: Any) -> None:
        """Call ``fn()`` whenever a worker becomes ready (from another thread)."""
        del fn  # by default every worker is ready from the start: nothing to announce

    def wait_started(self) -> None:
        """Block until every worker is ready (benchmarks time evaluations, not start-up)."""
        return  # by default every worker is ready from the start

    @abc.abstractmethod
    def submit(self, actions: Sequence[int], epochs: int | None = None) -> PendingEvaluation:
        """Start evaluating ``actions`` at fidelity ``epochs`` (queued when every worker is busy)."""

    @abc.abstractmethod
    def wait_any(self, pending: Sequence[PendingEvaluation]) -> None:
        """Block until at least one of ``pending`` is done."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the workers (pending evaluations are cancelled)."""

    def __enter__(self) -> EvaluationPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalPool(EvaluationPool):
    """``workers - 1`` processes on this machine, the driver being the last worker.

    Processes are spawned (no thread or OpenMP state inherited from the
    parent) and started right away. Each imports torch and builds its env
    (seconds) before it counts as :meth:`started`; until then the driver
    keeps evaluating instead of queueing work behind a process not yet
    running.

    Args:
        env_id: Registered env id.
        env_kwargs: Keyword arguments of ``gym.make``.
        workers: Evaluations at once, the driver's included (≥ 2).
    """

    backend = "local"
    driver_evaluates = True

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], workers: int):
        super().__init__(env_id, env_kwargs, workers)
        self._executor = cf.ProcessPoolExecutor(
            max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(env_id, self.env_kwargs),
        )
        # The executor starts a process per submission while none is idle: one no-op each starts them all
        # now, and each no-op finishes once its process has built its env.
        self._warmups = [self._executor.submit(int) for _ in range(self.processes)]
        self._closed = False

    def started(self) -> int:
        """Processes that have built their env."""
        return sum(f.done() for f in self._warmups)

    def on_started(self, fn: Any) -> None:
        """Call ``fn()`` as each process becomes ready."""
        for f in self._warmups:
            f.add_done_callback(lambda _: fn())

    def wait_started(self) -> None:
        """Block until every process has built its env."""
        for f in self._warmups:
            f.result()

    def submit(self, actions: Sequence[int], epochs: int | None = None) -> cf.Future:
        """Queue ``actions`` (at fidelity ``epochs``) for the next free worker process.

        Raises:
            RuntimeError: The pool was closed. (Checked here: the executor alone would say either that,
                or, when it noticed its terminated processes first, that it is broken.)
        """
        if self._closed:
            raise RuntimeError("cannot submit to an evaluation pool after shutdown (it was closed)")
        return self._executor.submit(
            evaluate_actions, self.env_id, self.env_kwargs, tuple(int(a) for a in actions), epochs
        )

    def wait_any(self, pending: Sequence[cf.Future]) -> None:
        """Block until one of ``pending`` is done."""
        cf.wait(pending, return_when=cf.FIRST_COMPLETED)

    def close(self) -> None:
        """Stop the worker processes now, also one still importing or mid-evaluation.

        Waiting would cost a short search the seconds a late process takes
        to start; a claim in the cache left by a killed process is taken
        over (its pid is gone).
        """
        self._closed = True
        processes = list(getattr(self._executor, "_processes", None) or {})  # pids; no public API before 3.14
        # The first shutdown forgets its manager thread, so a second shutdown(wait=True) joins nothing; that
        # thread, handling the terminated processes, then raced the interpreter's exit, which wakes it through a
        # pipe it was closing ("OSError: [Errno 9] Bad file descriptor" printed after the CLI's error line).
        manager = getattr(self._executor, "_executor_manager_thread", None)
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            _terminate(process)
        if manager is not None:
            manager.join()
        self._executor.shutdown(wait=True)


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


class _RayPending:
    def __init__(self, ray: Any, ref: Any):
        self._ray, self._ref = ray, ref

    def result(self) -> dict[str, Any]:
        return self._ray.get(self._ref)

    def done(self) -> bool:
        ready, _ = self._ray.wait([self._ref], timeout=0)
        return bool(ready)

    def add_done_callback(self, fn: Any) -> None:
        self._ref.future().add_done_callback(lambda _: fn(self))


def import_ray() -> Any:
    """Import Ray, or say which extra installs it.

    Raises:
        MissingDependencyError: Ray is not installed.
    """
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError(
            f"backend 'ray' needs Ray, which is not installed; install the extra: {RAY_EXTRA_HELP}"
        ) from e
    return ray


#: Ray's docs page on token authentication (Ray ≥ 2.52), named in :func:`ray_auth_message`.
RAY_TOKEN_AUTH_DOCS = "https://docs.ray.io/en/latest/ray-security/token-auth.html"
#: What Ray's refusals of a missing or wrong token contain: the class of the error it raises
#: (``ray.exceptions.AuthenticationError``, directly or as text in the traceback that its "Failed to connect
#: to GCS" error quotes), the RPC error it reports and the gRPC status behind it.
_RAY_AUTH_MARKERS = ("AuthenticationError", "InvalidAuthToken", "Unauthenticated")


def is_ray_auth_failure(error: BaseException) -> bool:
    """Whether ``ray.init(address=...)`` failed because the cluster refused this process's token (or its lack).

    Ray (≥ 2.52) raises :class:`ray.exceptions.AuthenticationError` itself
    when this process is in token mode without a token; when the cluster
    rejects what this process sent, ``ray.init`` raises a ``ConnectionError``
    ("Failed to connect to Ray cluster") from a ``RuntimeError`` whose message
    quotes the ``AuthenticationError`` traceback as text. Both are recognised,
    along the exception's whole chain.

    Args:
        error: What ``ray.init`` raised.

    Returns:
        True for a token refusal; False for anything else (an address where no cluster answers).
    """
    seen: set[int] = set()
    chain: BaseException | None = error
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        names = {cls.__name__ for cls in type(chain).__mro__}
        if "AuthenticationError" in names or any(m in str(chain) for m in _RAY_AUTH_MARKERS):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


def _ray_token_source() -> str | None:
    """Where Ray would read this process's token from, in Ray's order of precedence, or None."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "the RAY_AUTH_TOKEN variable"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return f"{path} (RAY_AUTH_TOKEN_PATH)"
    default = os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    return default if os.path.isfile(default) else None


def ray_auth_message(address: str) -> str:
    """What to tell a user whose process the Ray cluster at ``address`` refused for its token, and the fix.

    Says why from this process's settings (``RAY_AUTH_MODE``, and the token
    Ray would send: ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH``
    names, or ``~/.ray/auth_token``, in Ray's order), then how to give it
    the cluster's token.

    Args:
        address: The cluster's address, as given (``--ray-address``).

    Returns:
        The message of the :class:`~nas_gym.error.ConfigError` that :class:`RayPool` raises.
    """
    mode = os.environ.get("RAY_AUTH_MODE")
    source = _ray_token_source()
    refused = f"The Ray cluster at {address!r} uses token authentication and refused this process"
    if (mode or "").lower() != "token":
        setting = f"RAY_AUTH_MODE={mode}" if mode else "RAY_AUTH_MODE is not set"
        why = f"{refused}: {setting} here, so it sent no token"
        if source is not None:
            why += f" (it has one, in {source}: if that is the cluster's, RAY_AUTH_MODE=token is all it needs)"
    elif source is None:
        # Ray checks this before it connects: nothing reached the cluster.
        why = (f"Ray did not connect to the cluster at {address!r}: RAY_AUTH_MODE=token here, "
               "but this process has no token")
    else:
        why = f"{refused}'s token, from {source}: it is not the cluster's"
    return (
        f"{why}. Run with RAY_AUTH_MODE=token and the cluster's token, either in the RAY_AUTH_TOKEN variable or in a "
        "token file (~/.ray/auth_token, or the file RAY_AUTH_TOKEN_PATH names); `ray get-auth-token` on the "
        f"cluster's head node prints it. See {RAY_TOKEN_AUTH_DOCS}"
    )


class RayPool(EvaluationPool):
    """Ray tasks, one CPU each, on an existing cluster or on a Ray instance started here.

    A Ray worker process keeps its env between tasks (module-level), so the
    env is built once per worker process, not per evaluation. Workers run
    with ``cache=False``: the driver owns the cache. Every node needs the
    same nas-gym installation and, for table envs, the table at the same
    path.

    Args:
        env_id: Registered env id.
        env_kwargs: Keyword arguments of ``gym.make`` (``cache`` is replaced by False).
        workers: Evaluations in flight at once.
        address: Address of a running cluster (``"HOST:PORT"``, as printed by
            ``ray start --head``); None starts a Ray instance on this machine
            with ``workers`` CPUs (or joins the one already initialised).
        max_retries: Times Ray re-runs an evaluation whose worker died.

    Raises:
        MissingDependencyError: Ray is not installed.
        ConfigError: No cluster answers at ``address``, or the cluster uses token
            authentication and refused this process's token (the message says
            why and how to give it the token, see :func:`ray_auth_message`).
    """

    backend = "ray"
    uses_env_cache = False

    def __init__(
        self, env_id: str, env_kwargs: dict[str, Any], workers: int, address: str | None = None, max_retries: int = 3
    ):
        super().__init__(env_id, {**env_kwargs, "cache": False}, workers)
        self._ray = ray = import_ray()
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            if address is None:
                ray.init(num_cpus=self.workers, include_dashboard=False, logging_level=logging.WARNING)
            else:
                try:
                    ray.init(address=address, logging_level=logging.WARNING)
                except Exception as e:
                    if is_ray_auth_failure(e):
                        raise ConfigError(ray_auth_message(address)) from e
                    if not isinstance(e, ConnectionError):
                        raise
                    raise ConfigError(
                        f"Could not reach a Ray cluster at {address!r} ({e}). Give the address that "
                        "`ray start --head` printed (HOST:PORT), or leave --ray-address out to start Ray here."
                    ) from e
        self._evaluate = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(evaluate_actions)
        # Ship the kwargs once; every task refers to the stored copy.
        self._kwargs_ref = ray.put(self.env_kwargs)

    def submit(self, actions: Sequence[int], epochs: int | None = None) -> _RayPending:
        """Start a Ray task evaluating ``actions`` (at fidelity ``epochs``)."""
        ref = self._evaluate.remote(self.env_id, self._kwargs_ref, tuple(int(a) for a in actions), epochs)
        return _RayPending(self._ray, ref)

    def wait_any(self, pending: Sequence[_RayPending]) -> None:
        """Block until one of ``pending`` is done."""
        self._ray.wait([p._ref for p in pending], num_returns=1)

    def close(self) -> None:
        """Disconnect from Ray when this pool connected (a cluster keeps running)."""
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()


def make_pool(
    env_id: str,
    env_kwargs: dict[str, Any] | None,
    workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
) -> EvaluationPool | None:
    """The pool that evaluates up to ``workers`` architectures at once, or None for in-process evaluation.

    Args:
        env_id: Registered env id.
        env_kwargs: Keyword arguments of ``gym.make``.
        workers: Evaluations at once (≥ 1).
        backend: ``"local"`` (processes on this machine) or ``"ray"``.
        ray_address: Ray cluster address ``"HOST:PORT"`` (``ray`` backend only);
            None starts Ray on this machine.

    Returns:
        None for one local worker (the caller evaluates in its own process,
        with no extra process at all); else a :class:`LocalPool` (``workers - 1``
        processes plus the caller) or a :class:`RayPool` (``workers`` tasks at once).

    Raises:
        ConfigError: ``workers`` < 1, an unknown backend, or an address without the ``ray`` backend.
        MissingDependencyError: ``backend="ray"`` without Ray installed.
    """
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"workers must be an integer ≥ 1 (architectures evaluated at once), got {workers!r}.")
    if backend not in BACKENDS:
        raise unknown_name("backend", backend, BACKENDS)
    if ray_address is not None and backend != "ray":
        raise ConfigError(f"A Ray address ({ray_address!r}) needs backend='ray' (--backend ray); got {backend!r}.")
    env_kwargs = dict(env_kwargs or {})
    if backend == "ray":
        return RayPool(env_id, env_kwargs, int(workers), address=ray_address)
    if workers == 1:
        return None
    return LocalPool(env_id, env_kwargs, int(workers))
