"""``Budget``: how much a search may spend (evaluations, and optionally seconds and epochs trained).

Its own module, light to import: ``nas-gym search`` checks the budget before it starts its workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas_gym.error import ConfigError


@dataclass
class Budget:
    """How much a search may spend.

    Attributes:
        evaluations: Number of architectures to evaluate (≥ 1).
        seconds: Optional wall-clock limit in seconds.
        epochs: Optional limit on epochs trained (envs that train: see
            :attr:`SearchRun.epochs_trained`); the run is done once they reach
            it, so the last evaluation may overrun it by its own epochs.
    """

    evaluations: int
    seconds: float | None = None
    epochs: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.evaluations, (int, np.integer)) or self.evaluations < 1:
            raise ConfigError(f"budget must be an integer ≥ 1 (architectures to evaluate), got {self.evaluations!r}.")
        if self.seconds is not None and not self.seconds > 0:
            raise ConfigError(f"budget seconds must be > 0 or None, got {self.seconds!r}.")
        if self.epochs is not None and (
            isinstance(self.epochs, bool) or not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1
        ):
            raise ConfigError(f"budget epochs must be an integer ≥ 1 (epochs trained) or None, got {self.epochs!r}.")
