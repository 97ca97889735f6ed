"""The evaluator protocol: ``evaluate(arch) -> Metrics``."""

from __future__ import annotations

import abc
from typing import Any

from nas_gym.error import ConfigError
from nas_gym.evaluators.metrics import Metrics
from nas_gym.spaces.base import Architecture


class Evaluator(abc.ABC):
    """Scores an architecture. Subclasses hold their settings as plain data."""

    @abc.abstractmethod
    def evaluate(self, arch: Architecture) -> Metrics:
        """Evaluate ``arch`` and return its metrics."""

    def max_epochs(self) -> int | None:
        """The largest fidelity (epochs of training) :meth:`evaluate_at` accepts; None: no fidelities."""
        return None

    def evaluate_at(self, arch: Architecture, epochs: int) -> Metrics:
        """Evaluate ``arch`` at a fidelity of ``epochs`` epochs (``env.reset(options={"epochs": ...})``).

        Raises:
            ConfigError: This evaluator has no fidelities (the default).
        """
        raise ConfigError(
            f"The {self.name} evaluator has no fidelities: reset(options={{'epochs': ...}}) needs one that trains "
            "(evaluator='train')."
        )

    def settings(self) -> dict[str, Any]:
        """Plain-data settings that change results (part of the cache key)."""
        return {}

    @property
    def name(self) -> str:
        """Short name of the evaluator kind."""
        return type(self).__name__
