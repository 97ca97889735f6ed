"""Random scalarisation of the objectives of each evaluation (ParEGO, Knowles 2006), for learning agents.

REINFORCE and PPO train on one number. With a :class:`Scalarizer` they
train on a randomly weighted combination of the objectives every
evaluation reports (validation accuracy, latency, params, FLOPs), whatever
the env's own reward, with new weights per batch or episode, so one search
spreads along the Pareto front instead of optimising one trade-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ConfigError
from nas_gym.multi_objective.pareto import ACCURACY_LATENCY, OBJECTIVES, objective_matrix
from nas_gym.utils.hparams import one_of, optional, sequence_of

if TYPE_CHECKING:
    from nas_gym.search.run import SearchRun

#: Values of the ``scalarization`` setting of REINFORCE and PPO (None: train on the env's reward).
SCALARIZATIONS = ("random_linear", "random_tchebycheff")
#: Weight of the augmented term of the Tchebycheff scalarisation (ParEGO's rho, Knowles 2006).
TCHEBYCHEFF_RHO = 0.05
#: Objectives that need the env's latency model.
_LATENCY_OBJECTIVES = ("latency_ms",)

Key = tuple[int, ...]


class Scalarizer:
    """Random scalarisation of the objectives each evaluation reports, as in ParEGO (Knowles 2006).

    It remembers the ``objectives`` of every architecture evaluated in the
    search (read from the final step's ``info``, whatever the env's reward
    was), signed so that larger is better (:func:`nas_gym.multi_objective.pareto.objective_matrix`:
    latency, params and FLOPs are minimised), and normalises each objective to
    ``[0, 1]`` by the smallest and largest value seen so far (1 = the best
    seen). An objective on which every evaluation so far is equal does not
    discriminate and counts as 1.

    :meth:`draw` draws a weight vector ``w`` from the flat Dirichlet over the
    objectives; :meth:`rewards` scalarises architectures with it:

    * ``"random_linear"``: ``sum_i w_i n_i`` (a weighted sum, in ``[0, 1]``);
    * ``"random_tchebycheff"``: ParEGO's augmented Tchebycheff function of
      the normalised costs ``c_i = 1 - n_i``, as a reward:
      ``1 - max_i(w_i c_i) - rho * sum_i w_i c_i`` with ``rho = 0.05``
      (in ``[-rho, 1]``). Unlike a weighted sum it can single out
      architectures in non-convex parts of the front.

    Because the bounds are the current ones, an architecture remembered
    from an earlier evaluation (reward reuse) is scalarised exactly like a
    fresh one.

    Args:
        kind: One of :data:`SCALARIZATIONS`.
        objectives: Names from :data:`nas_gym.multi_objective.pareto.OBJECTIVES`.
        rng: The source of the weights (the run's ``run.rng``).

    Attributes:
        values: Signed objective vector of each architecture observed, by action tuple.
        weights: The last weights drawn (None before the first :meth:`draw`).
    """

    def __init__(self, kind: str, objectives: Sequence[str], rng: np.random.Generator):
        if kind not in SCALARIZATIONS:
            raise ConfigError(f"scalarization must be one of {', '.join(map(repr, SCALARIZATIONS))}, got {kind!r}.")
        self.kind = kind
        self.objectives = tuple(objectives)
        self.rng = rng
        self.values: dict[Key, np.ndarray] = {}
        self.weights: np.ndarray | None = None
        self._lo = np.full(len(self.objectives), np.inf)
        self._hi = np.full(len(self.objectives), -np.inf)

    def observe(self, key: Key, info: dict[str, Any]) -> None:
        """Remember the objectives of a newly evaluated architecture (its final ``info``) and widen the bounds.

        Raises:
            ConfigError: An objective is None in ``info`` (the env has no latency model).
        """
        missing = [n for n in self.objectives if info.get(n) is None]
        if missing:
            fix = (
                "pass latency_column=... (a table with a latency column) or latency='measured' in the env kwargs"
                if any(n in _LATENCY_OBJECTIVES for n in missing)
                else "choose objectives the env reports"
            )
            raise ConfigError(
                f"Multi-objective search needs {', '.join(missing)} of every evaluation, but the env "
                f"reported None for {info.get('arch')!r}: {fix}, or set objectives= without "
                f"{', '.join(missing)}."
            )
        row = objective_matrix([info], self.objectives)[0]
        self.values[key] = row
        self._lo = np.minimum(self._lo, row)
        self._hi = np.maximum(self._hi, row)

    def draw(self) -> np.ndarray:
        """Draw new weights from the flat Dirichlet over the objectives (and keep them as :attr:`weights`)."""
        self.weights = self.rng.dirichlet(np.ones(len(self.objectives)))
        return self.weights

    def normalised(self, key: Key) -> np.ndarray:
        """The objectives of ``key`` in ``[0, 1]`` by the bounds seen so far (1 = best)."""
        span = self._hi - self._lo
        value = self.values[key]
        return np.where(span > 0, (value - self._lo) / np.where(span > 0, span, 1.0), 1.0)

    def rewards(self, keys: Sequence[Key], weights: np.ndarray | None = None) -> list[float]:
        """The scalarised objectives of observed architectures, with ``weights`` (default :attr:`weights`)."""
        w = self.weights if weights is None else weights
        if w is None:
            raise RuntimeError("Scalarizer.draw() must be called before rewards().")
        out = []
        for key in keys:
            n = self.normalised(key)
            if self.kind == "random_linear":
                out.append(float(w @ n))
            else:
                cost = w * (1.0 - n)
                out.append(float(1.0 - cost.max() - TCHEBYCHEFF_RHO * cost.sum()))
        return out


def scalarizer_for(settings: Any, run: SearchRun) -> Scalarizer | None:
    """The :class:`Scalarizer` of the ``scalarization`` and ``objectives`` settings on ``run``; None: the env reward."""
    if settings.scalarization is None:
        return None
    return Scalarizer(settings.scalarization, settings.objectives, run.rng)


def check_objectives(label: str, objectives: Sequence[str]) -> None:
    """Multi-objective settings need two distinct objectives.

    Raises:
        ConfigError: Fewer than two, or one named twice.
    """
    if len(objectives) < 2 or len(set(objectives)) != len(objectives):
        raise ConfigError(
            f"{label} objectives must name at least two distinct objectives of {', '.join(OBJECTIVES)}, "
            f"got {list(objectives)!r}. The default is {list(ACCURACY_LATENCY)!r}."
        )


#: The ``scalarization`` setting's check, shared by REINFORCE and PPO.
SCALARIZATION_CHECK = optional(one_of(*SCALARIZATIONS), "train on the env's reward")
#: The ``objectives`` setting's check.
OBJECTIVES_CHECK = sequence_of(one_of(*OBJECTIVES))
