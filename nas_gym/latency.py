"""Latency models: how many milliseconds an architecture takes per forward pass.

- :class:`MeasuredLatency` times the built network on this host (torch,
  eval mode, inference mode, pinned thread count, warm-up, fastest of repeats)
  and caches the figure per host in the SQLite evaluation cache, so the same
  architecture on the same host always gets the same number.
- :class:`OnnxRuntimeLatency` is the same, but times the network exported to
  ONNX and run by onnxruntime on this host's CPU (the ``onnx`` extra): what a
  deployment through onnxruntime would see.
- :class:`OpTableLatency` times each distinct operation once on this host and
  sums the operations of an architecture: fast after the first measurements,
  and, being a sum over per-op costs, usable as a differentiable expectation
  by DARTS (:meth:`OpTableLatency.op_latency_ms`).

A table's device column (FPGA, Raspberry Pi 4, Pixel 3, ...) needs no model:
the table evaluator reports it with the accuracies.

:data:`LATENCY_MODELS` holds them by the names the env's ``latency``
argument takes (``measured``, ``onnxruntime``, ``op_table``; ``table`` and
``none`` add no model):

=============== ====================== =========================================
name            class                  latency_kwargs
=============== ====================== =========================================
``measured``    MeasuredLatency        batch_size, warmup, repeats, num_threads
``onnxruntime`` OnnxRuntimeLatency     batch_size, warmup, repeats, num_threads
``op_table``    OpTableLatency         cache_dir, batch_size, warmup, repeats,
                                       num_threads
``table``       (the table's column)   none
``none``        (no latency)           none
=============== ====================== =========================================

A new latency model is a :class:`LatencyModel` subclass and one
``LATENCY_MODELS.register`` line.
"""

from __future__ import annotations

import abc
import functools
import gc
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nas_gym.error import CacheError, ConfigError
from nas_gym.registry import Registry
from nas_gym.storage.cache import EvalCache, cache_key, default_cache_dir

# torch loads where a model times a network, not on import: a table env's latency is a column.
if TYPE_CHECKING:
    import torch

    from nas_gym.evaluators.base import Evaluator
    from nas_gym.evaluators.table import TabularBenchmark
    from nas_gym.spaces.base import Architecture, SearchSpace
    from nas_gym.tasks.base import Task

logger = logging.getLogger(__name__)


#: How repeats are reduced to one figure; part of every timing model's settings,
#: so figures cached under an earlier statistic are never mixed with these.
TIMING_STATISTIC = "min"


@functools.cache
def _cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_fingerprint(num_threads: int) -> dict[str, Any]:
    """Describe what makes timings on this host comparable: machine, CPU, torch, threads."""
    import torch

    return {
        "node": platform.node(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "torch": torch.__version__,
        "num_threads": int(num_threads),
    }


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _timing_input(module: torch.nn.Module, batch_size: int, input_shape: tuple[int, ...]) -> torch.Tensor:
    """The batch every timing model feeds (fixed, so no model draws from torch's global RNG).

    Normal floats, or token ids for a network that reads tokens (:func:`nas_gym.utils.inputs.random_input`):
    one pass of a language model over a full context is the time it takes to generate one token.
    """
    import torch

    from nas_gym.utils.inputs import random_input

    return random_input(module, (batch_size, *input_shape), torch.Generator().manual_seed(0))


def fastest_ms(call: Callable[[], object], *, warmup: int, repeats: int) -> float:
    """Fastest wall time of ``call()`` over ``repeats`` after ``warmup`` untimed calls, in milliseconds.

    The garbage collector is paused meanwhile, so a collection does not land
    inside a timed call.
    """
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(warmup):
            call()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    finally:
        if gc_enabled:
            gc.enable()
    return 1000.0 * min(times)


def measure_ms(
    module: torch.nn.Module,
    input_shape: tuple[int, ...],
    *,
    batch_size: int = 1,
    warmup: int = 3,
    repeats: int = 15,
    num_threads: int = 1,
) -> float:
    """Fastest wall time of one forward pass of ``module``, in milliseconds.

    The minimum over repeats is the figure least disturbed by other processes
    and timer noise: on a shared 2-core host it ranked 30 architectures the
    same way as the per-op sum with Spearman 0.93-0.99 over repeated runs,
    where the median of the same repeats ranged from 0.71 to 0.96.

    Runs in eval mode under ``torch.inference_mode`` with torch pinned to
    ``num_threads`` threads (restored afterwards), timed by :func:`fastest_ms`.

    Args:
        module: The network or operation to time.
        input_shape: Shape of one input without the batch axis.
        batch_size: Inputs per forward pass.
        warmup: Untimed passes first (allocator, caches, lazy init).
        repeats: Timed passes; the fastest is returned.
        num_threads: Torch intra-op threads while timing.
    """
    import torch

    x = _timing_input(module, batch_size, input_shape)
    threads = torch.get_num_threads()
    was_training = module.training
    torch.set_num_threads(num_threads)
    module.eval()
    try:
        with torch.inference_mode():
            return fastest_ms(lambda: module(x), warmup=warmup, repeats=repeats)
    finally:
        module.train(was_training)
        torch.set_num_threads(threads)


def _check_settings(batch_size: int, warmup: int, repeats: int, num_threads: int) -> dict[str, int]:
    for name, value, low in (
        ("batch_size", batch_size, 1),
        ("warmup", warmup, 0),
        ("repeats", repeats, 1),
        ("num_threads", num_threads, 1),
    ):
        if int(value) != value or value < low:
            raise ConfigError(f"Latency setting {name} must be an integer >= {low}, got {value!r}.")
    return {
        "batch_size": int(batch_size),
        "warmup": int(warmup),
        "repeats": int(repeats),
        "num_threads": int(num_threads),
    }


class LatencyModel(abc.ABC):
    """Milliseconds per forward pass for an architecture."""

    @abc.abstractmethod
    def latency_ms(self, arch: Architecture) -> float:
        """Latency of ``arch`` in milliseconds."""

    def settings(self) -> dict[str, Any]:
        """Plain-data settings that change results (part of cache keys)."""
        return {}


class MeasuredLatency(LatencyModel):
    """Time the whole built network on this host, cached per host.

    The canonical form of the architecture is built (with torch's global RNG
    untouched) and timed with :func:`measure_ms` (a subclass times it its own
    way in :meth:`time_ms`). The result is stored in the
    evaluation cache under a key made of the host fingerprint, the space, the
    canonical arch string, the task's input shape and the timing settings;
    later calls on this host return the stored figure.

    Args:
        task: Supplies the input shape (and the output size the network is built for).
        batch_size: Inputs per forward pass.
        warmup: Untimed passes before timing.
        repeats: Timed passes; the fastest is reported.
        num_threads: Torch threads while timing.
        cache: An :class:`EvalCache`; ``"default"`` for the one in the
            default cache directory; the path of a cache file; or None to
            keep figures in this object only.
    """

    #: The ``kind`` of :meth:`settings`, so figures of different timing models never share a cache entry.
    kind = "measured"

    def __init__(
        self,
        task: Task,
        *,
        batch_size: int = 1,
        warmup: int = 3,
        repeats: int = 15,
        num_threads: int = 1,
        cache: EvalCache | str | os.PathLike[str] | None = "default",
    ) -> None:
        self.task = task
        self._settings = _check_settings(batch_size, warmup, repeats, num_threads)
        self.host = self.fingerprint(num_threads)
        if cache == "default":
            cache = EvalCache()
        elif isinstance(cache, (str, os.PathLike)):
            cache = EvalCache(os.fspath(cache))
        self.cache = cache
        self._memo: dict[str, float] = {}

    def fingerprint(self, num_threads: int) -> dict[str, Any]:
        """What makes this model's timings on this host comparable (:func:`host_fingerprint`)."""
        return host_fingerprint(num_threads)

    def time_ms(self, module: torch.nn.Module) -> float:
        """Milliseconds per forward pass of the built network ``module``, not cached."""
        return measure_ms(module, self.task.input_shape, **self._settings)

    def settings(self) -> dict[str, Any]:
        """Kind, timing settings, host fingerprint and input shape (and a language model's vocabulary size)."""
        return {
            "kind": self.kind,
            **self._settings,
            "statistic": TIMING_STATISTIC,
            "host": self.host,
            "input_shape": list(self.task.input_shape),
            # A language model's embedding and head grow with its vocabulary (other tasks' keys keep their form).
            **({"vocab_size": self.task.num_classes} if self.task.is_language_model else {}),
        }

    def cache_key(self, arch: Architecture) -> str:
        """Cache key of ``arch``'s latency on this host with these settings."""
        return cache_key(arch.space.key, str(arch.space.canonical(arch)), type(self).__name__, self.settings())

    def latency_ms(self, arch: Architecture) -> float:
        """Measured (or cached) latency of ``arch`` in milliseconds."""
        key = self.cache_key(arch)
        if key in self._memo:
            return self._memo[key]
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is not None:
            value = float(stored["latency_ms"])
        else:
            import torch

            canonical = arch.space.canonical(arch)
            # Building initialises weights from torch's global RNG; fork it so
            # timing an architecture never shifts a training run's random stream.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                module = arch.space.build(canonical, self.task)
            value = self.time_ms(module)
            logger.debug("Measured %s (%s): %.4f ms.", canonical, self.kind, value)
            if self.cache is not None:
                self.cache.put(key, {"latency_ms": value, "arch": str(canonical), "host": self.host})
        self._memo[key] = value
        return value


class OnnxRuntimeLatency(MeasuredLatency):
    """Time the whole network exported to ONNX and run by onnxruntime on this host, cached per host.

    As :class:`MeasuredLatency` (canonical form, torch's global RNG untouched,
    the same warm-up, repeats and statistic, the same cache), but the built
    network is exported in memory with :func:`nas_gym.model.onnx.onnx_bytes`
    and each timed call is one ``session.run`` of an onnxruntime CPU session
    with ``num_threads`` intra-op threads (:func:`nas_gym.model.onnx.onnx_session`).
    The host fingerprint holds onnxruntime's version and the settings the
    ONNX opset, so figures of another runtime are never mixed with these.
    Takes :class:`MeasuredLatency`'s arguments, and needs the ``onnx`` extra
    (``pip install 'nas-gym[onnx]'``).

    Raises:
        MissingDependencyError: The ``onnx`` extra is not installed.
    """

    kind = "onnxruntime"

    def fingerprint(self, num_threads: int) -> dict[str, Any]:
        """The host fingerprint plus onnxruntime's version."""
        from nas_gym.model import onnx as onnx_export

        _, ort = onnx_export.require_onnx()
        return {**host_fingerprint(num_threads), "onnxruntime": ort.__version__}

    def settings(self) -> dict[str, Any]:
        """As :meth:`MeasuredLatency.settings`, plus the ONNX opset."""
        from nas_gym.model import onnx as onnx_export

        return {**super().settings(), "opset": onnx_export.OPSET}

    def time_ms(self, module: torch.nn.Module) -> float:
        """Milliseconds per ``session.run`` of ``module`` exported to ONNX, not cached."""
        from nas_gym.model import onnx as onnx_export

        session = onnx_export.onnx_session(
            onnx_export.onnx_bytes(module, self.task.input_shape), num_threads=self._settings["num_threads"]
        )
        batch = _timing_input(module, self._settings["batch_size"], self.task.input_shape)
        feed = {onnx_export.INPUT_NAME: batch.numpy()}
        return fastest_ms(
            lambda: session.run(None, feed), warmup=self._settings["warmup"], repeats=self._settings["repeats"]
        )


def _as_key(data: Any) -> Any:
    """JSON lists back to the hashable tuples ``op_keys`` returns."""
    return tuple(_as_key(x) for x in data) if isinstance(data, list) else data


class OpTableLatency(LatencyModel):
    """Sum of per-operation latencies, each timed once on this host.

    Every distinct key of ``space.op_keys(arch, task)`` is built with
    ``space.build_op`` and timed with :func:`measure_ms`. The table lives in a
    JSON file in ``cache_dir`` whose name holds the space key, the input
    shape and a digest of the host fingerprint and timing settings; it is
    read on start and rewritten atomically when new operations are timed, so
    several processes can share it.

    Args:
        space: A space that implements ``op_keys`` and ``build_op``.
        task: Supplies the input shape.
        cache_dir: Folder of the table file; defaults to ``op_latency`` in
            the default cache directory (``NAS_GYM_CACHE_DIR`` overrides it).
        batch_size: Inputs per forward pass.
        warmup: Untimed passes before timing each operation.
        repeats: Timed passes per operation; the fastest is used.
        num_threads: Torch threads while timing.
    """

    def __init__(
        self,
        space: SearchSpace,
        task: Task,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 1,
        warmup: int = 3,
        repeats: int = 15,
        num_threads: int = 1,
    ) -> None:
        self.space = space
        self.task = task
        self._settings = _check_settings(batch_size, warmup, repeats, num_threads)
        self.host = host_fingerprint(num_threads)
        if cache_dir is None:
            cache_dir = Path(default_cache_dir()) / "op_latency"
        shape = "x".join(str(d) for d in task.input_shape)
        digest = _digest({"host": self.host, **self._settings, "statistic": TIMING_STATISTIC})[:12]
        safe_space = space.key.replace(":", "-")
        self.path = Path(cache_dir) / f"{safe_space}__{shape}__{digest}.json"
        self._table: dict[tuple, float] = self._read()

    def settings(self) -> dict[str, Any]:
        """Kind, timing settings, host fingerprint, space and input shape."""
        return {
            "kind": "op_table",
            **self._settings,
            "statistic": TIMING_STATISTIC,
            "host": self.host,
            "space": self.space.key,
            "input_shape": list(self.task.input_shape),
        }

    def _read(self) -> dict[tuple, float]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            return {_as_key(key): float(ms) for key, ms in data["ops"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CacheError(
                f"Op latency table {self.path} is unreadable ({e}). Delete it; it is rebuilt on the next run."
            ) from e

    def _write(self) -> None:
        # Another process may have timed other ops meanwhile: keep its entries,
        # and its figures for ops both timed, so every reader agrees.
        merged = {**self._table, **self._read()}
        self._table = merged
        data = {
            "space": self.space.key,
            "input_shape": list(self.task.input_shape),
            "settings": self._settings,
            "host": self.host,
            "ops": [[list(key), ms] for key, ms in merged.items()],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.stem, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=0)
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise

    def _measure(self, keys: Iterable[tuple]) -> int:
        """Time the keys not in the table yet; persist once; return how many were new."""
        import torch

        new = [key for key in dict.fromkeys(keys) if key not in self._table]
        for i, key in enumerate(new):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                module, input_shape = self.space.build_op(key)
            self._table[key] = measure_ms(module, input_shape, **self._settings)
            if (i + 1) % 50 == 0:
                logger.info("Timed %d of %d new operations.", i + 1, len(new))
        if new:
            self._write()
        return len(new)

    def op_latency_ms(self, key: tuple) -> float:
        """Latency of one operation (a key from ``space.op_keys``) in milliseconds."""
        self._measure([key])
        return self._table[key]

    def latency_ms(self, arch: Architecture) -> float:
        """Sum of the latencies of ``arch``'s operations, in milliseconds."""
        keys = self.space.op_keys(arch, self.task)
        self._measure(keys)
        return float(sum(self._table[key] for key in keys))

    def build(self, archs: Iterable[Architecture] | None = None) -> int:
        """Time every operation the given architectures use (all of the space's when None).

        Args:
            archs: Architectures whose operations to time; None enumerates the
                whole space, which only suits small spaces.

        Returns:
            Number of operations newly timed.
        """
        archs = self.space.enumerate() if archs is None else archs
        keys = [key for arch in archs for key in self.space.op_keys(arch, self.task)]
        return self._measure(keys)

    def __len__(self) -> int:
        return len(self._table)


class LatencyInputs(Protocol):
    """What a latency model's factory reads of the env being built (:class:`~nas_gym.env.parts.EnvParts` is one).

    Factories take this, not the env's whole bundle of parts, so that no part imports the env.
    """

    space: SearchSpace
    cache: EvalCache | None
    table: TabularBenchmark | None
    evaluator: Evaluator

    @property
    def task(self) -> Task:
        """The env's task, loaded on first use."""
        ...


#: Latency models by the names of the env's ``latency`` argument. A factory takes what it reads of the env
#: being built (:class:`LatencyInputs`) and the user's ``latency_kwargs``; None means the
#: evaluator's own figure (a table's latency column) or no latency at all.
LATENCY_MODELS: Registry[LatencyModel | None] = Registry("latency model", group="nas_gym.latency_models")


def _whole_network(model: type[MeasuredLatency]) -> Callable[..., MeasuredLatency]:
    """The factory of a model that times whole networks: the env's task and cache, the user's settings."""

    def factory(parts: LatencyInputs, /, **kwargs: Any) -> MeasuredLatency:
        return model(parts.task, cache=parts.cache, **kwargs)

    return factory


LATENCY_MODELS.register("measured", _whole_network(MeasuredLatency), takes=MeasuredLatency, fixed=("task", "cache"))
LATENCY_MODELS.register(
    "onnxruntime", _whole_network(OnnxRuntimeLatency), takes=OnnxRuntimeLatency, fixed=("task", "cache")
)


@LATENCY_MODELS.register("op_table", takes=OpTableLatency, fixed=("space", "task"))
def _op_table(parts: LatencyInputs, /, **kwargs: Any) -> OpTableLatency:
    return OpTableLatency(parts.space, parts.task, **kwargs)


@LATENCY_MODELS.register("table")
def _table_column(parts: LatencyInputs, /) -> None:
    """The latency column arrives in the table evaluator's metrics."""
    if parts.table is None or parts.table.roles["latency"] is None:
        raise ConfigError("latency='table' needs latency_column='<column of latency in ms>' and a table.")


@LATENCY_MODELS.register("surrogate")
def _surrogate_latency(parts: LatencyInputs, /) -> None:
    """The surrogate evaluator's predicted latency arrives in its metrics."""
    if getattr(parts.evaluator, "own_latency", None) != "surrogate":
        raise ConfigError("latency='surrogate' needs evaluator='surrogate', whose predictions include latency.")


@LATENCY_MODELS.register("none")
def _no_latency(parts: LatencyInputs, /) -> None:
    """Rewards are pure accuracy."""
