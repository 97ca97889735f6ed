"""The full-training schedule of a found architecture, as plain data (no torch import until one is made).

:class:`TrainConfig` is what ``nas-gym train`` and ``nas-gym scale`` train
with (:func:`nas_gym.model.training.fit`) and what ``model.json`` records.
It lives apart from the training loop so that the CLI can declare its
options without importing torch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from nas_gym.error import ConfigError, unknown_name

OPTIMIZERS = ("sgd", "adamw", "adam")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The full-training schedule; every field is in ``model.json``.

    Attributes:
        epochs: Passes over the training split (an upper bound with early stopping).
        batch_size: Examples per step.
        optimizer: ``"sgd"`` (momentum 0.9, Nesterov), ``"adamw"`` or ``"adam"``.
        lr: Peak learning rate, reached after the warm-up.
        weight_decay: Weight decay (decoupled for ``adamw``; L2 otherwise).
        warmup_epochs: Epochs of linear warm-up from ``lr / 10``; 0 for none.
        label_smoothing: Cross-entropy label smoothing in [0, 1).
        augment: Random translations by up to ``1/8`` of each side (at least a
            pixel) on image tasks; signals (1-D) are never augmented.
        patience: Stop after this many epochs without a better validation
            accuracy; None trains every epoch.
        seed: Seeds initialisation (by the caller that builds the model), shuffling and augmentation.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (:mod:`nas_gym.utils.device`).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (mixed precision on a GPU).
        num_threads: torch intra-op threads while training; None leaves torch's setting.
    """

    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    weight_decay: float = 5e-4
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
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

        need("epochs", isinstance(self.epochs, int) and self.epochs >= 1, "an integer >= 1")
        need("batch_size", isinstance(self.batch_size, int) and self.batch_size >= 2, "an integer >= 2")
        need("lr", isinstance(self.lr, (int, float)) and 0 < self.lr < math.inf, "a finite number > 0")
        need("weight_decay", isinstance(self.weight_decay, (int, float)) and 0 <= self.weight_decay < math.inf,
             "a finite number >= 0")
        need("warmup_epochs", isinstance(self.warmup_epochs, int) and self.warmup_epochs >= 0, "an integer >= 0")
        need("label_smoothing", isinstance(self.label_smoothing, (int, float)) and 0 <= self.label_smoothing < 1,
             "a number in [0, 1)")
        need("patience", self.patience is None or (isinstance(self.patience, int) and self.patience >= 1),
             "None or an integer >= 1")
        need("seed", isinstance(self.seed, int), "an integer")
        need("num_threads", self.num_threads is None or (isinstance(self.num_threads, int) and self.num_threads >= 1),
             "None or an integer >= 1")
        if self.optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, OPTIMIZERS)
        from nas_gym.utils.device import check_precision, resolve_device  # torch: only when a config is made

        check_precision(self.precision, resolve_device(self.device))

    def to_json(self) -> dict[str, Any]:
        """The settings as plain data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        """Settings read back from :meth:`to_json`; unknown keys are a ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"TrainConfig: unknown settings {unknown}; known: {sorted(known)}.")
        return cls(**data)
