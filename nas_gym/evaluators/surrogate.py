"""The surrogate evaluator: metrics predicted by a fitted model instead of trained (``evaluator="surrogate"``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.predictors.surrogate import Surrogate
from nas_gym.spaces.base import Architecture, SearchSpace

# Distinct architectures whose predictions are kept; a random search of a few hundred thousand
# episodes stays within it at a few hundred bytes each.
_MEMO_SIZE = 1_000_000


class SurrogateEvaluator(Evaluator):
    """Scores an architecture with a surrogate model: an instant, deterministic estimate.

    The model is a :class:`~nas_gym.predictors.surrogate.Surrogate`.

    Predicted accuracies are clipped to [0, 1]; latency, parameters and FLOPs
    are filled in where the surrogate predicts them (parameters and FLOPs
    rounded), else left unknown. ``cost_s`` is 0 and ``extra`` carries
    ``surrogate`` (the model's file name) and, per predicted metric, the
    ensemble's standard deviation as ``<metric>_std`` — the model's own
    uncertainty, not the noise of real training.

    Args:
        space: The env's space; it must be the surrogate's.
        path: A surrogate's file stem (see :mod:`nas_gym.predictors.surrogate`); None for the one shipped in
            the package.

    Raises:
        ConfigError: ``space`` is not the surrogate's space.
        DataError: The surrogate's files are missing or malformed.
    """

    #: The latency model name that means "this evaluator's own figure" (see ``build_parts``).
    own_latency = "surrogate"

    def __init__(self, space: SearchSpace, path: str | os.PathLike[str] | None = None):
        self.model = Surrogate(path)
        self.model.check_space(space)
        self._path = None if path is None else os.fspath(path)
        self._memo: dict[tuple[int, ...], dict[str, Any]] = {}

    def evaluate(self, arch: Architecture) -> Metrics:
        """The surrogate's prediction for ``arch`` (memoised: the model is deterministic)."""
        known = self._memo.get(arch.indices)
        if known is None:
            predicted = self.model.predict([arch])
            known = {"extra": {"surrogate": self.model.path.name}}
            for metric, (mean, std) in predicted.items():
                value = float(mean[0])
                if metric.endswith("accuracy"):
                    value = float(np.clip(value, 0.0, 1.0))
                elif metric in ("params", "flops"):
                    value = max(0, round(value))
                known[metric] = value
                known["extra"][f"{metric}_std"] = float(std[0])
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[arch.indices] = known
        return Metrics(**{**known, "extra": dict(known["extra"])})

    def settings(self) -> dict[str, Any]:
        """The surrogate's identity (file and fit), so caches never mix two surrogates."""
        return {"surrogate": self._path or "shipped", "fit": self.model.meta.get("fit", {}).get("digest")}
