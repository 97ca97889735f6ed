"""What a run's summary is made of: the running :class:`Tally` of its evaluations and its Pareto front.

- :class:`Tally`: every evaluation counted so far, the best one (overall and
  at the full training budget), the search cost and the epochs trained;
- :func:`pareto_front`: the accuracy-latency front and its hypervolume
  (``pareto.json``, and ``summary.json``'s ``hypervolume``);
- :data:`SUMMARY_KEYS`: the keys of ``summary.json`` the run itself writes;
- :func:`run_result` and :func:`ranked_results`: which architecture is the
  run's result, the one ``nas-gym search`` prints and ``nas-gym train``
  trains, and the order of the others (``nas-gym train --rank K``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nas_gym.env.evaluation import Evaluation
from nas_gym.error import ConfigError, DataError
from nas_gym.multi_objective.pareto import ACCURACY_LATENCY, hypervolume, objective_matrix, pareto_indices

__all__ = ["SUMMARY_KEYS", "Tally", "pareto_front", "pick_result", "ranked_results", "run_result", "standalone_entry"]

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


def run_result(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The run's result in its ``summary.json``: what ``nas-gym search`` prints and ``nas-gym train`` trains.

    In order: ``result``, where the method wrote one (a weight-sharing search:
    the best of its top-k scored stand-alone, whose ``best`` is only the
    supernet's favourite); else ``best_full_fidelity`` (a multi-fidelity
    run: its best full training, not a lucky short one); else ``best``.
    None when nothing was evaluated.
    """
    return summary.get("result") or summary.get("best_full_fidelity") or summary.get("best")


def standalone_entry(summary: dict[str, Any], arch: str) -> dict[str, Any] | None:
    """A weight-sharing run's record of ``arch`` among its top-k, or None (not among them, or no such run).

    The record holds ``supernet`` (the shared-weight score that ranked ``arch``
    for retraining: not an accuracy of the architecture trained on its own)
    and ``standalone`` (what the stand-alone evaluator gave it).
    """
    for entry in (summary.get("standalone") or {}).get("architectures", []):
        if entry["arch"] == arch:
            return entry
    return None


def _order(record: dict[str, Any]) -> tuple[bool, float]:
    reward = record.get("reward")
    return bool(record.get("feasible", True)), -math.inf if reward is None else float(reward)


def ranked_results(
    summary: dict[str, Any] | None, history: list[dict[str, Any]], where: str | os.PathLike = "the run folder"
) -> list[dict[str, Any]]:
    """The run's architectures as candidates for its result, best first; the first is :func:`run_result`'s.

    - A weight-sharing run (its summary has ``standalone``): the top-k it
      scored stand-alone, by stand-alone reward (feasible first), each its
      stand-alone record. The other architectures have only a supernet score,
      which is no result.
    - A multi-fidelity run: its full-fidelity evaluations, one per
      architecture, by reward (feasible first): a short training is no result.
    - Any other run (or one without a summary yet): every architecture
      evaluated, its best record, by reward (feasible first; ties: the earlier).

    Args:
        summary: The run's ``summary.json``, or None where it has none yet (a run killed before its end).
        history: The run's ``history.jsonl`` records, in order.
        where: The run folder, for messages.

    Raises:
        DataError: The history holds only supernet scores and the stand-alone top-k is not written yet.
    """
    if summary is not None and summary.get("standalone"):
        entries = [e["standalone"] for e in summary["standalone"]["architectures"]]
        return sorted(entries, key=_order, reverse=True)
    if any(r.get("score_source") == "supernet" for r in history):
        raise DataError(
            f"{where} holds supernet scores only (shared weights, not stand-alone accuracies): its top-k is scored "
            "stand-alone when the search ends. Run the same nas-gym search command again to finish it, or name "
            "the architecture with --arch."
        )
    full = (summary or {}).get("best_full_fidelity")
    if full is not None:
        history = [r for r in history if r.get("epochs") in (None, full.get("epochs"))]
    best: dict[str, dict[str, Any]] = {}
    for record in history:
        if record["arch"] not in best or _order(record) > _order(best[record["arch"]]):
            best[record["arch"]] = record
    # Ties go to the earlier evaluation, as the run's own best does (Tally).
    return sorted(best.values(), key=lambda r: (*_order(r), -r.get("index", 0)), reverse=True)


def pick_result(
    summary: dict[str, Any] | None, history: list[dict[str, Any]], rank: int = 1,
    where: str | os.PathLike = "the run folder",
) -> dict[str, Any]:
    """The record of rank ``rank`` (1: the run's result) among :func:`ranked_results`.

    Raises:
        DataError: The run evaluated nothing yet, or has only supernet scores (see :func:`ranked_results`).
        ConfigError: ``rank`` is beyond the candidates.
    """
    ranked = ranked_results(summary, history, where)
    if not ranked:
        raise DataError(f"{where} has no evaluated architecture yet.")
    if not 1 <= rank <= len(ranked):
        what = ("the architectures the weight-sharing search scored stand-alone; name another with --arch"
                if summary is not None and summary.get("standalone") else "the run's distinct architectures")
        raise ConfigError(f"--rank must be between 1 and {len(ranked)} ({what}), got {rank}.")
    return ranked[rank - 1]
