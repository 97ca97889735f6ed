"""``RecordEpisodes``: the wrapper around ``run.env`` that reports the episodes RL methods complete.

Methods that propose whole architectures go through
:meth:`nas_gym.search.run.SearchRun.evaluate`; RL methods step ``run.env``
themselves, and this wrapper hands every episode they finish to the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from nas_gym.env.evaluation import Evaluation
from nas_gym.evaluators.metrics import Metrics

__all__ = ["RecordEpisodes"]


class RecordEpisodes(gym.Wrapper):
    """Reports every episode an RL method completes through ``run.env`` to the run.

    While a resumed run replays its history, the last step of an episode that
    builds the recorded architecture is scored by the env from the record.

    Args:
        env: The run's env.
        replayed: ``replayed(actions, epochs)``: the recorded metrics if the
            episode's ``actions`` at fidelity ``epochs`` are the run's next
            recorded evaluation, else None.
        record: Called with the evaluation of every episode that builds an architecture.
    """

    def __init__(
        self,
        env: gym.Env,
        replayed: Callable[[Sequence[Any], int | None], Metrics | None],
        record: Callable[[Evaluation], None],
    ):
        super().__init__(env)
        self._replayed = replayed
        self._record = record
        self._actions: list[Any] = []

    def reset(self, **kwargs):
        """Start an episode (a new architecture)."""
        self._actions = []
        return self.env.reset(**kwargs)

    def step(self, action):
        """Step the env; a resumed run's recorded architecture is scored from its record, not evaluated."""
        self._actions.append(action)
        known = self._replayed(self._actions, self.env.unwrapped.fidelity)
        if known is not None:
            self.env.unwrapped.score_next_from(known, [int(a) for a in self._actions])
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated and "arch" in info:
            self._record(Evaluation.from_info(info))
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """The env's valid actions (for maskable RL methods)."""
        return self.env.unwrapped.action_masks()
