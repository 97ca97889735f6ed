"""What the slot spaces share: ``num_layers`` slots of fields, the first of which can leave a slot empty.

``mlp`` and ``rnn_layers`` are both a stack of slots, each a group of
decisions (one per field with two or more choices), where choice 0 of the
first field is the empty slot and the other fields of an empty slot may take
only their first choice; ``rnn_layers`` adds a tail of decisions after the
slots (its head). Laying out the decisions, reading a slot's values, the
masks, the canonical form (empty slots last), the size and the parsing of a
slot's text are the same for both and live here; what a field's token looks
like and how a slot builds are each space's own.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError
from nas_gym.spaces import drawing
from nas_gym.spaces.base import Architecture, Decision, SearchSpace

#: The first field's choice for an empty slot, and the whole string form of one.
EMPTY = "none"


def check_num_layers(num_layers: Any) -> int:
    """``num_layers`` as an int.

    Raises:
        ConfigError: Not an integer >= 1.
    """
    if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
        raise ConfigError(f"num_layers must be an integer >= 1, got {num_layers!r}.")
    return int(num_layers)


class SlotReader(SearchSpace):
    """Reading a slot's field values from an index tuple: what every slot space shares, ``layers`` included.

    A subclass sets ``FIELDS`` and calls :meth:`_index_fields` with each
    field's choices when it lays out its decisions.
    """

    FIELDS: tuple[str, ...] = ()
    # Decisions before the first slot's (the transformer space's depth and width); 0 where the slots come first.
    _slot_offset: int = 0
    # Choices of the first field that draw() colours as convolutions and as pooling: layers' ops.
    _CONV_CHOICES: tuple[str, ...] = ()
    _POOL_CHOICES: tuple[str, ...] = ()

    def _index_fields(self, values: dict[str, tuple[Any, ...]]) -> None:
        """Record each field's choices, which fields are decisions, where they sit in a slot, and their masks."""
        self._values = values
        # A field with one choice is fixed and no decision.
        self._fields = tuple(f for f in self.FIELDS if len(values[f]) >= 2)
        self._per_slot = len(self._fields)
        self._field_pos = {f: k for k, f in enumerate(self._fields)}
        # The two masks a field can have, made once and read-only: valid_choices runs on every env step.
        self._all_valid: dict[str, np.ndarray] = {}
        self._first_valid: dict[str, np.ndarray] = {}
        for f in self._fields:
            self._all_valid[f] = np.ones(len(values[f]), dtype=bool)
            self._first_valid[f] = np.arange(len(values[f])) == 0
            self._all_valid[f].flags.writeable = self._first_valid[f].flags.writeable = False

    def _value(self, indices: Sequence[int], slot: int, field: str) -> Any:
        """Value of ``field`` in ``slot``; fixed fields have their one value."""
        pos = self._field_pos.get(field)
        if pos is None:
            return self._values[field][0]
        return self._values[field][indices[self._slot_offset + slot * self._per_slot + pos]]

    def slot_values(self, arch: Architecture | Sequence[int], slot: int) -> dict[str, Any]:
        """Every field of one slot as values; fields the slot does not use hold their first choice."""
        idx = arch.indices if isinstance(arch, Architecture) else tuple(arch)
        return {f: self._value(idx, slot, f) for f in self.FIELDS}

    def draw(
        self,
        decisions: Sequence[int],
        highlight: int | None = None,
        title: str | None = None,
        size: tuple[int, int] = (640, 400),
    ) -> np.ndarray:
        """Draw the stack of layer slots from the input to the head, empty slots ghosted, residuals as arcs.

        Arguments, result and errors as :meth:`SearchSpace.draw`. A subclass
        whose decisions are not named ``layer<i>/<field>`` slot by slot (then
        any after the slots) gets the base's table.
        """
        if drawing.slot_layout(self) is None:
            return super().draw(decisions, highlight=highlight, title=title, size=size)
        picture = functools.partial(drawing.stack_picture, conv_ops=self._CONV_CHOICES, pool_ops=self._POOL_CHOICES)
        return drawing.draw_frame(self, decisions, picture, highlight=highlight, title=title, size=size)


class SlotSpace(SlotReader):
    """A stack of ``num_layers`` slots with the fields ``FIELDS``, then an optional tail of decisions.

    Subclasses set ``FIELDS`` (field order: the slot's decisions and string
    tokens; ``FIELDS[0]``'s choice 0 is the empty slot, and it always has two
    or more choices) and ``FIELD_HELP`` (the slot format, for messages), call
    :meth:`_lay_out` from ``__init__`` and define :meth:`_choice_index` (a
    token to a choice index) and :meth:`_token` (a value to its token).
    """

    FIELD_HELP: str = ""

    def _lay_out(self, num_layers: int, values: dict[str, tuple[Any, ...]], names: dict[str, tuple[str, ...]],
                 tail: tuple[Decision, ...] = ()) -> None:
        """Set up the slots' decisions from each field's ``values`` and ``names``, then ``tail``'s."""
        self.num_layers = num_layers
        self._names = names
        self._index_fields(values)  # the first field always has two or more choices, so it is a decision
        self._slot_decisions = num_layers * self._per_slot
        self._tail_valid: list[np.ndarray] = []
        for d in tail:
            mask = np.ones(d.n, dtype=bool)
            mask.flags.writeable = False
            self._tail_valid.append(mask)
        slots = tuple(Decision(f"layer{i}/{f}", names[f]) for i in range(num_layers) for f in self._fields)
        self.decisions = (*slots, *tail)

    def is_empty(self, arch: Architecture | Sequence[int], slot: int) -> bool:
        """Whether ``slot`` holds no layer (its first field at choice 0)."""
        idx = arch.indices if isinstance(arch, Architecture) else tuple(arch)
        return idx[slot * self._per_slot] == 0

    # -- masks ----------------------------------------------------------------------
    def valid_choices(self, prefix: Sequence[int]) -> np.ndarray:
        """Boolean mask over the choices of decision ``len(prefix)`` (read-only).

        The fields of an empty slot may take only their first choice; the rest is unmasked.
        """
        k = len(prefix)
        if k >= self._slot_decisions:
            return self._tail_valid[k - self._slot_decisions]
        slot, pos = divmod(k, self._per_slot)
        field = self._fields[pos]
        if pos == 0 or prefix[slot * self._per_slot] != 0:
            return self._all_valid[field]
        return self._first_valid[field]

    # -- equivalence and size --------------------------------------------------------
    def canonical(self, arch: Architecture) -> Architecture:
        """Move empty slots to the end, keeping the order of the others and the tail.

        An empty slot computes nothing and a layer's input is the previous
        layer's output whatever lies between, so only the order of the
        non-empty slots matters. Empty slots come out with every field at its
        first choice, as their masks require.
        """
        p = self._per_slot
        blocks = [arch.indices[s * p : (s + 1) * p] for s in range(self.num_layers)]
        full = [b for b in blocks if b[0] != 0]
        empty = [(0,) * p] * (self.num_layers - len(full))
        tail = arch.indices[self._slot_decisions :]
        return Architecture(self, (*(i for b in (*full, *empty) for i in b), *tail))

    def size(self) -> int:
        """Count the valid architectures in closed form.

        That is ``(1 + the product of the fields' choices, less the empty one) ** num_layers``
        times the product of the tail's choices.
        """
        first, *rest = self.FIELDS
        per_slot = (len(self._values[first]) - 1) * math.prod(len(self._values[f]) for f in rest)
        return (1 + per_slot) ** self.num_layers * math.prod(d.n for d in self.decisions[self._slot_decisions :])

    # -- strings --------------------------------------------------------------------
    def _token(self, field: str, value: Any) -> str:
        """The string token of ``value`` in ``field``."""
        raise NotImplementedError

    def _choice_index(self, field: str, tok: str, where: str) -> int:
        """Index of token ``tok`` among ``field``'s choices (``where`` starts the error message).

        Raises:
            ArchitectureError: ``tok`` is not a choice of ``field``.
        """
        raise NotImplementedError

    def _slot_strings(self, arch: Architecture) -> list[str]:
        """Each slot's text: ``none``, or its fields' tokens joined by ``-`` in ``FIELDS`` order."""
        out = []
        for s in range(self.num_layers):
            if self.is_empty(arch, s):
                out.append(EMPTY)
            else:
                v = self.slot_values(arch, s)
                out.append("-".join(self._token(f, v[f]) for f in self.FIELDS))
        return out

    def _parse_slot(self, part: str, slot: int) -> list[int]:
        """The decisions' choice indices of one slot's text.

        Raises:
            ArchitectureError: Naming the slot and the bad token.
        """
        where = f"Slot {slot} {part!r}"
        if part == EMPTY:
            return [0] * self._per_slot
        tokens = part.split("-")
        if tokens[0] == EMPTY:
            raise ArchitectureError(f"{where}: an empty slot takes no other fields; write just 'none'.")
        if len(tokens) != len(self.FIELDS):
            raise ArchitectureError(
                f"{where}: expected 'none' or {len(self.FIELDS)} tokens {self.FIELD_HELP}; got {len(tokens)} token(s)."
            )
        chosen = {f: self._choice_index(f, tok, where) for f, tok in zip(self.FIELDS, tokens, strict=True)}
        return [chosen[f] for f in self._fields]
