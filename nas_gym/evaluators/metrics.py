"""The metrics record every evaluator returns and every reward reads."""

from __future__ import annotations

import math
from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any


@dataclass
class Metrics:
    """What one evaluation of an architecture measured.

    Its fields are the one list of the metrics (:data:`METRIC_FIELDS`): an
    :class:`~nas_gym.env.evaluation.Evaluation`, the final step's ``info`` and
    the ``history.jsonl`` line take theirs from it, so a metric added here
    reaches them all.

    Accuracies are fractions in [0, 1]. ``latency_ms`` is None until a latency
    model fills it in. ``cost_s`` is the wall time the evaluation cost (for a
    table lookup, the table's recorded training time when it has one, else 0).

    Attributes:
        val_accuracy: Validation accuracy in [0, 1].
        test_accuracy: Test accuracy in [0, 1] (NaN when the source has none).
        latency_ms: Latency in milliseconds, or None.
        params: Number of trainable parameters (0 when unknown).
        flops: Multiply-accumulate count of one forward pass (0 when unknown).
        cost_s: Seconds the evaluation took.
        diverged: Training produced a NaN/Inf loss; accuracies are chance level.
        timed_out: Training hit its time limit before finishing.
        extra: Further evaluator-specific values (plain data). On a regression
            task the accuracies are R² scores (see :mod:`nas_gym.tasks.loss`) and
            ``extra`` holds ``val_mse`` and ``test_mse`` (None if training diverged);
            on a language-modelling task the accuracies are next-character
            accuracies and ``extra`` holds ``val_bpc`` and ``test_bpc``, the
            cross-entropy in bits per character (None if training diverged).
    """

    val_accuracy: float
    test_accuracy: float = math.nan
    latency_ms: float | None = None
    params: int = 0
    flops: int = 0
    cost_s: float = 0.0
    diverged: bool = False
    timed_out: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def val_mse(self) -> float | None:
        """Validation mean squared error of a regression task (None otherwise, or when training diverged)."""
        return self.extra.get("val_mse")

    @property
    def test_mse(self) -> float | None:
        """Test mean squared error of a regression task (None otherwise, or when training diverged)."""
        return self.extra.get("test_mse")

    @property
    def val_bpc(self) -> float | None:
        """Validation bits per character of a language-modelling task (None otherwise, or when training diverged)."""
        return self.extra.get("val_bpc")

    @property
    def test_bpc(self) -> float | None:
        """Test bits per character of a language-modelling task (None otherwise, or when training diverged)."""
        return self.extra.get("test_bpc")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in names})


#: The fields of :class:`Metrics` that are measured figures (all but ``extra``), in order.
METRIC_FIELDS: tuple[Field, ...] = tuple(f for f in fields(Metrics) if f.name != "extra")
