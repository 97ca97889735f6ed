"""Random search: every decision uniform over the env's valid actions."""

from __future__ import annotations

import itertools

import numpy as np

from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher


class RandomSearch(Searcher):
    """Uniform random search over valid actions (the baseline every method must beat).

    The draws do not depend on results, so they stream through
    ``run.evaluate_stream``: with several workers each starts the next draw
    as soon as it is free, and the history is the same with any number of
    workers.
    """

    name = "random"

    def search(self, run: SearchRun) -> None:
        """Sample actions uniformly among those the mask allows, one architecture per episode."""
        draws = (self.sample(run) for _ in itertools.count())  # drawn lazily, one per submission
        for _ in run.evaluate_stream(draws):
            pass

    @staticmethod
    def sample(run: SearchRun) -> tuple[int, ...]:
        """Draw each decision uniformly among the choices valid after the ones before it.

        These are the env's action masks (``space.valid_choices`` of the
        prefix), so the draws are those of stepping ``run.env`` by its masks.
        """
        prefix: list[int] = []
        for _ in range(run.space.num_decisions):
            prefix.append(int(run.rng.choice(np.flatnonzero(run.space.valid_choices(prefix)))))
        return tuple(prefix)
