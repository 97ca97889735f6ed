"""The evaluation cache in front of an evaluator: :class:`CachedEvaluator`."""

from __future__ import annotations

import logging
from typing import Any

from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.spaces.base import Architecture
from nas_gym.storage.cache import EvalCache, cache_key

logger = logging.getLogger(__name__)


class CachedEvaluator(Evaluator):
    """An evaluator whose results are stored in, and read back from, an :class:`EvalCache`.

    Its ``name`` and ``settings()`` are the wrapped evaluator's, so wrapping
    does not change cache keys. Returned metrics carry ``extra["cached"]``;
    a hit keeps the original ``cost_s`` so search cost is reported honestly.

    Args:
        evaluator: The evaluator that does the work on a miss.
        cache: The cache; None turns caching off (every call evaluates).
        wait_timeout_s: Longest wait for another process evaluating the same
            architecture; None waits while its claim stays live.
    """

    def __init__(self, evaluator: Evaluator, cache: EvalCache | None, *, wait_timeout_s: float | None = None) -> None:
        self.evaluator = evaluator
        self.cache = cache
        self.wait_timeout_s = wait_timeout_s

    @property
    def name(self) -> str:
        """The wrapped evaluator's name."""
        return self.evaluator.name

    def settings(self) -> dict[str, Any]:
        """Return the wrapped evaluator's settings."""
        return self.evaluator.settings()

    def __repr__(self) -> str:
        return f"CachedEvaluator({self.evaluator!r}, {self.cache!r})"

    def key(self, arch: Architecture, epochs: int | None = None) -> str:
        """Cache key of ``arch`` under this evaluator (its canonical form counts), at fidelity ``epochs`` if given."""
        space = arch.space
        settings = self.settings() if epochs is None else {**self.settings(), "fidelity_epochs": int(epochs)}
        return cache_key(space.key, str(space.canonical(arch)), self.name, settings)

    def max_epochs(self) -> int | None:
        """The wrapped evaluator's largest fidelity."""
        return self.evaluator.max_epochs()

    def evaluate_at(self, arch: Architecture, epochs: int) -> Metrics:
        """:meth:`evaluate` at a fidelity: a record per fidelity (its key says which)."""
        return self.evaluate(arch, epochs)

    def evaluate(self, arch: Architecture, epochs: int | None = None) -> Metrics:
        """Metrics of ``arch`` from the cache, else from the wrapped evaluator (then stored).

        When another process is evaluating the same architecture, waits for
        its result instead of training it a second time. With ``epochs`` the
        wrapped evaluator's :meth:`~Evaluator.evaluate_at` is asked instead.
        """
        if self.cache is None:
            return self._fresh(arch, epochs)
        key = self.key(arch, epochs)
        while True:
            record = self.cache.get(key)
            if record is None:
                if self.cache.claim(key):
                    break
                record = self.cache.wait(key, timeout_s=self.wait_timeout_s)
            if record is not None:
                metrics = Metrics.from_dict(record["metrics"])
                metrics.extra["cached"] = True
                return metrics
        try:
            metrics = self._fresh(arch, epochs)
        except BaseException:
            self.cache.release(key)
            raise
        self.store(arch, metrics, key=key)
        return metrics

    def store(self, arch: Architecture, metrics: Metrics, *, key: str | None = None, epochs: int | None = None) -> None:
        """Put ``metrics`` of ``arch`` into the cache, as :meth:`evaluate` does after evaluating.

        The search run calls it for results computed elsewhere (a Ray worker
        runs without the cache, so the driver stores what it sends back).
        """
        if self.cache is None:
            return
        stored = metrics.to_dict()
        stored["extra"].pop("cached", None)
        self.cache.put(
            self.key(arch, epochs) if key is None else key,
            {
                "metrics": stored,
                "space": arch.space.key,
                "arch": str(arch.space.canonical(arch)),
                "evaluator": self.name,
                "settings": self.settings(),
            },
        )

    def _fresh(self, arch: Architecture, epochs: int | None = None) -> Metrics:
        metrics = self.evaluator.evaluate(arch) if epochs is None else self.evaluator.evaluate_at(arch, epochs)
        metrics.extra["cached"] = False
        return metrics
