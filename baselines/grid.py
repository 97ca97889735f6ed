"""Grid search: evaluate every architecture of a (small) space, one after another."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from nas_gym.error import ConfigError
from nas_gym.search import Searcher, SearchRun
from nas_gym.spaces import Architecture, SearchSpace

logger = logging.getLogger(__name__)

#: Orders in which :class:`GridSearch` visits the architectures.
ORDERS = ("natural", "shuffled")


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

    Args:
        order: ``"natural"`` or ``"shuffled"``.
        canonical_only: Evaluate canonical representatives only.
        max_size: Largest space (in architectures, before canonical
            deduplication) that grid search accepts.

    Raises:
        ConfigError: For an unknown order or a non-positive ``max_size``.
    """

    name = "grid"

    def __init__(self, order: str = "natural", canonical_only: bool = True, max_size: int = 100_000):
        if order not in ORDERS:
            raise ConfigError(f"Grid order must be one of {', '.join(map(repr, ORDERS))}, got {order!r}.")
        if not isinstance(canonical_only, bool):
            raise ConfigError(f"Grid canonical_only must be true or false, got {canonical_only!r}.")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ConfigError(f"Grid max_size must be a positive integer, got {max_size!r}.")
        self.order = order
        self.canonical_only = canonical_only
        self.max_size = max_size

    def check_size(self, space: SearchSpace) -> int:
        """Size of ``space``, counted without enumerating it.

        Raises:
            ConfigError: If the space has more than ``max_size`` architectures;
                the message names both numbers and the ways out.
        """
        size = int(space.size())
        if size > self.max_size:
            raise ConfigError(
                f"Grid search enumerates every architecture, but this {space.name!r} space has {size:,} "
                f"(limit max_size={self.max_size:,}). Raise max_size (e.g. --agent-kwargs "
                f"'{{\"max_size\": {size}}}') if you mean to, or use a sampling method such as "
                "'random', 'evolution' or 'tpe'."
            )
        return size

    def candidates(self, run: SearchRun) -> Iterator[Architecture]:
        """Yield the architectures to evaluate, in visiting order."""
        space = run.space
        archs: Iterator[Architecture] = space.enumerate()
        if self.canonical_only:
            archs = (a for a in archs if space.canonical(a) == a)
        if self.order == "shuffled":
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
