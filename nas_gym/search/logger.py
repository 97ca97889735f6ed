"""``RunLogger``: TensorBoard scalars and the progress bar of one search run.

Every method logs the same ``nas/*`` tags against the number of
architectures evaluated (``nas/reward``, ``nas/best_reward``,
``nas/val_accuracy``, ``nas/latency_ms``, ``nas/num_evaluated``,
``nas/search_cost_s``; ``nas/val_bpc`` on a language-modelling task and
``nas/val_mse`` on a regression task), final results under ``eval/``, and its own scalars
(CleanRL tags such as ``losses/policy_loss``) through :meth:`RunLogger.log_scalar`.
The history file itself is the run folder's (:mod:`nas_gym.search.folder`).

A run folder is one TensorBoard run with one point per tag and step, also
after a kill: a resumed run (:mod:`nas_gym.search.resume`) writes a new
event file beside the earlier ones, and only the points they lack, so no
step goes backwards in the order TensorBoard reads the files (which would
make it drop points: "out of order event.step").
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from nas_gym.env.evaluation import LOGGED_EXTRA_KEYS

logger = logging.getLogger(__name__)

#: What TensorBoard's ``add_text`` names the hyperparameter table's tag.
_HPARAMS_TAG = "hyperparameters/text_summary"
#: The longest wait for the clock to pass the earlier event files' second (see :func:`_wait_to_sort_last`).
_MAX_WAIT_S = 2.0


def _earlier_points(folder: Path) -> dict[str, tuple[int, float]]:
    """The last point (step, value) of each tag in the event files an earlier process left in ``folder``.

    Read with TensorBoard's own reader, which stops quietly at a record cut
    short by a kill.
    """
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    last: dict[str, tuple[int, float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in LegacyEventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if event.step >= last.get(value.tag, (-1, 0.0))[0]:
                    last[value.tag] = (event.step, value.simple_value)
    return last


def _wait_to_sort_last(folder: Path) -> None:
    """Wait, if need be, until a new event file's name sorts after every earlier one in ``folder``.

    TensorBoard reads a run's event files in name order, and a name starts
    with the second it was made in, then host, process id and a counter
    (compared as text): a resume in the same second as the file before
    could sort before it, and its points would then come first.
    """
    fields = [p.name.split(".") for p in folder.glob("events.out.tfevents.*")]
    seconds = [int(f[3]) for f in fields if len(f) > 3 and f[3].isdigit()]
    wait = max(seconds, default=0) + 1 - time.time()
    if 0 < wait <= _MAX_WAIT_S:
        time.sleep(wait)


class RunLogger:
    """Writes a run's TensorBoard scalars and shows its progress bar.

    Each tag gets one point per step, its steps rising: a value logged
    again at a tag's current step replaces the one pending there (a
    method's update at an evaluation count it already logged at), so a
    point is written once its tag moves on to a later step, or at
    :meth:`close`. A step below the tag's current one is not written. In a
    resumed run folder, the points the earlier processes' event files hold
    are not written again (the replay logs them once more), and
    ``nas/search_cost_s`` goes on from the last one they wrote.

    Args:
        out_dir: Folder of the TensorBoard event files; None writes none.
        hparams: Written once as a text table.
        progress: Show a progress bar of ``total`` evaluations.
        total: Evaluations in the budget.
        desc: Label of the progress bar.
        total_epochs: An epochs budget: the bar then counts epochs trained (``log_evaluation``'s ``epochs_trained``).
    """

    def __init__(
        self, out_dir: str | os.PathLike | None, hparams: dict[str, Any] | None = None, *,
        progress: bool = False, total: int = 0, desc: str = "", total_epochs: int | None = None,
    ):
        self.writer = None
        #: Last step of each tag on disk or pending; a point at or below it is not written.
        self._last_step: dict[str, int] = {}
        self._pending: dict[str, tuple[int, float]] = {}
        self._backwards: set[str] = set()
        self._earlier_cost_s = 0.0
        if out_dir is not None:
            # TensorBoard's own file writer, not torch's SummaryWriter: a search on a lookup table needs no torch.
            from nas_gym.search.event_writer import EventWriter

            folder = Path(out_dir)
            earlier = _earlier_points(folder) if folder.is_dir() else {}
            self._last_step = {tag: step for tag, (step, _) in earlier.items()}
            self._earlier_cost_s = earlier.get("nas/search_cost_s", (0, 0.0))[1]
            if folder.is_dir():
                _wait_to_sort_last(folder)
            self.writer = EventWriter(folder)
            if hparams and _HPARAMS_TAG not in self._last_step:
                table = "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in sorted(hparams.items()))
                self.writer.add_text("hyperparameters", table)
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            by_epochs = total_epochs is not None
            self._bar = tqdm(
                total=total_epochs if by_epochs else total, desc=desc, unit="epoch" if by_epochs else "arch"
            )
        self._by_epochs = total_epochs is not None

    def log_evaluation(
        self, record: dict[str, Any], search_cost_s: float, *, replayed: bool = False,
        epochs_trained: int | None = None, best_full_reward: float | None = None,
    ) -> None:
        """The ``nas/*`` scalars of one history record (x = architectures evaluated), and a tick of the bar.

        Args:
            record: The history record (:meth:`nas_gym.env.evaluation.Evaluation.record`).
            search_cost_s: Wall seconds of the search so far in this process; ``nas/search_cost_s`` adds
                those the earlier processes of a resumed run had logged.
            replayed: The record is a resumed run's replay: the bar shows no new best for it.
            epochs_trained: The run's epochs trained so far (envs that train): adds ``nas/epochs_trained``, and
                ``nas/best_reward_by_epochs`` with epochs trained as x, for comparing methods at equal epochs.
            best_full_reward: The best reward of a full-fidelity evaluation so far (what
                ``nas/best_reward_by_epochs`` shows: a short training's score is not a result).
        """
        if self.writer is not None:
            step = record["index"] + 1
            self._scalar("nas/reward", record["reward"], step)
            self._scalar("nas/val_accuracy", record["val_accuracy"], step)
            if record["latency_ms"] is not None:
                self._scalar("nas/latency_ms", record["latency_ms"], step)
            self._scalar("nas/best_reward", record["best_reward"], step)
            self._scalar("nas/num_evaluated", step, step)
            self._scalar("nas/search_cost_s", self._earlier_cost_s + search_cost_s, step)
            if epochs_trained is not None:
                self._scalar("nas/epochs_trained", epochs_trained, step)
                if best_full_reward is not None and math.isfinite(best_full_reward):
                    self._scalar("nas/best_reward_by_epochs", best_full_reward, epochs_trained)
            if record.get("epochs") is not None:
                self._scalar("nas/fidelity_epochs", record["epochs"], step)
            for key in LOGGED_EXTRA_KEYS:
                if record.get(key) is not None:
                    self._scalar(f"nas/{key}", record[key], step)
        if self._bar is not None:
            if self._by_epochs:
                self._bar.update(min(epochs_trained or 0, self._bar.total) - self._bar.n)
            else:
                self._bar.update(1)
            if not replayed:
                self._bar.set_postfix(best=f"{record['best_reward']:.4f}")

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        """Any other scalar (agent losses follow CleanRL tags, e.g. ``losses/policy_loss``).

        A second value at the tag's current step replaces the first (see the class docstring).
        """
        if self.writer is not None:
            self._scalar(tag, value, step)

    def log_summary(self, summary: dict[str, Any]) -> None:
        """The ``eval/best_*`` scalars of the run's result (:func:`~nas_gym.search.summary.run_result`).

        The result, not ``summary["best"]``: on a weight-sharing run that is only the supernet's favourite.
        """
        from nas_gym.search.summary import run_result

        result = run_result(summary)
        if self.writer is None or not result:
            return
        for key in ("reward", "val_accuracy", "test_accuracy", "latency_ms"):
            value = result.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                self._scalar(f"eval/best_{key}", value, summary["num_evaluated"])

    def close(self) -> None:
        """Write the pending points, flush the event files and close the bar."""
        if self.writer is not None:
            for tag, (step, value) in self._pending.items():
                self.writer.add_scalar(tag, value, step)
            self._pending.clear()
            self.writer.flush()
            self.writer.close()
        if self._bar is not None:
            self._bar.close()

    def _scalar(self, tag: str, value: float, step: int) -> None:
        """Hold ``value`` as the tag's point at ``step``, writing the tag's pending point of an earlier step."""
        pending = self._pending.get(tag)
        if step <= self._last_step.get(tag, -1) and (pending is None or step != pending[0]):
            if pending is not None and tag not in self._backwards:  # an earlier process's points are skipped quietly
                self._backwards.add(tag)
                logger.warning("TensorBoard tag %r went back from step %d to %d; such points are not written.",
                               tag, pending[0], step)
            return
        if pending is not None and step > pending[0]:
            self.writer.add_scalar(tag, pending[1], pending[0])
        self._pending[tag] = (step, value)
        self._last_step[tag] = step
