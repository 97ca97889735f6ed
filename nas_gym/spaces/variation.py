"""Variation operators shared by the evolutionary methods: crossover of two parents, repaired to the masks.

Mutation by one decision is the space's own (:meth:`nas_gym.spaces.SearchSpace.mutate`);
crossover needs two parents, so it lives here, where every method in
``baselines/`` can reach it without importing another method.
"""

from __future__ import annotations

import numpy as np

from nas_gym.error import ConfigError
from nas_gym.spaces import Architecture, SearchSpace

#: The crossover kinds :func:`crossover` knows.
CROSSOVER_KINDS = ("uniform", "single_point")


def crossover(space: SearchSpace, a: Architecture, b: Architecture, rng: np.random.Generator,
              kind: str = "uniform") -> Architecture:
    """A child of parents ``a`` and ``b``, repaired to the space's masks.

    Args:
        space: The search space of both parents.
        a: First parent (its decisions come first in single-point crossover).
        b: Second parent.
        rng: Source of the cut point or the coin flips.
        kind: ``"uniform"``: each decision from ``a`` or ``b`` with probability
            1/2; ``"single_point"``: ``a``'s decisions before a cut drawn
            uniformly in ``1..n-1`` and ``b``'s from the cut on.

    Returns:
        The child. Where a combined decision is masked given the ones before
        it, ``space.repair`` sets it to its first valid choice, so it may come
        from neither parent.

    Raises:
        ConfigError: ``kind`` is neither.
    """
    n = space.num_decisions
    if kind == "uniform":
        from_a = rng.random(n) < 0.5
    elif kind == "single_point":
        from_a = np.arange(n) < (int(rng.integers(1, n)) if n > 1 else n)
    else:
        raise ConfigError(f"crossover kind must be 'uniform' or 'single_point', got {kind!r}.")
    return Architecture(space, space.repair(np.where(from_a, a.indices, b.indices).tolist()))
