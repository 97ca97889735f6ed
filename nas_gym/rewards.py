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

from nas_gym.error import ConfigError
from nas_gym.registry import Registry

#: Rewards by name: ``shape(val_accuracy, ratio, w)`` with ``ratio = latency_ms / T`` (≥ 0) and
#: ``w > 0`` (:class:`Reward` answers ``w = 0`` and a missing latency with pure accuracy itself).
#: A new reward is one function and one ``REWARDS.register`` line.
REWARDS: Registry[float] = Registry("reward", group="nas_gym.rewards")


@REWARDS.register("hinge")
def hinge(val_accuracy: float, ratio: float, w: float) -> float:
    """``a - w * max(0, l / T - 1)``: no penalty under target."""
    return float(val_accuracy - w * max(0.0, ratio - 1.0))


@REWARDS.register("linear")
def linear(val_accuracy: float, ratio: float, w: float) -> float:
    """``a - w * l / T``."""
    return float(val_accuracy - w * ratio)


def _mnasnet(alpha: float, beta: float):
    """MnasNet's ``a * (l / T) ** (w * exponent)``, exponent ``alpha`` under target and ``beta`` over it."""

    def shape(val_accuracy: float, ratio: float, w: float) -> float:
        exponent = w * (alpha if ratio <= 1.0 else beta)
        # A zero-latency network (e.g. all-"none" cells in a table) would give
        # 0 ** negative; treat it as exactly on target.
        return float(val_accuracy * (ratio**exponent if ratio > 0 else 1.0))

    return shape


# Exponents of Tan et al. 2019 (alpha under target, beta over target).
REWARDS.register("mnasnet", _mnasnet(-0.07, -0.07))
REWARDS.register("mnasnet_hard", _mnasnet(0.0, -1.0))


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
        REWARDS.entry(self.name)  # an unknown name raises, listing the known ones
        if (
            not (isinstance(self.latency_weight, (int, float)) and math.isfinite(self.latency_weight))
            or self.latency_weight < 0
        ):
            raise ConfigError(
                f"latency_weight must be a finite number ≥ 0 (0 = pure accuracy), got {self.latency_weight!r}."
            )
        if not isinstance(self.latency_target_ms, (int, float)) or not self.latency_target_ms > 0:
            raise ConfigError(f"latency_target_ms must be a number > 0 (milliseconds), got {self.latency_target_ms!r}.")

    def __call__(self, val_accuracy: float, latency_ms: float | None) -> float:
        """The reward for a validation accuracy (fraction) and a latency in ms."""
        if latency_ms is None or self.latency_weight == 0:
            return float(val_accuracy)
        ratio = max(float(latency_ms), 0.0) / self.latency_target_ms
        return REWARDS.entry(self.name).factory(val_accuracy, ratio, self.latency_weight)
