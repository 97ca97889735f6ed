"""Search-space base classes: decisions, architectures and the space protocol.

A search space is an ordered list of categorical decisions. An
:class:`Architecture` is an immutable tuple of choice indices, one per
decision, bound to its space; ``str(arch)`` is a string form that
``space.from_string`` parses back (the key used by caches and tables).

Spaces may make some choices invalid given earlier ones (``valid_choices``):
the environment exposes this as its action mask. A space's *canonical* form
maps isomorphic or equivalent variants to one representative, so caches and
benchmarks count each network once.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError
from nas_gym.spaces import drawing

if TYPE_CHECKING:
    import torch.nn as nn

    from nas_gym.tasks.base import Task


def check_not_language_model(space: str, task: Task) -> None:
    """Refuse a language-modelling task (windows of token ids) for the space named ``space``, which reads floats.

    Raises:
        ConfigError: Naming the task and the space that builds for it.
    """
    if task.is_language_model:
        raise ConfigError(
            f"Space {space!r} builds networks for float inputs, but task {task.name!r} is language modelling "
            "(windows of token ids). Use space='transformer' for it (the env NAS-LM-v0)."
        )


@dataclass(frozen=True)
class Decision:
    """One categorical decision of a search space.

    Attributes:
        name: Unique name, e.g. ``"layer0/op"`` or ``"edge1<-0"``.
        choices: Names of the choices, in action-index order.
    """

    name: str
    choices: tuple[str, ...]

    @property
    def n(self) -> int:
        """Number of choices."""
        return len(self.choices)


@dataclass(frozen=True)
class Architecture:
    """An immutable architecture: one choice index per decision of ``space``.

    Equality and hashing use the space's ``key`` and the indices, so two
    architectures from differently configured spaces never compare equal.
    """

    space: SearchSpace = field(compare=False, repr=False)
    indices: tuple[int, ...]
    _space_key: str = field(init=False, repr=False, compare=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", tuple(int(i) for i in self.indices))
        object.__setattr__(self, "_space_key", self.space.key)

    def __str__(self) -> str:
        return self.space.to_string(self)

    def __repr__(self) -> str:
        return f"Architecture({self.space.name}, {str(self)!r})"

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __getitem__(self, i: int) -> int:
        return self.indices[i]

    def choice_names(self) -> dict[str, str]:
        """Map decision name to chosen option name."""
        return {d.name: d.choices[i] for d, i in zip(self.space.decisions, self.indices, strict=True)}


class SearchSpace(abc.ABC):
    """An ordered list of categorical decisions that together define a network.

    Subclasses set ``name`` and ``decisions`` and implement ``to_string``,
    ``from_string`` and ``build``; they may override ``valid_choices``
    (masking), ``canonical`` (equivalent variants) and ``draw`` (their picture).
    """

    name: str = "base"
    decisions: tuple[Decision, ...] = ()

    # -- identity ---------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Plain-data configuration that reproduces this space."""
        return {}

    @property
    def key(self) -> str:
        """Stable identity: space name plus a digest of its configuration.

        Computed once (a space's configuration never changes after it is
        built): every ``Architecture`` reads it, so it is on the env's hot path.
        """
        key = self.__dict__.get("_key")
        if key is None:
            cfg = json.dumps(self.config(), sort_keys=True, default=str)
            key = self.__dict__["_key"] = f"{self.name}:{hashlib.sha1(cfg.encode()).hexdigest()[:10]}"
        return key

    @property
    def num_decisions(self) -> int:
        """Number of decisions (the episode length of the env)."""
        return len(self.decisions)

    @property
    def nvec(self) -> np.ndarray:
        """Number of choices per decision, as for ``gymnasium.spaces.MultiDiscrete``."""
        return np.array([d.n for d in self.decisions], dtype=np.int64)

    @property
    def max_choices(self) -> int:
        """Largest number of choices over all decisions (the env's action count)."""
        return int(self.nvec.max())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config()})"

    # -- validity ---------------------------------------------------------
    def valid_choices(self, prefix: Sequence[int]) -> np.ndarray:
        """Boolean mask over the choices of decision ``len(prefix)``.

        Args:
            prefix: Choice indices already made, in decision order.

        Returns:
            Array of length ``decisions[len(prefix)].n``; True where allowed.
        """
        return np.ones(self.decisions[len(prefix)].n, dtype=bool)

    def validate(self, indices: Sequence[int]) -> tuple[int, ...]:
        """Check ``indices`` against the space and its masks.

        Raises:
            ArchitectureError: With the offending decision named.
        """
        indices = tuple(int(i) for i in indices)
        if len(indices) != self.num_decisions:
            raise ArchitectureError(
                f"Space {self.name!r} expects {self.num_decisions} decisions, got {len(indices)}."
            )
        for k, (d, i) in enumerate(zip(self.decisions, indices, strict=True)):
            if not 0 <= i < d.n:
                raise ArchitectureError(
                    f"Decision {k} ({d.name!r}) takes 0..{d.n - 1} ({', '.join(d.choices)}), got {i}."
                )
            if not self.valid_choices(indices[:k])[i]:
                raise ArchitectureError(
                    f"Choice {d.choices[i]!r} is not allowed for decision {k} ({d.name!r}) "
                    f"after {list(indices[:k])}."
                )
        return indices

    def arch(self, indices: Sequence[int]) -> Architecture:
        """Make a validated :class:`Architecture` from choice indices."""
        return Architecture(self, self.validate(indices))

    # -- strings ------------------------------------------------------------
    @abc.abstractmethod
    def to_string(self, arch: Architecture) -> str:
        """String form of ``arch``; ``from_string`` parses it back."""

    @abc.abstractmethod
    def from_string(self, text: str) -> Architecture:
        """Parse the string form of an architecture.

        Raises:
            ArchitectureError: If ``text`` is not an architecture of this space.
        """

    # -- sampling and neighbourhoods ---------------------------------------
    def sample(self, rng: np.random.Generator) -> Architecture:
        """Sample uniformly among valid choices, decision by decision."""
        prefix: list[int] = []
        for _ in self.decisions:
            valid = np.flatnonzero(self.valid_choices(prefix))
            prefix.append(int(rng.choice(valid)))
        return Architecture(self, tuple(prefix))

    def repair(self, indices: Sequence[int]) -> tuple[int, ...]:
        """Make ``indices`` valid by resetting each masked choice to its first valid one."""
        out: list[int] = []
        for i in indices:
            valid = self.valid_choices(out)
            out.append(int(i) if 0 <= i < len(valid) and valid[i] else int(np.flatnonzero(valid)[0]))
        return tuple(out)

    def active_decisions(self, arch: Architecture) -> list[int]:
        """Decisions that matter for ``arch`` (more than one valid choice)."""
        return [
            k
            for k in range(self.num_decisions)
            if self.valid_choices(arch.indices[:k]).sum() > 1
        ]

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """Every architecture that differs from ``arch`` in one active decision.

        Later decisions that the change makes invalid are repaired.
        """
        out = []
        for k in self.active_decisions(arch):
            valid = self.valid_choices(arch.indices[:k])
            for j in np.flatnonzero(valid):
                if j != arch.indices[k]:
                    idx = list(arch.indices)
                    idx[k] = int(j)
                    out.append(Architecture(self, self.repair(idx)))
        return out

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one active decision of ``arch`` to another valid choice."""
        k = int(rng.choice(self.active_decisions(arch)))
        valid = np.flatnonzero(self.valid_choices(arch.indices[:k]))
        j = int(rng.choice(valid[valid != arch.indices[k]]))
        idx = list(arch.indices)
        idx[k] = j
        return Architecture(self, self.repair(idx))

    def canonical(self, arch: Architecture) -> Architecture:
        """Representative of ``arch``'s equivalence class (identity by default)."""
        return arch

    def enumerate(self) -> Iterator[Architecture]:
        """Every valid architecture, depth-first in index order."""

        def rec(prefix: list[int]) -> Iterator[Architecture]:
            if len(prefix) == self.num_decisions:
                yield Architecture(self, tuple(prefix))
                return
            for j in np.flatnonzero(self.valid_choices(prefix)):
                yield from rec([*prefix, int(j)])

        return rec([])

    def size(self) -> int:
        """Number of valid architectures (may be huge; counted by dynamic programming where cheap)."""
        return sum(1 for _ in self.enumerate())

    # -- networks -------------------------------------------------------------
    def check_task(self, task: Task) -> None:  # noqa: B027  (an optional hook: by default every task is fine)
        """Refuse a task this space cannot build for (any task by default).

        The env calls it when it first loads its task, so a mismatch fails at
        ``gym.make`` rather than at the first episode's end.

        Raises:
            ConfigError: Saying why, and which space would build for ``task``.
        """

    @abc.abstractmethod
    def build(self, arch: Architecture, task: Task) -> nn.Module:
        """Build a trainable ``torch.nn.Module`` for ``task`` (logits out).

        The shipped spaces import torch and their network module (:mod:`nas_gym.networks`) here, not at the
        top of the space's module: a space, and a search on a lookup table, then never load torch.
        """

    def op_keys(self, arch: Architecture, task: Task) -> list[tuple]:
        """The network as hashable per-operation keys, for per-op latency tables.

        Each key is a tuple ``(op_name, *shape_args)`` that ``build_op`` turns
        back into a module and its input shape. Spaces that do not support
        per-op latency raise ``NotImplementedError``.
        """
        raise NotImplementedError(f"Space {self.name!r} has no per-operation decomposition.")

    def build_op(self, key: tuple) -> tuple[nn.Module, tuple[int, ...]]:
        """Module and input shape (without batch) for one per-op key from ``op_keys``."""
        raise NotImplementedError(f"Space {self.name!r} has no per-operation decomposition.")

    # -- pictures -------------------------------------------------------------
    def draw(
        self,
        decisions: Sequence[int],
        highlight: int | None = None,
        title: str | None = None,
        size: tuple[int, int] = (640, 400),
    ) -> np.ndarray:
        """Draw the (partial) architecture given by ``decisions``: a frame of the env's ``rgb_array`` render mode.

        Here a table of decision names and choices, the picture of any space
        that has none of its own; ``nb201``, the slot spaces and ``rnn_cell``
        override it with theirs. A space of your own may override it too,
        most simply by handing :func:`nas_gym.spaces.drawing.draw_frame` a
        picture function of its own.

        Args:
            decisions: Choice indices made so far, in decision order: from none
                to ``num_decisions``. Later decisions are drawn as undecided.
            highlight: Index of the decision to draw in the accent colour (the
                one just made), or None.
            title: Heading of the frame; the space's name when None.
            size: ``(width, height)`` of the frame in pixels, each at least 64.

        Returns:
            An RGB image, ``uint8`` of shape ``(height, width, 3)`` -- exactly,
            for any decisions. The same arguments give the same pixels.

        Raises:
            ArchitectureError: Too many decisions, or a choice index out of range.
            ConfigError: ``highlight`` is not the index of a decision made, or
                ``size`` is not two integers >= 64.

        Example:
            >>> from nas_gym.spaces import make_space
            >>> frame = make_space("nb201").draw([3, 1, 0], highlight=2)
            >>> frame.shape, frame.dtype
            ((400, 640, 3), dtype('uint8'))
        """
        return drawing.draw_frame(self, decisions, drawing.table_picture, highlight=highlight, title=title, size=size)
