"""The evaluator protocol: ``evaluate(arch) -> Metrics``."""

from __future__ import annotations

import abc
from typing import Any

from nas_gym.evaluators.metrics import Metrics
from nas_gym.spaces.base import Architecture


class Evaluator(abc.ABC):
    """Scores an architecture. Subclasses hold their settings as plain data."""

    @abc.abstractmethod
    def evaluate(self, arch: Architecture) -> Metrics:
        """Evaluate ``arch`` and return its metrics."""

    def settings(self) -> dict[str, Any]:
        """Plain-data settings that change results (part of the cache key)."""
        return {}

    @property
    def name(self) -> str:
        """Short name of the evaluator kind."""
        return type(self).__name__
