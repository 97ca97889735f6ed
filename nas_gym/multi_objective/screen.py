"""Surrogate pre-selection for Pareto methods: of several candidate children, evaluate the most promising.

A multi-objective evolutionary method spends one evaluation per child. With
a screen it breeds ``k`` distinct unseen children instead, predicts each
one's objectives with performance predictors fit on every evaluation of the
run so far (:mod:`nas_gym.predictors`, one per objective), and evaluates
only the child predicted to lie furthest beyond the front found so far.
This is the pre-selection of surrogate-assisted evolutionary algorithms
(Emmerich, Giannakoglou and Naujoks, "Single- and Multiobjective
Evolutionary Optimization Assisted by Gaussian Random Field Metamodels",
IEEE TEVC 2006; Loni et al.'s and Lu et al.'s NSGA-Net/MSuNAS use the same
idea for NAS): the method's own variation still makes every candidate, the
predictors only choose among them, and nothing they predict is recorded as
an evaluation.

The criterion is the additive epsilon indicator (Zitzler et al. 2003) of
a candidate's predicted point against the evaluated front, in objectives
scaled by their spread over the evaluations: how much the point would have
to improve in every objective to escape domination (positive), or how far
it lies beyond the front (negative). It works for any number of objectives
and needs no reference point. Predictors are refit every ``refit_every``
evaluations, so their cost stays a small part of a run on a table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ConfigError
from nas_gym.multi_objective.pareto import OBJECTIVES, objective_matrix, pareto_indices
from nas_gym.predictors import ENCODINGS, Predictor, make_predictor
from nas_gym.spaces import Architecture, SearchSpace
from nas_gym.utils.hparams import SearcherSettings, one_of, optional, positive_int, setting, string

if TYPE_CHECKING:
    from nas_gym.search.run import SearchRun

#: How a candidate's objectives are read from the predictors: their mean, or one Thompson draw
#: (independent Thompson sampling, as BANANAS's ``its``) from the ensemble's mean and spread.
ACQUISITIONS = ("mean", "its")


@dataclasses.dataclass(frozen=True)
class ScreenSettings(SearcherSettings):
    """The screen's hyperparameters, for a Pareto method's settings to derive from (each may set other defaults)."""

    screen_size: int = setting(10, positive_int, hint="1 turns the screen off.")
    """Distinct unseen children bred per evaluation, of which the one predicted furthest beyond the front is
    evaluated (nas_gym.multi_objective.screen); 1 evaluates every child bred."""
    screen_predictor: str = setting("mlp_ensemble", string)
    """Predictor of the screen, one per objective (a name in nas_gym.predictors.PREDICTORS)."""
    screen_encoding: str | None = setting("onehot", optional(one_of(*ENCODINGS), "the space's default: path on nb201"))
    """Feature encoding of the screen's predictors."""
    screen_acquisition: str = setting("mean", one_of(*ACQUISITIONS))
    """How the screen reads its predictors: mean, or its (one Thompson draw from the ensemble's mean and spread)."""
    screen_refit_every: int = setting(10, positive_int)
    """Evaluations between two fits of the screen's predictors."""

    def make_screen(self, run: SearchRun, objectives: Sequence[str], constrained: bool) -> ParetoScreen | None:
        """The screen these settings describe for ``run`` (seeded by its seed); None when ``screen_size`` is 1."""
        if self.screen_size <= 1:
            return None
        return ParetoScreen(run.space, objectives, predictor=self.screen_predictor, encoding=self.screen_encoding,
                            seed=run.seed, refit_every=self.screen_refit_every, acquisition=self.screen_acquisition,
                            constrained=constrained)


def escape_distance(candidates: np.ndarray, front: np.ndarray) -> np.ndarray:
    """For each candidate row, the additive epsilon it needs to escape domination by ``front`` (larger is better).

    ``max over f in front of min over objectives (f_j - p_j)``: positive when
    some front point dominates ``p`` (the least uniform improvement that
    would make ``p`` non-dominated), zero or negative when none does (the
    more negative, the further beyond the front ``p`` lies).

    >>> escape_distance(np.array([[0.0, 0.0], [2.0, 0.5], [3.0, 3.0]]), np.array([[1.0, 1.0], [2.0, 0.0]])).tolist()
    [1.0, -0.5, -2.0]
    """
    if len(front) == 0:
        return np.full(len(candidates), -np.inf)
    gaps = front[None, :, :] - candidates[:, None, :]  # [candidate, front point, objective]
    return gaps.min(axis=2).max(axis=1)


class ParetoScreen:
    """Per-objective predictors fit on a run's evaluations; :meth:`pick` chooses among candidate children.

    Args:
        space: The search space of the architectures.
        objectives: Objective names (keys of :data:`nas_gym.multi_objective.pareto.OBJECTIVES`).
        predictor: Predictor name in :data:`nas_gym.predictors.PREDICTORS`.
        encoding: The predictors' feature encoding (None: the space's default).
        seed: Seed of the predictors.
        refit_every: Evaluations observed between two fits.
        min_points: Evaluations observed before the first fit; until then
            :attr:`ready` is False and the method breeds as without a screen.
        predictor_kwargs: Further arguments of the predictor.
        constrained: Whether the env has hard limits: then one more predictor
            learns each evaluation's ``constraint_violation``, and candidates
            predicted within the limits come first, those beyond them after,
            by predicted violation (Deb's constrained domination).

    Raises:
        ConfigError: An unknown objective or predictor, or a setting out of range.
    """

    def __init__(
        self,
        space: SearchSpace,
        objectives: Sequence[str],
        *,
        predictor: str = "mlp_ensemble",
        encoding: str | None = None,
        seed: int = 0,
        refit_every: int = 10,
        min_points: int = 10,
        predictor_kwargs: Mapping[str, Any] | None = None,
        constrained: bool = False,
        acquisition: str = "mean",
    ):
        unknown = [n for n in objectives if n not in OBJECTIVES]
        if unknown or not objectives:
            raise ConfigError(f"ParetoScreen objectives must be names in {list(OBJECTIVES)}, got {list(objectives)!r}.")
        if int(refit_every) < 1 or int(min_points) < 2:
            raise ConfigError(
                f"ParetoScreen needs refit_every ≥ 1 and min_points ≥ 2, got {refit_every!r} and {min_points!r}."
            )
        self.space = space
        self.objectives = tuple(objectives)
        self.refit_every = int(refit_every)
        self.min_points = int(min_points)
        if acquisition not in ACQUISITIONS:
            raise ConfigError(f"ParetoScreen acquisition must be one of {list(ACQUISITIONS)}, got {acquisition!r}.")
        self.acquisition = acquisition
        self._rng = np.random.default_rng(seed)
        self.constrained = bool(constrained)
        self._models: list[Predictor] = [
            make_predictor(predictor, space, encoding=encoding, seed=seed, **dict(predictor_kwargs or {}))
            for _ in range(len(self.objectives) + self.constrained)
        ]
        self._archs: list[Architecture] = []
        self._points: list[np.ndarray] = []
        self._violations: list[float] = []
        self._fitted_at = 0
        self._front = np.zeros((0, len(self.objectives)))
        self._scale = np.ones(len(self.objectives))

    @property
    def ready(self) -> bool:
        """Whether enough evaluations were observed to fit the predictors."""
        return len(self._archs) >= self.min_points

    def observe(self, arch: Architecture, values: Mapping[str, float], violation: float = 0.0) -> None:
        """Record one evaluation: its architecture, objective values and ``constraint_violation`` (0: feasible).

        An infeasible evaluation (beyond the env's hard limits) still teaches
        the predictors, but never joins the front the candidates are measured against.
        """
        self._archs.append(arch)
        self._points.append(objective_matrix([values], self.objectives)[0])
        self._violations.append(max(float(violation), 0.0))

    def pick(self, candidates: Sequence[Architecture]) -> int:
        """Index of the candidate predicted to lie furthest beyond the evaluated front (ties: the first).

        Raises:
            ConfigError: Called before :attr:`ready`, or with no candidate.
        """
        if not self.ready:
            raise ConfigError(f"ParetoScreen.pick() needs {self.min_points} observed evaluations, "
                              f"got {len(self._archs)}.")
        if not candidates:
            raise ConfigError("ParetoScreen.pick() needs at least one candidate.")
        if len(candidates) == 1:
            return 0
        self._refit_if_stale()
        signs = np.array([OBJECTIVES[n] for n in self.objectives], dtype=float)
        k = len(self.objectives)
        predicted = np.stack([self._draw(m, candidates) for m in self._models[:k]], axis=1) * signs
        distance = escape_distance(predicted / self._scale, self._front / self._scale)
        if self.constrained:
            # Deb's constrained domination on the predictions: predicted feasible first, then by violation.
            violation = self._models[k].predict(candidates)[0]
            return int(np.lexsort((distance, np.where(violation > 0, violation, 0.0)))[0])
        return int(np.argmin(distance))

    def _draw(self, model: Predictor, candidates: Sequence[Architecture]) -> np.ndarray:
        """The model's mean for each candidate, or with ``its`` one draw from N(mean, std) each."""
        mean, std = model.predict(candidates)
        return mean if self.acquisition == "mean" else self._rng.normal(mean, std)

    def front(self) -> np.ndarray:
        """The non-dominated feasible evaluations observed so far, signed so that larger is better (one row each)."""
        feasible = np.asarray(self._points).reshape(-1, len(self.objectives))[np.asarray(self._violations) <= 0]
        return feasible[pareto_indices(feasible)] if len(feasible) else feasible

    def _refit_if_stale(self) -> None:
        """Fit the predictors, and take the front and the scale, when ``refit_every`` evaluations came since.

        Front and scale change only here, so a pick depends on the evaluations observed at the last fit
        alone: a method that asks several children before their results come (NSGA-II with workers) picks
        as it would one at a time.
        """
        if self._fitted_at and len(self._archs) - self._fitted_at < self.refit_every:
            return
        points = np.asarray(self._points)
        for j, name in enumerate(self.objectives):
            self._models[j].fit(self._archs, points[:, j] * OBJECTIVES[name])  # the values as reported
        if self.constrained:
            self._models[-1].fit(self._archs, self._violations)
        self._fitted_at = len(self._archs)
        self._front = self.front()
        # Objectives in units of their spread, so that no one objective's scale decides the distance.
        self._scale = points.std(axis=0)
        self._scale[self._scale <= 0] = 1.0


def screened(
    screen: ParetoScreen,
    breed: Callable[[], Architecture],
    size: int,
    is_new: Callable[[Architecture], bool],
    key: Callable[[Architecture], Any],
) -> Architecture:
    """The screen's pick of up to ``size`` distinct new children of ``breed()`` (tried at most ``4 * size`` times).

    A child ``is_new`` rejects (already evaluated) or whose ``key`` (canonical
    form) another candidate has is bred again; if no new child comes in all
    those tries, the last one bred is returned, as dedup would.
    """
    candidates: list[Architecture] = []
    keys: set[Any] = set()
    child = breed()
    for _ in range(4 * size):
        k = key(child)
        if is_new(child) and k not in keys:
            candidates.append(child)
            keys.add(k)
            if len(candidates) == size:
                break
        child = breed()
    return candidates[screen.pick(candidates)] if candidates else child
