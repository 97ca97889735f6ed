"""Gradient-boosted trees (LightGBM) as a predictor, with an ensemble of bagged boosters for its uncertainty.

White, Zela, Ru, Liu and Hutter ("How Powerful are Performance Predictors in
Neural Architecture Search?", NeurIPS 2021) found boosted trees among the
strongest predictors once a few hundred architectures are trained. A single
booster gives no uncertainty, so this one fits ``num_members`` boosters that
differ in seed, row bagging and feature subsampling, and reports their
spread as the standard deviation; with ``num_members=1`` (and no
subsampling) the standard deviation is 0.

LightGBM is an optional dependency: ``pip install 'nas-gym[gbdt]'``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas_gym.error import ConfigError, MissingDependencyError
from nas_gym.predictors.base import Predictor
from nas_gym.spaces import SearchSpace


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError as e:
        raise MissingDependencyError(
            "The 'gbdt' predictor needs LightGBM: pip install 'nas-gym[gbdt]' (or pip install lightgbm), "
            "or use the 'mlp_ensemble' predictor."
        ) from e
    return lightgbm


class GBDTPredictor(Predictor):
    """An ensemble of LightGBM regressors; mean and standard deviation over members.

    Each booster is deterministic for its seed (``deterministic=True``, one
    thread). Defaults are small-data settings: shallow trees and leaves of
    as few as 3 points, so it fits from about 20 architectures on.

    Args:
        space: The space the architectures belong to.
        encoding: Feature encoding; None for the space's default.
        seed: Seed of the boosters (member ``m`` uses a seed derived from ``seed`` and ``m``).
        num_members: Boosters in the ensemble; 1 gives a standard deviation of 0 unless bagging differs.
        num_boost_round: Boosting rounds per booster.
        learning_rate: Shrinkage.
        num_leaves: Leaves per tree.
        min_data_in_leaf: Fewest training points in a leaf.
        bagging_fraction: Share of rows each tree sees (1 for none).
        feature_fraction: Share of features each tree sees (1 for all).

    Raises:
        MissingDependencyError: LightGBM is not installed.
        ConfigError: A setting out of range, or a bad encoding.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        encoding: str | None = None,
        seed: int = 0,
        num_members: int = 5,
        num_boost_round: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_data_in_leaf: int = 3,
        bagging_fraction: float = 0.8,
        feature_fraction: float = 0.8,
    ):
        self._lgb = _lightgbm()
        super().__init__(space, encoding=encoding, seed=seed)
        if int(num_members) < 1 or int(num_boost_round) < 1 or int(num_leaves) < 2 or int(min_data_in_leaf) < 1:
            raise ConfigError(
                "GBDTPredictor needs num_members ≥ 1, num_boost_round ≥ 1, num_leaves ≥ 2 and min_data_in_leaf ≥ 1, "
                f"got {num_members!r}, {num_boost_round!r}, {num_leaves!r}, {min_data_in_leaf!r}."
            )
        if not learning_rate > 0 or not 0 < bagging_fraction <= 1 or not 0 < feature_fraction <= 1:
            raise ConfigError(
                "GBDTPredictor needs learning_rate > 0 and bagging_fraction, feature_fraction in (0, 1], "
                f"got {learning_rate!r}, {bagging_fraction!r}, {feature_fraction!r}."
            )
        self.num_members = int(num_members)
        self.num_boost_round = int(num_boost_round)
        self.params = {
            "objective": "regression", "learning_rate": float(learning_rate), "num_leaves": int(num_leaves),
            "min_data_in_leaf": int(min_data_in_leaf), "min_data_in_bin": 1,
            "bagging_fraction": float(bagging_fraction),
            "bagging_freq": 1 if bagging_fraction < 1 else 0, "feature_fraction": float(feature_fraction),
            "deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1,
        }
        self._boosters: list[Any] = []

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        lgb = self._lgb
        self._boosters = []
        for m in range(self.num_members):
            seed = int(np.random.SeedSequence([self.seed, m]).generate_state(1)[0] % (2**31 - 1))
            data = lgb.Dataset(x, label=y, params={"min_data_in_bin": 1, "verbose": -1})
            self._boosters.append(lgb.train({**self.params, "seed": seed}, data, num_boost_round=self.num_boost_round))

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        preds = np.stack([np.asarray(b.predict(x), dtype=np.float64) for b in self._boosters])
        return preds.mean(axis=0), preds.std(axis=0)
