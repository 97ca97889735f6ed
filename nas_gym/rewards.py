"""Rewards: one number from accuracy and latency.

With ``a`` the validation accuracy (fraction), ``l`` the latency in ms,
``T`` the latency target in ms and ``w`` the latency weight:

- ``hinge`` (default): ``a - w * max(0, l / T - 1)``; no penalty under target.
- ``linear``: ``a - w * l / T``.
- ``mnasnet``: MnasNet's soft objective ``a * (l / T) ** (w * -0.07)``.
- ``mnasnet_hard``: MnasNet's hard constraint, ``a`` under target and
  ``a * (l / T) ** (w * -1)`` over it.

``w = 0`` gives pure accuracy for every reward, and so does a missing latency
(no latency model). For the MnasNet rewards ``w`` scales the paper's
exponents, so ``w = 1`` is the paper's setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nas_gym.error import ConfigError, unknown_name

REWARDS = ("hinge", "linear", "mnasnet", "mnasnet_hard")

#: MnasNet exponents (alpha under target, beta over target), Tan et al. 2019.
_MNASNET_EXPONENTS = {"mnasnet": (-0.07, -0.07), "mnasnet_hard": (0.0, -1.0)}


@dataclass(frozen=True)
class Reward:
    """A named reward with its latency weight and target.

    Args:
        name: One of ``hinge``, ``linear``, ``mnasnet``, ``mnasnet_hard``.
        latency_weight: ``w`` above; 0 means pure accuracy. Must be ≥ 0.
        latency_target_ms: ``T`` above; must be > 0.

    Raises:
        ConfigError: Unknown name, negative weight or non-positive target.
    """

    name: str = "hinge"
    latency_weight: float = 1.0
    latency_target_ms: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in REWARDS:
            raise unknown_name("reward", self.name, REWARDS)
        if (
            not (isinstance(self.latency_weight, (int, float)) and math.isfinite(self.latency_weight))
            or self.latency_weight < 0
        ):
            raise ConfigError(
                f"latency_weight must be a finite number ≥ 0 (0 = pure accuracy), got {self.latency_weight!r}."
            )
        if not isinstance(self.latency_target_ms, (int, float)) or not self.latency_target_ms > 0:
            raise ConfigError(f"latency_target_ms must be a number > 0 (milliseconds), got {self.latency_target_ms!r}.")

    def penalty(self, val_accuracy: float, latency_ms: float | None) -> float:
        """How much the latency term takes off pure accuracy (≥ 0 except for fast mnasnet archs)."""
        return val_accuracy - self(val_accuracy, latency_ms)

    def __call__(self, val_accuracy: float, latency_ms: float | None) -> float:
        """The reward for a validation accuracy (fraction) and a latency in ms."""
        if latency_ms is None or self.latency_weight == 0:
            return float(val_accuracy)
        ratio = max(float(latency_ms), 0.0) / self.latency_target_ms
        w = self.latency_weight
        if self.name == "hinge":
            return float(val_accuracy - w * max(0.0, ratio - 1.0))
        if self.name == "linear":
            return float(val_accuracy - w * ratio)
        alpha, beta = _MNASNET_EXPONENTS[self.name]
        exponent = w * (alpha if ratio <= 1.0 else beta)
        # A zero-latency network (e.g. all-"none" cells in a table) would give
        # 0 ** negative; treat it as exactly on target.
        return float(val_accuracy * (ratio**exponent if ratio > 0 else 1.0))
