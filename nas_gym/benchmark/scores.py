"""Normalised scores: 0 = what random search is expected to find with the same evaluations, 1 = the env's optimum.

A run's raw figure after ``k`` evaluations is its best reward so far
(full-fidelity evaluations only, as :func:`nas_gym.benchmark.statistics.run_figures`
counts them). Its normalised score is

    (best_k - R_k) / (optimum - R_k),

where ``R_k`` is the expected best reward of ``k`` random-search draws. On an
exhaustive table both ends are exact: random search (``baselines/random_search.py``)
draws every decision uniformly, so on a space without masks each row is one
equally likely draw, and the expected maximum of ``k`` draws has a closed form
over the sorted column (:func:`expected_max`). Where the optimum is not known
(a surrogate, real training) a suite stores a documented reference instead: a
sample of random-search rewards, whose empirical distribution stands in for the
space's, and the best reward any long search found (:class:`Reference`).

Normalised this way, random search scores 0 in expectation at every budget
(checked by ``scripts/bench_suite_exactness.py`` over 200 seeds per env), the
optimum scores 1, and a score below 0 means worse than random.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import gammaln

from nas_gym.error import ConfigError

#: The evaluation counts at which a suite reports anytime scores (those within its budget).
CHECKPOINTS = (25, 50, 100, 200)


def expected_max(values: Sequence[float] | np.ndarray, k: int | np.ndarray, *, replace: bool = True) -> np.ndarray:
    """Expected maximum of ``k`` uniform draws from ``values``, in closed form.

    With the values sorted, ``v_(1) <= ... <= v_(N)``, the maximum of ``k``
    draws is at most ``v_(i)`` with probability ``(i/N)^k`` when drawing with
    replacement and ``C(i, k) / C(N, k)`` without, so

        E[max] = sum_i v_(i) (P(max <= v_(i)) - P(max <= v_(i-1))).

    Args:
        values: The population (e.g. every table row's reward).
        k: Number of draws (an int or an array of them).
        replace: Draws with replacement (random search's: a draw may repeat an
            architecture and still costs an evaluation) or without.

    Returns:
        The expectation, shaped as ``k`` (a 0-d array for one ``k``).

    >>> float(expected_max([1.0, 2.0, 3.0], 1))
    2.0
    >>> float(expected_max([1.0, 2.0, 3.0], 2, replace=False))  # pairs' maxima 2, 3, 3
    2.6666666666666665
    """
    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ConfigError("expected_max needs a non-empty population of finite values.")
    ks = np.atleast_1d(np.asarray(k))
    if np.any(ks < 1):
        raise ConfigError(f"k must be at least 1, got {k!r}.")
    n = v.size
    i = np.arange(n + 1, dtype=float)
    out = np.empty(ks.shape, dtype=float)
    for j, kk in enumerate(ks.astype(int)):
        if replace:
            cdf = (i / n) ** kk
        else:
            if kk > n:
                raise ConfigError(f"Cannot draw {kk} of {n} values without replacement.")
            # log C(i, k) - log C(n, k), zero where i < k.
            with np.errstate(invalid="ignore"):
                log = gammaln(i + 1) - gammaln(i - kk + 1) - gammaln(n + 1) + gammaln(n - kk + 1)
            cdf = np.where(i >= kk, np.exp(np.where(i >= kk, log, 0.0)), 0.0)
        out[j] = float(np.dot(v, np.diff(cdf)))
    return out.reshape(np.shape(k))


@dataclass
class Reference:
    """The two ends of an env's normalised score.

    Attributes:
        optimum: The best reward there is (exact on a table), or the best any reference search found.
        random_rewards: The population random search draws from: every table row's reward,
            or a stored sample of random-search rewards.
        exact: Whether both ends are exact (an exhaustive table) rather than estimated.
        source: Where the ends come from, in words (for the leaderboard's notes).
        optimum_arch: The architecture that reaches the optimum, when known.
    """

    optimum: float
    random_rewards: np.ndarray
    exact: bool
    source: str
    optimum_arch: str | None = None
    _cache: dict[int, float] = field(default_factory=dict, repr=False)

    def random_best(self, k: int) -> float:
        """``R_k``: random search's expected best reward after ``k`` evaluations."""
        if k not in self._cache:
            self._cache[k] = float(expected_max(self.random_rewards, k))
        return self._cache[k]

    def normalise(self, best: float, k: int) -> float:
        """The normalised score of a best reward ``best`` reached within ``k`` evaluations (NaN for NaN)."""
        if best is None or not math.isfinite(best):
            return math.nan
        low = self.random_best(k)
        span = self.optimum - low
        if span <= 0:  # random search is expected to find the optimum: nothing to tell apart
            return 1.0 if best >= self.optimum else 0.0
        return (best - low) / span

    def to_json(self) -> dict[str, Any]:
        """What the suite report records of the reference."""
        return {"optimum": self.optimum, "optimum_arch": self.optimum_arch, "exact": self.exact,
                "source": self.source, "population": int(len(self.random_rewards))}


def normalised_curve(curve: Sequence[float], reference: Reference) -> np.ndarray:
    """The normalised score after each evaluation ``k = 1 .. len(curve)`` of a best-so-far curve."""
    return np.array([reference.normalise(float(b), k) for k, b in enumerate(curve, start=1)])


def run_scores(
    curve: Sequence[float], reference: Reference, checkpoints: Sequence[int] = CHECKPOINTS
) -> dict[str, Any]:
    """A run's normalised figures: the score at its budget, at each checkpoint within it, and the area under the curve.

    The area is the mean of the normalised scores after 1, 2, ..., budget
    evaluations (the area under the normalised curve over a unit-wide budget),
    so it rewards finding good architectures early as well as finding them.

    Returns:
        ``{"final", "anytime": {k: score}, "auc", "curve"}``.
    """
    scores = normalised_curve(curve, reference)
    budget = len(scores)
    return {
        "final": float(scores[-1]) if budget else math.nan,
        "anytime": {int(k): float(scores[k - 1]) for k in checkpoints if k <= budget},
        "auc": float(np.nanmean(scores)) if budget and np.isfinite(scores).any() else math.nan,
        "curve": [float(s) for s in scores],
    }
