"""Search spaces: decisions, architectures, and the spaces nas_gym ships.

- ``layers`` (:class:`LayersSpace`): a skeleton of layer slots, each choosing
  op, width, kernel, activation and more; the default space of ``NAS-v0``.
- ``nb201`` (:class:`NB201Space`): the NAS-Bench-201 cell, with the
  benchmark's arch strings.
- ``mlp`` (:class:`MLPSpace`): fully connected networks (width, activation,
  norm and dropout per layer slot) for any input, the one space that builds
  for the tabular tasks' feature vectors.
- ``rnn_layers`` (:class:`RNNLayersSpace`): stacks of RNN, LSTM and GRU
  layers (hidden size, direction, dropout and skip per slot) and a pooling
  head, for sequence tasks.
- ``rnn_cell`` (:class:`RNNCellSpace`): the ENAS / DARTS recurrent cell, each
  node choosing its input node and activation, for sequence tasks.
- ``transformer`` (:class:`TransformerSpace`): decoder-only language models,
  a depth and a width, and per layer its attention heads (or none),
  feed-forward ratio and activation, for the language-modelling tasks.

Use :func:`make_space` to build one by name from plain-data arguments; a new space
is a :class:`SearchSpace` subclass and one ``SPACES.register`` line.

Each space draws itself (``space.draw(decisions)``, the env's ``rgb_array``
frames) with the kit of :mod:`nas_gym.spaces.drawing`;
:func:`draw_architecture` is ``space.draw`` as a function.
"""

from __future__ import annotations

from typing import Any

from nas_gym.registry import Registry
from nas_gym.spaces.base import Architecture, Decision, SearchSpace
from nas_gym.spaces.drawing import draw_architecture
from nas_gym.spaces.layers import LayersSpace
from nas_gym.spaces.mlp import MLPSpace
from nas_gym.spaces.nb201 import NB201Space
from nas_gym.spaces.rnn_cell import RNNCellSpace
from nas_gym.spaces.rnn_layers import RNNLayersSpace
from nas_gym.spaces.transformer import TransformerSpace

#: Search spaces by name; a space's user arguments are its constructor's.
SPACES: Registry[SearchSpace] = Registry("space", group="nas_gym.spaces")
SPACES.register("layers", LayersSpace)
SPACES.register("nb201", NB201Space)
SPACES.register("mlp", MLPSpace)
SPACES.register("rnn_layers", RNNLayersSpace)
SPACES.register("rnn_cell", RNNCellSpace)
SPACES.register("transformer", TransformerSpace)

__all__ = [
    "SPACES",
    "Architecture",
    "Decision",
    "LayersSpace",
    "MLPSpace",
    "NB201Space",
    "RNNCellSpace",
    "RNNLayersSpace",
    "SearchSpace",
    "TransformerSpace",
    "draw_architecture",
    "make_space",
]


def make_space(name: str, **kwargs: Any) -> SearchSpace:
    """Build a search space by registry name.

    Args:
        name: A name in :data:`SPACES` (``layers``, ``nb201``, ``mlp``, ``rnn_cell``, ``rnn_layers`` or
            ``transformer``).
        **kwargs: Constructor arguments of that space (plain data).

    Returns:
        The configured space.

    Raises:
        ConfigError: For an unknown space name, an unknown argument (the
            message lists the valid ones) or a bad argument value.
    """
    return SPACES.make(name, kwargs, what=f"Space {name!r}")
