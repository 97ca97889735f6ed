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
from collections.abc import Iterator
from dataclasses import MISSING, Field, field, fields, make_dataclass
from typing import Any

import numpy as np

from nas_gym.evaluators.metrics import METRIC_FIELDS, Metrics

#: Keys a record needs to be replayed: those of the first histories (later ones added params, flops, diverged,
#: timed_out, which older histories lack). A fixed part of the history format, not a list of the metrics.
REPLAY_KEYS = ("index", "arch", "reward", "val_accuracy", "test_accuracy", "latency_ms", "cost_s", "cached")
#: Keys that histories written before hard limits existed lack (treated as feasible).
LIMIT_KEYS = ("feasible", "constraint_violation")
#: Keys of each ``history.jsonl`` record, in order: the first histories' keys, the metrics added since (in
#: :class:`Metrics` order), the hard limits' keys, the best reward so far.
HISTORY_KEYS = (
    *REPLAY_KEYS, *(f.name for f in METRIC_FIELDS if f.name not in REPLAY_KEYS), *LIMIT_KEYS, "best_reward",
)
#: Keys an evaluator may add to the final ``info`` and the history line (after :data:`HISTORY_KEYS`), from its
#: metrics' ``extra``; present only where the evaluator reports them, so other histories keep their form. Each
#: maps to the value that JSON's null stands for (JSON has no infinities).
EXTRA_KEYS = {"zero_cost_score": -math.inf, "epochs": None, "steps": None, "learning_curve": None,
              "epochs_trained": None, "score_source": None, "supernet_state": None, "supernet_steps": None,
              "pretrain_s": None,
              "val_mse": None, "test_mse": None, "val_bpc": None, "test_bpc": None}
#: The keys of :data:`EXTRA_KEYS` that the run logger also writes to TensorBoard (``nas/<key>``) where present.
LOGGED_EXTRA_KEYS = ("val_mse", "val_bpc")
#: What the env adds beside the metric it goes with, in an evaluation's fields and ``info`` (name, type,
#: default): the latency term's share of the reward after ``latency_ms``; after ``cost_s``, whether the
#: metrics came from the cache (so that cost was not paid now).
_ADDED_AFTER = {"latency_ms": ("latency_penalty", "float", 0.0), "cost_s": ("cached", "bool", False)}
#: How a metric's value is made its field's type, by the type's name (an optional one casts what is not None;
#: a metric of another type needs its cast here).
_CASTS = {"float": float, "int": int, "bool": bool}
_CAST = {f.name: _CASTS[str(f.type).removesuffix(" | None")] for f in METRIC_FIELDS}


def json_value(v: Any) -> Any:
    """``v`` as JSON holds it: NaN and infinities become None, numpy scalars Python numbers."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _metric(f: Field, value: Any) -> Any:
    """``value`` of metric ``f`` as an evaluation holds it: cast to the field's type.

    None (JSON's null, or a key older histories lack) reads as the field's default: NaN test
    accuracy, no latency, 0 parameters, ...
    """
    if value is None and f.default is not MISSING:
        return f.default
    return _CAST[f.name](value)


def _fields() -> Iterator[tuple]:
    """:class:`Evaluation`'s fields, in order (the order of its ``info``).

    The architecture and its reward; each metric of :class:`Metrics`, followed by what the env adds
    beside it (:data:`_ADDED_AFTER`); how far the architecture is over the hard limits; the extras.
    """
    yield "arch", "str"
    yield "reward", "float"
    for f in METRIC_FIELDS:
        yield (f.name, f.type) if f.default is MISSING else (f.name, f.type, field(default=f.default))
        if f.name in _ADDED_AFTER:
            name, type_, default = _ADDED_AFTER[f.name]
            yield name, type_, field(default=default)
    yield "constraint_violation", "float", field(default=0.0)
    yield "extra", "dict[str, Any]", field(default_factory=dict)


_EvaluationFields = make_dataclass("_EvaluationFields", list(_fields()), frozen=True, slots=True)
_EvaluationFields.__module__ = __name__


class Evaluation(_EvaluationFields):
    """One architecture, what its evaluation measured, and the reward the env paid.

    A frozen dataclass. Its metric fields are the fields of :class:`Metrics` but ``extra`` (today
    ``val_accuracy``, ``test_accuracy``, ``latency_ms``, ``params``, ``flops``, ``cost_s``,
    ``diverged``, ``timed_out``; see there), made from :data:`METRIC_FIELDS` (:func:`_fields`), so
    that a metric is declared once.

    Attributes:
        arch: The architecture's string form.
        reward: The reward of the episode's last step.
        latency_penalty: What the latency term took off the accuracy (``val_accuracy - reward``).
        cached: The metrics came from the persistent cache (``cost_s`` is what they cost when made).
        constraint_violation: How far the architecture is over the env's hard limits, summed
            relative excesses (``latency / latency_limit_ms - 1`` and ``params / params_limit - 1``
            where positive); 0 when it satisfies them (or there are none).
        extra: The evaluator's further figures named in :data:`EXTRA_KEYS` (e.g. ``zero_cost_score``).
    """

    __slots__ = ()

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
            **{f.name: _metric(f, getattr(metrics, f.name)) for f in METRIC_FIELDS},
            latency_penalty=float(latency_penalty),
            cached=bool(metrics.extra.get("cached", False)),
            constraint_violation=float(constraint_violation),
            extra={k: metrics.extra[k] for k in EXTRA_KEYS if k in metrics.extra},
        )

    def metrics(self) -> Metrics:
        """The measured part, for scoring again without evaluating (:meth:`NASEnv.score` with ``metrics``)."""
        return Metrics(
            **{f.name: getattr(self, f.name) for f in METRIC_FIELDS},
            # epochs_trained is the run's count, not a measurement: scoring again must not carry it.
            extra={"cached": self.cached, **{k: v for k, v in self.extra.items() if k != "epochs_trained"}},
        )

    # -- the final step's info ----------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """The metric keys of the final step's ``info`` (the env adds ``action_mask`` and ``step``)."""
        # Every field up to the hard limits' figure, which follows ``feasible``; the extras as keys of their own.
        values = {f.name: getattr(self, f.name) for f in fields(self)
                  if f.name not in ("constraint_violation", "extra")}
        return {
            **values,
            "feasible": self.feasible,
            "constraint_violation": self.constraint_violation,
            "invalid_action": False,
            **self.extra,
        }

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> Evaluation:
        """Inverse of :meth:`info` (also for an ``info`` sent as plain data by a worker)."""
        return cls(
            arch=info["arch"], reward=float(info["reward"]),
            **{f.name: _metric(f, info[f.name]) for f in METRIC_FIELDS},
            latency_penalty=float(info["latency_penalty"]), cached=bool(info["cached"]),
            constraint_violation=float(info["constraint_violation"]), extra=_extra(info),
        )

    # -- the history line -----------------------------------------------------------------
    def record(self, index: int, best_reward: float) -> dict[str, Any]:
        """The ``history.jsonl`` line of evaluation number ``index``, keys in :data:`HISTORY_KEYS` order."""
        values = {**self.info(), "index": index, "best_reward": best_reward}
        return {k: json_value(values[k]) for k in (*HISTORY_KEYS, *self.extra)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Evaluation:
        """Inverse of :meth:`record` (histories of older versions lack the keys not in :data:`REPLAY_KEYS`)."""
        return cls(
            arch=record["arch"], reward=float(record["reward"]),
            **{f.name: _metric(f, record[f.name] if f.name in REPLAY_KEYS else record.get(f.name))
               for f in METRIC_FIELDS},
            latency_penalty=float(record["val_accuracy"] - record["reward"]), cached=bool(record["cached"]),
            constraint_violation=record.get("constraint_violation") or 0.0, extra=_extra(record),
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready form for ``summary.json``'s ``best``."""
        return {k: json_value(v) for k, v in self.info().items()}


def _extra(data: dict[str, Any]) -> dict[str, Any]:
    """The :data:`EXTRA_KEYS` in an ``info`` or a history line (JSON's null back to the value it stands for)."""
    return {k: missing if data[k] is None else data[k] for k, missing in EXTRA_KEYS.items() if k in data}
