"""``RunLogger``: TensorBoard scalars and the progress bar of one search run.

Every method logs the same ``nas/*`` tags against the number of
architectures evaluated (``nas/reward``, ``nas/best_reward``,
``nas/val_accuracy``, ``nas/latency_ms``, ``nas/num_evaluated``,
``nas/search_cost_s``), final results under ``eval/``, and its own scalars
(CleanRL tags such as ``losses/policy_loss``) through :meth:`RunLogger.log_scalar`.
The history file itself is the run folder's (:mod:`nas_gym.search.folder`).
"""

from __future__ import annotations

import math
import os
from typing import Any


class RunLogger:
    """Writes a run's TensorBoard scalars and shows its progress bar.

    Args:
        out_dir: Folder of the TensorBoard event files; None writes none.
        hparams: Written once as a text table.
        purge_step: TensorBoard drops an interrupted process's events from
            this step on (a resumed run writes them again while it replays).
        progress: Show a progress bar of ``total`` evaluations.
        total: Evaluations in the budget.
        desc: Label of the progress bar.
        total_epochs: An epochs budget: the bar then counts epochs trained (``log_evaluation``'s ``epochs_trained``).
    """

    def __init__(
        self, out_dir: str | os.PathLike | None, hparams: dict[str, Any] | None = None, *,
        purge_step: int | None = None, progress: bool = False, total: int = 0, desc: str = "",
        total_epochs: int | None = None,
    ):
        self.writer = None
        if out_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(out_dir), purge_step=purge_step)
            if hparams:
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
            search_cost_s: Wall seconds of the search so far.
            replayed: The record is a resumed run's replay: the bar shows no new best for it.
            epochs_trained: The run's epochs trained so far (envs that train): adds ``nas/epochs_trained``, and
                ``nas/best_reward_by_epochs`` with epochs trained as x, for comparing methods at equal epochs.
            best_full_reward: The best reward of a full-fidelity evaluation so far (what
                ``nas/best_reward_by_epochs`` shows: a short training's score is not a result).
        """
        if self.writer is not None:
            step = record["index"] + 1
            self.writer.add_scalar("nas/reward", record["reward"], step)
            self.writer.add_scalar("nas/val_accuracy", record["val_accuracy"], step)
            if record["latency_ms"] is not None:
                self.writer.add_scalar("nas/latency_ms", record["latency_ms"], step)
            self.writer.add_scalar("nas/best_reward", record["best_reward"], step)
            self.writer.add_scalar("nas/num_evaluated", step, step)
            self.writer.add_scalar("nas/search_cost_s", search_cost_s, step)
            if epochs_trained is not None:
                self.writer.add_scalar("nas/epochs_trained", epochs_trained, step)
                if best_full_reward is not None and math.isfinite(best_full_reward):
                    self.writer.add_scalar("nas/best_reward_by_epochs", best_full_reward, epochs_trained)
            if record.get("epochs") is not None:
                self.writer.add_scalar("nas/fidelity_epochs", record["epochs"], step)
        if self._bar is not None:
            if self._by_epochs:
                self._bar.update(min(epochs_trained or 0, self._bar.total) - self._bar.n)
            else:
                self._bar.update(1)
            if not replayed:
                self._bar.set_postfix(best=f"{record['best_reward']:.4f}")

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        """Any other scalar (agent losses follow CleanRL tags, e.g. ``losses/policy_loss``)."""
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def log_summary(self, summary: dict[str, Any]) -> None:
        """The ``eval/best_*`` scalars of the run's summary."""
        if self.writer is None or not summary.get("best"):
            return
        for key in ("reward", "val_accuracy", "test_accuracy", "latency_ms"):
            value = summary["best"].get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                self.writer.add_scalar(f"eval/best_{key}", value, summary["num_evaluated"])

    def close(self) -> None:
        """Flush the event files and close the bar."""
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
        if self._bar is not None:
            self._bar.close()
