"""Search spaces: decisions, architectures, and the spaces nas_gym ships.

- ``layers`` (:class:`LayersSpace`): a skeleton of layer slots, each choosing
  op, width, kernel, activation and more; the default space of ``NAS-v0``.
- ``nb201`` (:class:`NB201Space`): the NAS-Bench-201 cell, with the
  benchmark's arch strings.

Use :func:`make_space` to build one by name from plain-data arguments.
"""

from __future__ import annotations

import inspect
from typing import Any

from nas_gym.error import ConfigError, did_you_mean, unknown_name
from nas_gym.spaces.base import Architecture, Decision, SearchSpace
from nas_gym.spaces.layers import LayersSpace
from nas_gym.spaces.nb201 import NB201Space

SPACES: dict[str, type[SearchSpace]] = {"layers": LayersSpace, "nb201": NB201Space}

__all__ = ["SPACES", "Architecture", "Decision", "LayersSpace", "NB201Space", "SearchSpace", "make_space"]


def make_space(name: str, **kwargs: Any) -> SearchSpace:
    """Build a search space by registry name.

    Args:
        name: A key of :data:`SPACES` (``layers`` or ``nb201``).
        **kwargs: Constructor arguments of that space (plain data).

    Returns:
        The configured space.

    Raises:
        ConfigError: For an unknown space name, an unknown argument (the
            message lists the valid ones) or a bad argument value.
    """
    if name not in SPACES:
        raise unknown_name("space", name, SPACES)
    cls = SPACES[name]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for arg in kwargs:
        if arg not in params:
            raise ConfigError(
                f"Space {name!r} has no argument {arg!r}.{did_you_mean(arg, params)} "
                f"Valid arguments: {', '.join(params)}."
            )
    return cls(**kwargs)
