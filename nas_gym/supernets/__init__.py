"""Supernets: one network holding every candidate operation of a space (DARTS's relaxation, weight sharing).

:func:`make_supernet` builds the supernet of a space; each space's supernet is a module of this package
(:mod:`~nas_gym.supernets.nb201`, :mod:`~nas_gym.supernets.layers`, :mod:`~nas_gym.supernets.rnn_cell`,
:mod:`~nas_gym.supernets.transformer`),
beside their base class :class:`~nas_gym.supernets.base.Supernet`.
"""

from __future__ import annotations

import torch

from nas_gym.error import ConfigError
from nas_gym.spaces.base import SearchSpace
from nas_gym.supernets.base import ALPHA_INIT_STD, OpLatencies, Supernet
from nas_gym.supernets.layers import LayersSupernet
from nas_gym.supernets.nb201 import NB201Supernet
from nas_gym.supernets.rnn_cell import RNNCellSupernet
from nas_gym.supernets.transformer import TransformerSupernet
from nas_gym.tasks.base import Task

__all__ = [
    "ALPHA_INIT_STD", "SUPERNET_SPACES", "LayersSupernet", "NB201Supernet", "OpLatencies", "RNNCellSupernet",
    "Supernet", "TransformerSupernet", "check_single_path", "make_supernet",
]

#: The spaces that have a supernet, as error messages name them.
SUPERNET_SPACES = "'nb201', 'layers', 'rnn_cell' and 'transformer'"


def check_single_path(space: SearchSpace) -> None:
    """Refuse a space whose architectures cannot all run as single paths of its supernet.

    Raises:
        ConfigError: Not ``nb201``, ``layers``, ``rnn_cell`` or ``transformer``; or a ``layers`` space with several
            norms or attentions (building the ``layers`` supernet also needs stride 1 among the strides).
    """
    if space.name in ("nb201", "rnn_cell", "transformer"):
        return
    if space.name != "layers":
        raise ConfigError(f"Supernets exist for the {SUPERNET_SPACES} spaces, got space {space.name!r}.")
    cfg = space.config()
    for field in ("norms", "attentions"):
        if len(cfg[field]) > 1:
            raise ConfigError(
                f"A supernet shares one {field[:-1]} per slot, but this layers space offers {field}={cfg[field]}: "
                f"give it one {field[:-1]} (e.g. {field}=[{cfg[field][0]!r}])."
            )


def make_supernet(
    space: SearchSpace, task: Task, generator: torch.Generator, *, filters: int | None = None,
    exclude_none: bool = True, cell_output: str = "loose_ends", mixed: bool = False, width: int | None = None,
    depth: int | None = None,
) -> Supernet:
    """Build the supernet of ``space`` for ``task``.

    ``filters`` applies to ``layers``, ``exclude_none`` to ``nb201`` and
    ``cell_output`` to ``rnn_cell`` (:class:`nas_gym.supernets.rnn_cell.RNNCellSupernet`); the
    ``transformer`` supernet (:class:`nas_gym.supernets.transformer.TransformerSupernet`) runs single paths
    unless ``mixed`` (DARTS) asks for its relaxation at a fixed ``width`` and ``depth`` (its ``relax``, which
    draws the alphas from ``generator`` after the weights). The other spaces' supernets run both ways.

    Raises:
        ConfigError: For a space without a supernet; on ``transformer``, a ``width`` or ``depth`` that is not
            the space's.
    """
    if space.name == "nb201":
        return NB201Supernet(space, task, generator, exclude_none=exclude_none)
    if space.name == "layers":
        return LayersSupernet(space, task, generator, filters=filters)
    if space.name == "rnn_cell":
        return RNNCellSupernet(space, task, generator, output=cell_output)
    if space.name == "transformer":
        net = TransformerSupernet(space, task, generator)
        return net.relax(generator, width=width, depth=depth) if mixed else net
    raise ConfigError(f"Supernets exist for the {SUPERNET_SPACES} spaces, got space {space.name!r}.")
