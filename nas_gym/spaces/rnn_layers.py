"""The recurrent-layers search space: stacks of RNN, LSTM and GRU layers for sequences.

Each of ``num_layers`` slots is either empty (``none``: no layer) or one
recurrent layer that chooses its cell (``rnn``, ``lstm`` or ``gru``), hidden
size, direction (``uni`` or ``bi``), output dropout and a residual skip; a
head decision pools the last layer's output sequence (its last step or its
mean over time) into a linear output layer. A task's signals ``(C, L)`` are
read as ``L`` steps of ``C`` features (see :mod:`nas_gym.spaces.sequence`),
so the space builds for sequence tasks only (``mnist1d`` and the forecasting
tasks), and refuses images and feature vectors.

As in the ``mlp`` space, the fields of an empty slot are "don't care": they
may only take their first choice, so every network has exactly one index
tuple. The string form reads like
``lstm-32-bi-0.2-skip|none|gru-16-uni-0-noskip|head=mean``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError, did_you_mean
from nas_gym.spaces.base import Architecture, Decision
from nas_gym.spaces.layers import _ints, _names, _nonempty
from nas_gym.spaces.mlp import _dropout_name, _dropouts
from nas_gym.spaces.sequence import check_sequence_task
from nas_gym.spaces.slots import EMPTY, SlotSpace, check_num_layers
from nas_gym.tasks.base import Task
from nas_gym.utils.lazy import moved_names

if TYPE_CHECKING:
    from torch import nn

#: The recurrent cells a slot may hold: ``nn.RNN`` (tanh), ``nn.LSTM`` and ``nn.GRU``.
CELLS = ("rnn", "lstm", "gru")
DIRECTIONS = ("uni", "bi")
#: How the head reads the output sequence: its last step, or its mean over time.
POOLS = ("last", "mean")
# Field order inside a slot: the order of the slot's decisions and of its string tokens.
FIELDS = ("cell", "hidden", "direction", "dropout", "skip")
_FIELD_HELP = "cell-hidden-direction-dropout-skip, e.g. 'lstm-32-bi-0.2-skip'"
_HEAD_DECISION = "head/pool"
# The network's classes lived here until the space was split from its torch modules.
__getattr__ = moved_names(__name__, "nas_gym.networks.rnn_layers", ("RecurrentLayer", "RecurrentNet"))


def _bools(kind: str, given: Sequence[Any]) -> tuple[bool, ...]:
    out = _nonempty(kind, given)
    for v in out:
        if not isinstance(v, (bool, np.bool_)):
            raise ConfigError(f"Each {kind} must be True or False, got {v!r} in {list(out)}.")
    return tuple(bool(v) for v in out)


class RNNLayersSpace(SlotSpace):
    """A stack of ``num_layers`` recurrent layer slots, each a group of decisions, and a head.

    Per slot the decisions are, in this order and only where the field has
    two or more choices: ``cell`` (``none`` or a recurrent cell), ``hidden``
    (units per direction), ``direction`` (``uni``, or ``bi`` for a
    bidirectional layer of output width ``2 * hidden``), ``dropout`` (on the
    layer's output sequence) and ``skip`` (``no``/``yes``: a residual); they
    are named ``layer{i}/{field}``. ``cell`` always has two or more choices
    (``none`` plus ``cells``), so it is always a decision. The last decision
    is ``head/pool`` (``last`` or ``mean``), where ``heads`` has two or more
    choices.

    A layer computes ``y = dropout(cell(x))`` over the whole sequence and,
    with ``skip``, ``y + x`` -- through a bias-free ``Linear`` projection of
    ``x`` where the input and output widths differ. The head takes the
    output sequence's last step (``last``; for a bidirectional layer that is
    the last step of the concatenated features: the forward direction's
    final state next to the backward direction's output at the last step,
    which has seen only that step) or its mean over time (``mean``), then a
    ``Linear`` to ``task.num_outputs``.

    Masks (``valid_choices``): a slot whose cell is ``none`` is no layer, so
    its other fields take only their first choice. Nothing else is masked. A
    network whose slots are all empty is allowed: the head straight on the
    input sequence (its last step or its mean, then a linear layer), a
    baseline any recurrent network should beat.

    Canonical form (:meth:`canonical`): an empty slot computes nothing and a
    layer's input is the previous layer's output whatever lies between, so
    only the order of the non-empty slots matters; the canonical
    architecture has them first, in their order, and the empty slots last.

    Args:
        num_layers: Number of slots (at least 1).
        cells: From ``rnn``, ``lstm``, ``gru``; ``none`` (an empty slot) is
            always a choice too.
        hiddens: Hidden-unit choices per direction (positive integers).
        directions: From ``uni`` and ``bi``.
        dropouts: Dropout probabilities in [0, 1) on a layer's output
            sequence (0 adds no dropout layer).
        skips: From False and True (a residual connection).
        heads: From ``last`` and ``mean``.

    Raises:
        ConfigError: For an unknown name or an impossible value.

    Example:
        >>> space = RNNLayersSpace(num_layers=3)
        >>> arch = space.from_string("none|lstm-32-bi-0.2-skip|gru-16-uni-0-noskip|head=mean")
        >>> str(space.canonical(arch))
        'lstm-32-bi-0.2-skip|gru-16-uni-0-noskip|none|head=mean'
    """

    name = "rnn_layers"
    FIELDS = FIELDS
    FIELD_HELP = _FIELD_HELP

    def __init__(
        self,
        num_layers: int = 3,
        cells: Sequence[str] = CELLS,
        hiddens: Sequence[int] = (16, 32, 64),
        directions: Sequence[str] = DIRECTIONS,
        dropouts: Sequence[float] = (0.0, 0.2),
        skips: Sequence[bool] = (False, True),
        heads: Sequence[str] = POOLS,
    ) -> None:
        """Check the configuration and lay out the decisions."""
        num_layers = check_num_layers(num_layers)
        if not isinstance(cells, (str, bytes)) and isinstance(cells, Sequence) and EMPTY in cells:
            raise ConfigError(
                f"cells must not list {EMPTY!r}: an empty slot is always a choice. Pass some of {', '.join(CELLS)}."
            )
        self.cells = _names("cell", cells, CELLS)
        self.hiddens = _ints("hidden", hiddens, lambda v: v > 0, "a positive integer")
        self.directions = _names("direction", directions, DIRECTIONS)
        self.dropouts = _dropouts(dropouts)
        self.skips = _bools("skip", skips)
        self.heads = _names("head", heads, POOLS)
        values: dict[str, tuple[Any, ...]] = {
            "cell": (EMPTY, *self.cells),
            "hidden": self.hiddens,
            "direction": self.directions,
            "dropout": self.dropouts,
            "skip": self.skips,
        }
        names = {f: tuple(_choice_name(f, v) for v in values[f]) for f in FIELDS}
        self._head_is_decision = len(self.heads) >= 2
        head = (Decision(_HEAD_DECISION, self.heads),) if self._head_is_decision else ()
        self._lay_out(num_layers, values, names, tail=head)

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as plain data."""
        return {
            "num_layers": self.num_layers,
            "cells": list(self.cells),
            "hiddens": list(self.hiddens),
            "directions": list(self.directions),
            "dropouts": list(self.dropouts),
            "skips": list(self.skips),
            "heads": list(self.heads),
        }

    def head_pool(self, arch: Architecture | Sequence[int]) -> str:
        """The head's pooling, ``"last"`` or ``"mean"``."""
        idx = arch.indices if isinstance(arch, Architecture) else tuple(arch)
        return self.heads[idx[self._slot_decisions]] if self._head_is_decision else self.heads[0]

    # -- strings --------------------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        """Slots joined by ``|``, then ``|head={pool}``; see :meth:`from_string` for the format."""
        return "|".join([*self._slot_strings(arch), f"head={self.head_pool(arch)}"])

    def _token(self, field: str, value: Any) -> str:
        return _token(field, value)

    def from_string(self, text: str) -> Architecture:
        """Parse ``lstm-32-bi-0.2-skip|none|gru-16-uni-0-noskip|head=mean``.

        One ``|``-separated part per slot, then the head: a slot is ``none``
        (empty) or the five tokens ``{cell}-{hidden}-{direction}-{dropout}-{skip}``
        in that order (dropout as a number, ``0`` for none; ``skip`` or
        ``noskip``); the head is ``head=last`` or ``head=mean``. Fields with
        one choice in this space are written too, and must be that choice.

        Raises:
            ArchitectureError: Naming the bad slot and token and the valid choices.
        """
        if not isinstance(text, str):
            raise ArchitectureError(f"Expected an architecture string, got {type(text).__name__} {text!r}.")
        parts = [p.strip() for p in text.strip().split("|")]
        if len(parts) != self.num_layers + 1:
            raise ArchitectureError(
                f"Architecture {text!r} has {len(parts)} part(s) separated by '|'; this space has "
                f"{self.num_layers} slot(s) and then the head, e.g. "
                f"{self.to_string(self.sample(np.random.default_rng(0)))!r}."
            )
        indices: list[int] = []
        for s, part in enumerate(parts[:-1]):
            if part.startswith("head="):
                raise ArchitectureError(
                    f"Slot {s} {part!r}: the head comes last, after all {self.num_layers} slot(s)."
                )
            indices += self._parse_slot(part, s)
        pool = self._parse_head(parts[-1])
        if self._head_is_decision:
            indices.append(pool)
        return Architecture(self, tuple(indices))

    def _parse_head(self, part: str) -> int:
        """Index of the head's pooling in ``heads`` from ``head={pool}``."""
        where = f"Head {part!r}"
        if not part.startswith("head="):
            raise ArchitectureError(
                f"{where}: the last part must be the head, 'head=' and one of {', '.join(self.heads)}, "
                f"e.g. 'head={self.heads[0]}'."
            )
        pool = part[len("head=") :]
        if pool not in self.heads:
            raise ArchitectureError(
                f"{where}: pool {pool!r} is not a choice of this space.{did_you_mean(pool, self.heads)} "
                f"Choices: {', '.join(self.heads)}."
            )
        return self.heads.index(pool)

    def _choice_index(self, field: str, tok: str, where: str) -> int:
        """Index of token ``tok`` among ``field``'s choices; numbers compare by value (``0.0`` is ``0``)."""
        offset = int(field == "cell")  # a slot's text never names the empty cell
        values = self._values[field][offset:]
        tokens = tuple(_token(field, v) for v in values)
        value: Any = tok
        try:
            if field == "hidden":
                value = int(tok) if tok.isdigit() else tok
            elif field == "dropout":
                value = float(tok)
            elif field == "skip" and tok in ("skip", "noskip"):
                value = tok == "skip"
        except ValueError:
            pass
        if field in ("hidden", "dropout", "skip"):
            # Compare by type too: True == 1 would otherwise let the token '1' through as a skip.
            found = [k for k, v in enumerate(values) if type(v) is type(value) and v == value]
        else:
            found = [k for k, v in enumerate(values) if v == value]
        if found:
            return found[0] + offset
        hint = did_you_mean(tok, tokens) if field in ("cell", "direction", "skip") else ""
        raise ArchitectureError(
            f"{where}: {field} {tok!r} is not a choice of this space.{hint} Choices: {', '.join(tokens)} "
            f"(a slot is {_FIELD_HELP}, or 'none')."
        )

    # -- networks ---------------------------------------------------------------------
    def check_task(self, task: Task) -> None:
        """Refuse a task whose inputs are not sequences ``(C, L)``: images and feature vectors.

        Raises:
            ConfigError: Naming the task's input shape and the spaces that build for it.
        """
        check_sequence_task(self.name, task)

    def build(self, arch: Architecture, task: Task) -> nn.Module:
        """Build the network: the non-empty slots in order, then the pooling head.

        The input ``(N, C, L)`` is read as ``L`` steps of ``C`` features; a
        slot is one ``nn.RNN`` (tanh), ``nn.LSTM`` or ``nn.GRU`` layer
        (``batch_first``, bidirectional for ``bi``), then ``Dropout(p)``
        (left out for ``p == 0``) and, with ``skip``, the residual. The
        output is ``(N, task.num_outputs)``.

        Raises:
            ConfigError: For a task whose inputs are not sequences (see :meth:`check_task`).
        """
        from nas_gym.networks.rnn_layers import RecurrentLayer, RecurrentNet  # torch, needed only to build

        self.check_task(task)
        features = task.input_shape[0]
        layers = []
        for s in range(self.num_layers):
            v = self.slot_values(arch, s)
            if v["cell"] == EMPTY:
                continue
            layer = RecurrentLayer(features, v["cell"], v["hidden"], v["direction"] == "bi", v["dropout"], v["skip"])
            layers.append(layer)
            features = layer.out_features
        return RecurrentNet(layers, self.head_pool(arch), features, task.num_outputs)


def _choice_name(field: str, value: Any) -> str:
    """Name of one choice as a decision shows it (``skip`` is ``no``/``yes``, as in the layers space)."""
    if field == "skip":
        return "yes" if value else "no"
    if field == "dropout":
        return _dropout_name(value)
    return str(value)


def _token(field: str, value: Any) -> str:
    """Token of one choice in the string form (``skip`` is ``skip``/``noskip``)."""
    if field == "skip":
        return "skip" if value else "noskip"
    return _choice_name(field, value)
