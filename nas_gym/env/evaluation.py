"""``Evaluation``: the one record of one scored architecture.

The env produces it (:meth:`nas_gym.env.nas_env.NASEnv.score`); the final step's
``info`` is built from it (:meth:`Evaluation.info`); the search run writes
the ``history.jsonl`` line from it (:meth:`Evaluation.record`) and reads it
back to resume (:meth:`Evaluation.from_record`); results of remote workers
arrive as plain data and become one again (:meth:`Evaluation.from_info`).
The conversions live here and nowhere else.

An evaluator's output is a :class:`~nas_gym.evaluators.metrics.Metrics`
(what was measured); an ``Evaluation`` adds the architecture and the reward
the env paid for those metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas_gym.evaluators.metrics import Metrics

#: Keys of each ``history.jsonl`` record, in order.
HISTORY_KEYS = (
    "index", "arch", "reward", "val_accuracy", "test_accuracy", "latency_ms",
    "cost_s", "cached", "params", "flops", "diverged", "timed_out", "feasible", "constraint_violation",
    "best_reward",
)
#: Keys an evaluator may add to the final ``info`` and the history line (after :data:`HISTORY_KEYS`), from its
#: metrics' ``extra``; present only where the evaluator reports them, so other histories keep their form. Each
#: maps to the value that JSON's null stands for (JSON has no infinities).
EXTRA_KEYS = {"zero_cost_score": -math.inf, "epochs": None, "learning_curve": None, "epochs_trained": None,
              "score_source": None, "supernet_state": None, "supernet_steps": None, "pretrain_s": None,
              "val_mse": None, "test_mse": None}
#: Keys that histories written before hard limits existed lack (treated as feasible).
LIMIT_KEYS = ("feasible", "constraint_violation")
#: Keys a record needs to be replayed (histories written before params/flops/diverged/timed_out lack those).
REPLAY_KEYS = ("index", "arch", "reward", "val_accuracy", "test_accuracy", "latency_ms", "cost_s", "cached")


def json_value(v: Any) -> Any:
    """``v`` as JSON holds it: NaN and infinities become None, numpy scalars Python numbers."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One architecture, what its evaluation measured, and the reward the env paid.

    Attributes:
        arch: The architecture's string form.
        reward: The reward of the episode's last step.
        val_accuracy: Validation accuracy in [0, 1].
        test_accuracy: Test accuracy in [0, 1] (NaN when the source has none).
        latency_ms: Latency in milliseconds, or None without a latency model.
        latency_penalty: What the latency term took off the accuracy (``val_accuracy - reward``).
        params: Trainable parameters (0 when unknown).
        flops: Multiply-accumulates of one forward pass (0 when unknown).
        cost_s: Seconds the evaluation cost when it was made.
        cached: The metrics came from the persistent cache.
        diverged: Training diverged; accuracies are chance level.
        timed_out: Training hit its time limit.
        constraint_violation: How far the architecture is over the env's hard limits, summed
            relative excesses (``latency / latency_limit_ms - 1`` and ``params / params_limit - 1``
            where positive); 0 when it satisfies them (or there are none).
        extra: The evaluator's further figures named in :data:`EXTRA_KEYS` (e.g. ``zero_cost_score``).
    """

    arch: str
    reward: float
    val_accuracy: float
    test_accuracy: float = math.nan
    latency_ms: float | None = None
    latency_penalty: float = 0.0
    params: int = 0
    flops: int = 0
    cost_s: float = 0.0
    cached: bool = False
    diverged: bool = False
    timed_out: bool = False
    constraint_violation: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """Whether the architecture satisfies the env's hard limits."""
        return self.constraint_violation <= 0.0

    @classmethod
    def of(
        cls, arch: str, metrics: Metrics, reward: float, latency_penalty: float, constraint_violation: float = 0.0
    ) -> Evaluation:
        """The evaluation of ``arch`` with ``metrics``, paid ``reward`` (what :meth:`NASEnv.score` builds)."""
        return cls(
            arch=arch,
            reward=float(reward),
            val_accuracy=float(metrics.val_accuracy),
            test_accuracy=float(metrics.test_accuracy),
            latency_ms=None if metrics.latency_ms is None else float(metrics.latency_ms),
            latency_penalty=float(latency_penalty),
            params=int(metrics.params),
            flops=int(metrics.flops),
            cost_s=float(metrics.cost_s),
            cached=bool(metrics.extra.get("cached", False)),
            diverged=bool(metrics.diverged),
            timed_out=bool(metrics.timed_out),
            constraint_violation=float(constraint_violation),
            extra={k: metrics.extra[k] for k in EXTRA_KEYS if k in metrics.extra},
        )

    def metrics(self) -> Metrics:
        """The measured part, for scoring again without evaluating (:meth:`NASEnv.score` with ``metrics``)."""
        return Metrics(
            val_accuracy=self.val_accuracy, test_accuracy=self.test_accuracy, latency_ms=self.latency_ms,
            params=self.params, flops=self.flops, cost_s=self.cost_s, diverged=self.diverged,
            timed_out=self.timed_out,
            # epochs_trained is the run's count, not a measurement: scoring again must not carry it.
            extra={"cached": self.cached, **{k: v for k, v in self.extra.items() if k != "epochs_trained"}},
        )

    # -- the final step's info ----------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """The metric keys of the final step's ``info`` (the env adds ``action_mask`` and ``step``)."""
        return {
            "arch": self.arch,
            "reward": self.reward,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "latency_ms": self.latency_ms,
            "latency_penalty": self.latency_penalty,
            "params": self.params,
            "flops": self.flops,
            "cost_s": self.cost_s,
            "cached": self.cached,
            "diverged": self.diverged,
            "timed_out": self.timed_out,
            "feasible": self.feasible,
            "constraint_violation": self.constraint_violation,
            "invalid_action": False,
            **self.extra,
        }

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> Evaluation:
        """Inverse of :meth:`info` (also for an ``info`` sent as plain data by a worker)."""
        return cls(
            arch=info["arch"], reward=float(info["reward"]), val_accuracy=float(info["val_accuracy"]),
            test_accuracy=math.nan if info["test_accuracy"] is None else float(info["test_accuracy"]),
            latency_ms=None if info["latency_ms"] is None else float(info["latency_ms"]),
            latency_penalty=float(info["latency_penalty"]), params=int(info["params"]), flops=int(info["flops"]),
            cost_s=float(info["cost_s"]), cached=bool(info["cached"]), diverged=bool(info["diverged"]),
            timed_out=bool(info["timed_out"]), constraint_violation=float(info["constraint_violation"]),
            extra=_extra(info),
        )

    # -- the history line -----------------------------------------------------------------
    def record(self, index: int, best_reward: float) -> dict[str, Any]:
        """The ``history.jsonl`` line of evaluation number ``index``, keys in :data:`HISTORY_KEYS` order."""
        values = {**self.info(), "index": index, "best_reward": best_reward}
        return {k: json_value(values[k]) for k in (*HISTORY_KEYS, *self.extra)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Evaluation:
        """Inverse of :meth:`record` (histories of older versions may lack params, flops, diverged, timed_out)."""
        test = record["test_accuracy"]
        return cls(
            arch=record["arch"], reward=float(record["reward"]), val_accuracy=float(record["val_accuracy"]),
            test_accuracy=math.nan if test is None else float(test), latency_ms=record["latency_ms"],
            latency_penalty=float(record["val_accuracy"] - record["reward"]),
            params=record.get("params") or 0, flops=record.get("flops") or 0, cost_s=record["cost_s"] or 0.0,
            cached=bool(record["cached"]), diverged=bool(record.get("diverged")),
            timed_out=bool(record.get("timed_out")), constraint_violation=record.get("constraint_violation") or 0.0,
            extra=_extra(record),
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready form for ``summary.json``'s ``best``."""
        return {k: json_value(v) for k, v in self.info().items()}


def _extra(data: dict[str, Any]) -> dict[str, Any]:
    """The :data:`EXTRA_KEYS` in an ``info`` or a history line (JSON's null back to the value it stands for)."""
    return {k: missing if data[k] is None else data[k] for k, missing in EXTRA_KEYS.items() if k in data}
