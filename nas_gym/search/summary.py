"""What a run's summary is made of: the running :class:`Tally` of its evaluations and its Pareto front.

- :class:`Tally`: every evaluation counted so far, the best one (overall and
  at the full training budget), the search cost and the epochs trained;
- :func:`pareto_front`: the accuracy-latency front and its hypervolume
  (``pareto.json``, and ``summary.json``'s ``hypervolume``);
- :data:`SUMMARY_KEYS`: the keys of ``summary.json`` the run itself writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nas_gym.env.evaluation import Evaluation
from nas_gym.multi_objective.pareto import ACCURACY_LATENCY, hypervolume, objective_matrix, pareto_indices

__all__ = ["SUMMARY_KEYS", "Tally", "pareto_front"]

#: The keys every ``summary.json`` has (``hypervolume`` where evaluations have latency); methods add others.
SUMMARY_KEYS = (
    "env_id", "env_kwargs", "agent", "seed", "budget", "budget_seconds", "budget_epochs", "num_evaluated",
    "epochs_trained", "wall_s", "search_cost_s", "resumed_from", "best", "best_full_fidelity", "hparams", "workers",
    "backend", "hypervolume",
)


class Tally:
    """The running figures of a run's evaluations: best so far, best at full fidelity, search cost, epochs.

    Args:
        max_epochs: The evaluator's full training budget in epochs, or None where it does not train.
    """

    def __init__(self, max_epochs: int | None):
        self.max_epochs = max_epochs
        #: Every evaluation counted so far, in order.
        self.evaluations: list[Evaluation] = []
        #: The best evaluation so far as plain data (``summary.json``'s ``best``), or None.
        self.best: dict[str, Any] | None = None
        #: (feasible, reward) of the best evaluation: a feasible architecture beats every infeasible one.
        self.best_key: tuple[bool, float] = (False, -np.inf)
        #: The best evaluation at the full budget (no fidelity, or the largest): a multi-fidelity run's result.
        self.best_full_fidelity: dict[str, Any] | None = None
        self.best_full_key: tuple[bool, float] = (False, -np.inf)
        self.search_cost_s = 0.0
        self.epochs_trained = 0
        #: The highest fidelity each architecture (as built) was evaluated at in this run: what its next costs.
        self._trained_to: dict[str, int] = {}

    def add(self, evaluation: Evaluation) -> Evaluation:
        """Count ``evaluation``; return it with what it cost in epochs added (envs that train)."""
        evaluation = self._count_epochs(evaluation)
        if not evaluation.cached:
            self.search_cost_s += evaluation.cost_s
        key = (evaluation.feasible, evaluation.reward)
        if self.best is None or key > self.best_key:
            self.best, self.best_key = evaluation.summary(), key
        full = evaluation.extra.get("epochs") in (None, self.max_epochs)
        if full and (self.best_full_fidelity is None or key > self.best_full_key):
            self.best_full_fidelity, self.best_full_key = evaluation.summary(), key
        self.evaluations.append(evaluation)
        return evaluation

    def _count_epochs(self, evaluation: Evaluation) -> Evaluation:
        """Add what ``evaluation`` cost in epochs to :attr:`epochs_trained` and to its record (envs that train)."""
        if self.max_epochs is None:
            return evaluation
        fidelity = evaluation.extra.get("epochs") or self.max_epochs
        before = self._trained_to.get(evaluation.arch, 0)
        cost = max(0, fidelity - before)
        self._trained_to[evaluation.arch] = max(before, fidelity)
        self.epochs_trained += cost
        return dataclasses.replace(evaluation, extra={**evaluation.extra, "epochs_trained": cost})


def pareto_front(
    evaluations: Sequence[Evaluation], env_reference: Callable[[], dict[str, Any] | None]
) -> dict[str, Any] | None:
    """The non-dominated set of the feasible evaluations (validation accuracy, latency) and its hypervolume.

    Args:
        evaluations: The run's evaluations.
        env_reference: Gives the env's reference point
            (:meth:`NASEnv.hypervolume_reference`: a table's median accuracy
            and 90th-percentile latency), or None; then the worst accuracy and
            latency evaluated are the reference.

    Returns:
        The objectives, reference point, hypervolume, counts and front (as
        ``pareto.json`` holds them); None when the evaluations have no latency.
    """
    evaluated = [e for e in evaluations if e.latency_ms is not None]
    if not evaluated:
        return None
    feasible = [e for e in evaluated if e.feasible]
    points = objective_matrix([e.info() for e in feasible], ACCURACY_LATENCY)
    front = sorted((feasible[i] for i in pareto_indices(points)), key=lambda e: e.latency_ms) if feasible else []
    reference = env_reference()
    if reference is None:
        reference = {"val_accuracy": min(e.val_accuracy for e in evaluated),
                     "latency_ms": max(e.latency_ms for e in evaluated), "source": "evaluated architectures"}
    volume = hypervolume([e.latency_ms for e in front], [e.val_accuracy for e in front],
                         reference["latency_ms"], reference["val_accuracy"])
    return {"objectives": list(ACCURACY_LATENCY), "reference_point": reference, "hypervolume": volume,
            "evaluated": len(evaluated), "feasible": len(feasible), "front": [e.summary() for e in front]}
