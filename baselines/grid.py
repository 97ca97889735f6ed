"""Grid search: evaluate every architecture of a (small) space, one after another."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator

from nas_gym.error import ConfigError
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings
from nas_gym.spaces import Architecture, SearchSpace
from nas_gym.utils.hparams import boolean, one_of, positive_int, setting

logger = logging.getLogger(__name__)

#: Orders in which :class:`GridSearch` visits the architectures.
ORDERS = ("natural", "shuffled")


@dataclasses.dataclass(frozen=True)
class GridSettings(SearcherSettings):
    """Hyperparameters of :class:`GridSearch`."""

    owner = "Grid"

    order: str = setting("natural", one_of(*ORDERS))
    """``"natural"`` (the space's index order) or ``"shuffled"`` (a random permutation)."""
    canonical_only: bool = setting(True, boolean)
    """Evaluate canonical representatives only."""
    max_size: int = setting(100_000, positive_int, expected="a positive integer")
    """Largest space (in architectures, before canonical deduplication) that grid search accepts."""


class GridSearch(Searcher):
    """Exhaustive enumeration of ``space.enumerate()`` until the budget or the space runs out.

    Order ``"natural"`` (default) is the space's own depth-first index order,
    the same on every seed; with a budget smaller than the space it therefore
    explores one corner of it (the first decisions fixed at their first
    choices). ``"shuffled"`` visits the architectures in a random permutation
    drawn from ``run.rng``, which makes a truncated grid a random search
    without repeats. Shuffling holds the whole list in memory, bounded by
    ``max_size``.

    With ``canonical_only`` (default) only canonical representatives are
    evaluated (``space.canonical(arch) == arch``), so each equivalence class
    counts once: NB201's 15,625 cells give its 6,466 isomorphism classes.

    The space's size comes from ``space.size()`` before anything is
    enumerated; spaces with more than ``max_size`` architectures are refused.

    The hyperparameters are the fields of :class:`GridSettings`, given as
    keyword arguments.

    Raises:
        ConfigError: For an unknown hyperparameter or order, or a non-positive ``max_size``.
    """

    name = "grid"
    Settings = GridSettings

    settings: GridSettings

    def check_size(self, space: SearchSpace) -> int:
        """Size of ``space``, counted without enumerating it.

        Raises:
            ConfigError: If the space has more than ``max_size`` architectures;
                the message names both numbers and the ways out.
        """
        size = int(space.size())
        if size > self.settings.max_size:
            raise ConfigError(
                f"Grid search enumerates every architecture, but this {space.name!r} space has {size:,} "
                f"(limit max_size={self.settings.max_size:,}). Raise max_size (e.g. --agent-kwargs "
                f"'{{\"max_size\": {size}}}') if you mean to, or use a sampling method such as "
                "'random', 'evolution' or 'tpe'."
            )
        return size

    def candidates(self, run: SearchRun) -> Iterator[Architecture]:
        """Yield the architectures to evaluate, in visiting order."""
        space = run.space
        archs: Iterator[Architecture] = space.enumerate()
        if self.settings.canonical_only:
            archs = (a for a in archs if space.canonical(a) == a)
        if self.settings.order == "shuffled":
            listed = list(archs)
            yield from (listed[int(i)] for i in run.rng.permutation(len(listed)))
        else:
            yield from archs

    def search(self, run: SearchRun) -> None:
        """Evaluate architectures in order until ``run.done`` or the space is exhausted."""
        size = self.check_size(run.space)
        candidates = self.candidates(run)
        for _ in run.evaluate_stream(candidates):  # workers kept busy, recorded in visiting order
            pass
        if not run.done:
            logger.info("Grid search covered the whole space (%d of %d architectures evaluated).",
                        run.num_evaluated, size)
