"""Resuming a run: :class:`Replay`, the history an interrupted run left, and :class:`ResumeError`.

Resume is deterministic replay, not per-method checkpoints. Run again with
the same arguments and the method starts over from its seed; each evaluation
the history holds is checked against what the method proposes
(:meth:`Replay.recorded`) and scored by the env from the record
(``NASEnv.score(arch, metrics)``, with :meth:`Replay.metrics`: nothing is
trained again, and the method sees the very rewards it saw before), then the
run carries on where it stopped. Every evaluation appears once in the
history, and for a deterministic method the result equals an uninterrupted
run's. Redoing the method's own computation (a controller update, a TPE
proposal) is cheap next to evaluations, and there is no controller,
optimiser, population or RNG state on disk to get out of step with the
history. The one exception is an evaluator with a state of its own (a
supernet), saved with every record and loaded back
(:meth:`Replay.restore_evaluator_state`). TensorBoard gets a new event
file with only the points the interrupted processes' files lack
(:class:`~nas_gym.search.logger.RunLogger`), so each curve has one point
per evaluation and no step goes backwards.

A folder never loses a result it holds (:meth:`Replay.check_budget`): run
again with the budget it ran with, it reports that run (every evaluation
replayed, none evaluated again); with a larger budget it extends the run; a
budget that would stop before the end of its history is refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from nas_gym.env.evaluation import Evaluation
from nas_gym.error import ConfigError, NASGymError
from nas_gym.evaluators.metrics import Metrics
from nas_gym.search.budget import Budget
from nas_gym.search.folder import RunFolder
from nas_gym.search.pools import EvaluationPool
from nas_gym.spaces import Architecture

__all__ = ["Replay", "ResumeError"]


class ResumeError(NASGymError):
    """A run folder cannot be resumed: the method did not replay its recorded history."""


class Replay:
    """The ``history.jsonl`` records an interrupted run of the folder left, which the method replays first.

    Args:
        records: The recorded history lines, in order (empty for a new run).
        out_dir: The run folder, for error messages.
        seed: The run's seed, for error messages.
    """

    def __init__(self, records: list[dict[str, Any]], out_dir: str | os.PathLike | None, seed: int):
        self.records = records
        self.out_dir = out_dir
        self.seed = seed

    def __len__(self) -> int:
        return len(self.records)

    def check_budget(self, budget: Budget, summary: dict[str, Any] | None) -> None:
        """Refuse a ``budget`` that would stop the replay before the end of the folder's history.

        Such a run would write a ``summary.json`` of fewer evaluations than
        ``history.jsonl`` holds, and a worse best than the folder already has.

        Args:
            budget: The budget the run is started with.
            summary: The folder's ``summary.json`` from its last run, or None.

        Raises:
            ResumeError: The history holds more evaluations than ``budget``
                allows, or had trained ``budget.epochs`` before its last
                evaluation; the message names the folder's budget and how to go on.
        """
        held = len(self.records)
        if not held:
            return
        summary = summary or {}
        how = ("(nothing is evaluated again), a larger one to extend it, or pick another --out for a new run "
               "with this budget.")
        if held > budget.evaluations:
            theirs = summary.get("budget") if (summary.get("budget") or 0) >= held else None
            ran = "" if theirs is None else f" (a run of budget {theirs})"
            raise ResumeError(
                f"Run folder {self.out_dir} holds {held} evaluations{ran}, more than a budget of "
                f"{budget.evaluations} allows: it would report on part of them. Run it with "
                + (f"--budget {theirs}" if theirs is not None else f"--budget {held} or more")
                + f" to report that run {how}"
            )
        if budget.epochs is not None:
            before_last = sum(r.get("epochs_trained") or 0 for r in self.records[:-1])
            if before_last >= budget.epochs:
                trained = before_last + (self.records[-1].get("epochs_trained") or 0)
                theirs = summary.get("budget_epochs") or trained
                raise ResumeError(
                    f"Run folder {self.out_dir} holds {held} evaluations that trained {trained} epochs (a run of "
                    f"budget {theirs} epochs); a budget of {budget.epochs} epochs would stop before its last ones. "
                    f"Run it with --budget-epochs {theirs} to report that run {how}"
                )

    def metrics(self, index: int, env: Any, actions: Sequence[Any], epochs: int | None = None) -> Metrics | None:
        """The recorded metrics if ``actions`` at fidelity ``epochs`` are evaluation ``index`` of the history.

        Args:
            index: Position of the evaluation in the run's history.
            env: The run's (unwrapped) env, which scores the record.
            actions: The episode's actions so far.
            epochs: The episode's fidelity.
        """
        space = env.space
        if index >= len(self.records) or len(actions) != space.num_decisions:
            return None
        if not hasattr(env, "score_next_from"):
            return None
        try:
            arch = Architecture(space, space.validate([int(a) for a in actions]))
        except (NASGymError, TypeError, ValueError, OverflowError):
            return None  # not a valid architecture: the env handles the action itself
        record = self.records[index]
        if record["arch"] != str(arch) or record.get("epochs") != epochs:
            return None  # the env scores it and recorded() reports the mismatch
        return Evaluation.from_record(record).metrics()

    def recorded(self, index: int, evaluation: Evaluation) -> Evaluation:
        """The recorded evaluation ``index``, which the method's ``evaluation`` must match.

        Raises:
            ResumeError: The method proposed another architecture or fidelity than the history holds.
        """
        recorded = self.records[index]
        if (recorded["arch"], recorded.get("epochs")) != (evaluation.arch, evaluation.extra.get("epochs")):
            raise ResumeError(
                f"Cannot resume {self.out_dir}: evaluation {index} was {recorded['arch']!r} (fidelity "
                f"{recorded.get('epochs')}) but the method now proposes {evaluation.arch!r} (fidelity "
                f"{evaluation.extra.get('epochs')}), so it is not deterministic for seed {self.seed}. "
                "Start a new run folder."
            )
        return Evaluation.from_record(recorded)

    def restore_evaluator_state(self, evaluator: Any, pool: EvaluationPool | None, folder: RunFolder | None) -> Any:
        """``evaluator`` if it has a state of its own (a supernet), restored to match the history; else None.

        Replay scores recorded evaluations without calling the evaluator, so
        such a state cannot be rebuilt from the history: it is saved with
        every record (:meth:`RunFolder.save_state`) and loaded here.

        Raises:
            ConfigError: Such an evaluator with worker processes (each would train its own state).
            ResumeError: The history has evaluations but no saved state matches them.
        """
        if not getattr(evaluator, "stateful", False):
            return None
        if pool is not None:
            raise ConfigError(
                f"The {evaluator.name} evaluator trains one shared state in this process, which worker processes "
                "would each train apart: run it with workers=1."
            )
        if folder is not None and self.records:
            state = folder.load_state(len(self.records))
            if state is None:
                raise ResumeError(
                    f"Cannot resume {self.out_dir}: its history holds {len(self.records)} evaluations, but "
                    f"{self.out_dir}/state has no {evaluator.name} state saved after them. Start a new run folder."
                )
            evaluator.load_state_dict(state)
        return evaluator
