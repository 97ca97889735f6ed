"""The predictor protocol: ``fit(archs, y)`` then ``predict(archs) -> (mean, std)``."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from nas_gym.error import ConfigError
from nas_gym.predictors.encodings import check_encoding, encode
from nas_gym.spaces import Architecture, SearchSpace


class Predictor(abc.ABC):
    """A performance predictor: a regression model from architectures to a score, with an uncertainty.

    Subclasses implement :meth:`_fit` and :meth:`_predict` on encoded
    features; this class encodes, checks the inputs and standardises the
    targets (so a predictor sees mean-0, std-1 targets whatever their scale,
    and its predictions are mapped back). Fitting is deterministic for a
    given ``seed``; fitting again starts from scratch.

    Args:
        space: The space the architectures belong to.
        encoding: Feature encoding (see :mod:`nas_gym.predictors.encodings`);
            None picks the space's default (``path`` on nb201).
        seed: Seed of the model's randomness (initialisation, bagging).

    Raises:
        ConfigError: An unknown encoding, or one the space does not support.
    """

    def __init__(self, space: SearchSpace, *, encoding: str | None = None, seed: int = 0):
        self.space = space
        self.encoding = check_encoding(space, encoding)
        self.seed = int(seed)
        self._y_mean = 0.0
        self._y_std = 1.0
        self._fitted = False

    def encode(self, archs: Sequence[Architecture]) -> np.ndarray:
        """The feature matrix of ``archs`` in this predictor's encoding."""
        return encode(self.space, archs, self.encoding)

    def fit(self, archs: Sequence[Architecture], y: Sequence[float]) -> Predictor:
        """Fit on architectures and their scores (e.g. validation accuracy or reward).

        Args:
            archs: Training architectures.
            y: One finite score per architecture.

        Returns:
            ``self``.

        Raises:
            ConfigError: Fewer than two points, lengths that differ, or a non-finite score.
        """
        targets = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(archs) != len(targets):
            raise ConfigError(f"fit() needs one score per architecture, got {len(archs)} archs and {len(targets)}.")
        if len(targets) < 2:
            raise ConfigError(f"fit() needs at least 2 architectures, got {len(targets)}.")
        if not np.isfinite(targets).all():
            raise ConfigError("fit() scores must be finite; drop or replace NaN/inf scores first.")
        self._y_mean = float(targets.mean())
        std = float(targets.std())
        self._y_std = std if std > 0 else 1.0
        self._fit(self.encode(archs), ((targets - self._y_mean) / self._y_std).astype(np.float32))
        self._fitted = True
        return self

    def predict(self, archs: Sequence[Architecture]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted score and its uncertainty (a standard deviation) per architecture, in ``y``'s units.

        Raises:
            ConfigError: Called before :meth:`fit`.
        """
        if not self._fitted:
            raise ConfigError(f"{type(self).__name__}.predict() was called before fit(archs, y).")
        if not len(archs):
            return np.zeros(0), np.zeros(0)
        mean, std = self._predict(self.encode(archs))
        return mean * self._y_std + self._y_mean, std * self._y_std

    @abc.abstractmethod
    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit on features ``x`` (n, d) and standardised targets ``y`` (n,)."""

    @abc.abstractmethod
    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised mean and std (float64, shape (n,)) for features ``x``."""
