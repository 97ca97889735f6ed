"""The full-training schedule of a found architecture, as plain data (no torch import until one is made).

:class:`TrainConfig` is what ``nas-gym train`` and ``nas-gym scale`` train
with (:func:`nas_gym.model.training.fit`) and what ``model.json`` records.
It lives apart from the training loop so that the CLI can declare its
options without importing torch.

Defaults per kind of task: a field left at None takes the task's default
(:data:`TASK_DEFAULTS`) when training starts (:meth:`TrainConfig.for_task`),
and ``model.json`` records the settings it resolved to. A classifier trains
as it always did (SGD at 0.05, label smoothing 0.1, 30 epochs of 64); a
language model gets what transformers train with: AdamW at 3e-3, weight
decay 0.01, gradient clipping at norm 1.0, no label smoothing, 8 epochs of
32 windows with one epoch of warm-up.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from nas_gym.error import ConfigError, unknown_name

OPTIMIZERS = ("sgd", "adamw", "adam")

#: What a field left at None becomes, per task kind (``Task.kind``); a regression task takes a classifier's
#: settings (full training refuses it for now). ``clip_grad_norm`` None: no clipping.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "classification": {"epochs": 30, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "weight_decay": 5e-4,
                       "warmup_epochs": 2, "label_smoothing": 0.1, "clip_grad_norm": None},
    "language_model": {"epochs": 8, "batch_size": 32, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.01,
                       "warmup_epochs": 1, "label_smoothing": 0.0, "clip_grad_norm": 1.0},
}
TASK_DEFAULTS["regression"] = TASK_DEFAULTS["classification"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The full-training schedule; every field is in ``model.json``.

    The fields whose default is None take the task's default when training
    starts (:data:`TASK_DEFAULTS`, :meth:`for_task`): shown as
    classifier / language model below.

    Attributes:
        epochs: Passes over the training split (an upper bound with early stopping); 30 / 8.
        batch_size: Examples (windows, for a language model) per step; 64 / 32.
        optimizer: ``"sgd"`` (momentum 0.9, Nesterov), ``"adamw"`` or ``"adam"``; sgd / adamw.
        lr: Peak learning rate, reached after the warm-up; 0.05 / 3e-3.
        weight_decay: Weight decay (decoupled for ``adamw``; L2 otherwise); 5e-4 / 0.01.
        warmup_epochs: Epochs of linear warm-up from ``lr / 10``, then cosine decay; 0 for none; 2 / 1.
        label_smoothing: Cross-entropy label smoothing in [0, 1); 0.1 / 0.
        clip_grad_norm: Largest norm of all gradients together before a step (larger ones are scaled down);
            0 for no clipping; none / 1.0. ``model.json`` leaves it out where it resolved to None.
        augment: Random translations by up to ``1/8`` of each side (at least a
            pixel) on image tasks; signals (1-D) are never augmented.
        patience: Stop after this many epochs without a better validation
            accuracy; None trains every epoch.
        seed: Seeds initialisation (by the caller that builds the model), shuffling and augmentation.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (:mod:`nas_gym.utils.device`).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (mixed precision on a GPU).
        num_threads: torch intra-op threads while training; None leaves torch's setting.
    """

    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float | None = None
    warmup_epochs: int | None = None
    label_smoothing: float | None = None
    clip_grad_norm: float | None = None
    augment: bool = True
    patience: int | None = 10
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        def need(name: str, ok: bool, rule: str) -> None:
            if not ok:
                raise ConfigError(f"TrainConfig: {name} must be {rule}, got {getattr(self, name)!r}.")

        def number(value: Any) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        # None: the task's default (for_task), checked here once it is resolved.
        need("epochs", self.epochs is None or (isinstance(self.epochs, int) and self.epochs >= 1),
             "None or an integer >= 1")
        need("batch_size", self.batch_size is None or (isinstance(self.batch_size, int) and self.batch_size >= 2),
             "None or an integer >= 2")
        need("lr", self.lr is None or (number(self.lr) and 0 < self.lr < math.inf), "None or a finite number > 0")
        need("weight_decay", self.weight_decay is None or (number(self.weight_decay) and 0 <= self.weight_decay
                                                             < math.inf), "None or a finite number >= 0")
        need("warmup_epochs", self.warmup_epochs is None
             or (isinstance(self.warmup_epochs, int) and self.warmup_epochs >= 0), "None or an integer >= 0")
        need("label_smoothing", self.label_smoothing is None
             or (number(self.label_smoothing) and 0 <= self.label_smoothing < 1), "None or a number in [0, 1)")
        need("clip_grad_norm", self.clip_grad_norm is None
             or (number(self.clip_grad_norm) and 0 <= self.clip_grad_norm < math.inf),
             "None (the task's default) or a finite number >= 0 (0: no clipping)")
        need("patience", self.patience is None or (isinstance(self.patience, int) and self.patience >= 1),
             "None or an integer >= 1")
        need("seed", isinstance(self.seed, int), "an integer")
        need("num_threads", self.num_threads is None or (isinstance(self.num_threads, int) and self.num_threads >= 1),
             "None or an integer >= 1")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, OPTIMIZERS)
        from nas_gym.utils.device import check_precision, resolve_device  # torch: only when a config is made

        check_precision(self.precision, resolve_device(self.device))

    def for_task(self, kind: str) -> TrainConfig:
        """These settings with every field left at None set to the default of a task of ``kind``.

        Resolving twice gives the same settings (a resolved ``clip_grad_norm`` of None stays "no clipping").

        Args:
            kind: The task's kind (``Task.kind``): ``"classification"``, ``"regression"`` or ``"language_model"``.

        Raises:
            ConfigError: An unknown kind.
        """
        if kind not in TASK_DEFAULTS:
            raise unknown_name("task kind", kind, tuple(TASK_DEFAULTS))
        given = {k: v for k, v in TASK_DEFAULTS[kind].items() if getattr(self, k) is None}
        return dataclasses.replace(self, **given) if given else self

    @property
    def clips(self) -> bool:
        """Whether training clips the gradient norm (a resolved ``clip_grad_norm`` above 0)."""
        return bool(self.clip_grad_norm)

    def to_json(self) -> dict[str, Any]:
        """The settings as plain data.

        ``clip_grad_norm`` is left out where it is None, so the settings of a
        classifier read as they did before the field existed (a finished model
        folder is still recognised as the same training).
        """
        data = dataclasses.asdict(self)
        if data["clip_grad_norm"] is None:
            del data["clip_grad_norm"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        """Settings read back from :meth:`to_json`; unknown keys are a ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"TrainConfig: unknown settings {unknown}; known: {sorted(known)}.")
        return cls(**data)
