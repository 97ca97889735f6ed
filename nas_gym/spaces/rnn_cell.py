"""The recurrent-cell search space: the ENAS / DARTS recurrent cell, for sequence tasks.

A cell of ``num_nodes`` nodes runs once per time step. Node 0 reads the
step's input ``x_t`` and the previous state ``h_{t-1}``; every later node
reads one earlier node, which it chooses, and each node chooses its
activation (Pham et al. 2018, "Efficient Neural Architecture Search via
Parameter Sharing"; Liu et al. 2019, "DARTS"). The nodes form a tree rooted at
node 0, and the cell's new state ``h_t`` is the mean of its leaves, the
"loose ends" no other node reads. The network unrolls the cell over the
sequence and reads the last state with a linear head.

A task's signals ``(C, L)`` are read as ``L`` steps of ``C`` features (see
:mod:`nas_gym.spaces.sequence`); images and feature vectors are refused. The
string form reads like ``tanh|relu<-0|sigmoid<-0|identity<-2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError, did_you_mean
from nas_gym.spaces import drawing
from nas_gym.spaces.base import Architecture, Decision, SearchSpace
from nas_gym.spaces.layers import _names
from nas_gym.spaces.sequence import check_sequence_task
from nas_gym.tasks.base import Task
from nas_gym.utils.lazy import moved_names

if TYPE_CHECKING:
    from torch import nn

#: The activations a node can choose from.
ACTIVATIONS = ("tanh", "relu", "sigmoid", "identity")
#: Separates a node's activation from its input in the string form: ``relu<-0``.
ARROW = "<-"
# The network's classes and functions lived here until the space was split from its torch modules.
__getattr__ = moved_names(__name__, "nas_gym.networks.rnn_cell",
                          ("ACTIVATION_FNS", "RNNCellNet", "unroll_cell", "reference_cell"))


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


class RNNCellSpace(SearchSpace):
    """A recurrent cell of ``num_nodes`` nodes, each choosing its input node and its activation.

    The decisions are, in this order: ``node0/act``, then for each node
    ``i = 1 .. num_nodes - 1`` the pair ``node{i}/input`` (choices ``"0"`` ..
    ``"{i-1}"``: node ``i`` has ``i`` choices, so decisions differ in size and
    the env pads the smaller ones with its mask) and ``node{i}/act``. As in
    the ``layers`` and ``mlp`` spaces a field with one choice is fixed and no
    decision: ``node1/input`` is always node 0 and never a decision, and with
    a single activation configured there are no ``act`` decisions at all.
    Nothing is masked: every index tuple is an architecture.

    The cell (DARTS's recurrent cell, highway-gated), with ``W_i`` node
    ``i``'s weights and ``f_i`` its activation::

        node 0:  c, h = split(W_0 [x_t ; h_{t-1}]);  s_0 = h_{t-1} + sigmoid(c) * (f_0(h) - h_{t-1})
        node i:  c, h = split(W_i s_j);              s_i = s_j + sigmoid(c) * (f_i(h) - s_j)
        h_t = mean of the leaves s_i (nodes that no node takes as input);  h_0 = 0

    Canonical form (:meth:`canonical`): the network depends only on the
    tree (each node's parent is its input) with its activation labels, and
    not on the order of a node's children, since the output is a mean over
    the leaves. The canonical architecture numbers the nodes in depth-first
    preorder from node 0, visiting each node's children in the order of a
    canonical string of their subtrees; parents still come before their
    children, so it is an architecture of this space, and isomorphic trees
    get the same one.

    Args:
        num_nodes: Nodes in the cell (at least 1).
        activations: From ``tanh``, ``relu``, ``sigmoid`` and ``identity``.
        hidden: Width of the state ``h_t`` and of every node (at least 1).

    Raises:
        ConfigError: For an unknown name, an impossible value, or a
            configuration with a single architecture (no decisions).

    Example:
        >>> space = RNNCellSpace(num_nodes=4)
        >>> arch = space.from_string("tanh|relu<-0|sigmoid<-1|identity<-0")
        >>> str(space.canonical(arch))
        'tanh|identity<-0|relu<-0|sigmoid<-2'
    """

    name = "rnn_cell"

    def __init__(
        self,
        num_nodes: int = 8,
        activations: Sequence[str] = ACTIVATIONS,
        hidden: int = 32,
    ) -> None:
        """Check the configuration and lay out the decisions."""
        self.num_nodes = _positive_int("num_nodes", num_nodes)
        self.activations = _names("activation", activations, ACTIVATIONS)
        self.hidden = _positive_int("hidden", hidden)
        acts = len(self.activations) >= 2
        decisions: list[Decision] = []
        input_pos: list[int | None] = []
        act_pos: list[int | None] = []
        for i in range(self.num_nodes):
            pos = None
            if i >= 2:
                pos = len(decisions)
                decisions.append(Decision(f"node{i}/input", tuple(str(j) for j in range(i))))
            input_pos.append(pos)
            pos = None
            if acts:
                pos = len(decisions)
                decisions.append(Decision(f"node{i}/act", self.activations))
            act_pos.append(pos)
        if not decisions:
            raise ConfigError(
                f"RNNCellSpace(num_nodes={self.num_nodes}, activations={list(self.activations)}) has a single "
                "architecture and no decisions. Give two or more activations, or num_nodes >= 3."
            )
        self.decisions = tuple(decisions)
        #: Per node, the index of its ``input`` / ``act`` decision, or None where the field is fixed.
        self.input_positions: tuple[int | None, ...] = tuple(input_pos)
        self.act_positions: tuple[int | None, ...] = tuple(act_pos)
        # Nothing is masked; the masks are made once and read-only, since valid_choices runs on every env step.
        self._masks = tuple(np.ones(d.n, dtype=bool) for d in self.decisions)
        for m in self._masks:
            m.flags.writeable = False

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as plain data."""
        return {"num_nodes": self.num_nodes, "activations": list(self.activations), "hidden": self.hidden}

    # -- reading index tuples ---------------------------------------------------
    def parents(self, arch: Architecture | Sequence[int]) -> tuple[int, ...]:
        """Each node's input node; node 0 reads ``x_t`` and ``h_{t-1}`` and has parent -1."""
        idx = arch.indices if isinstance(arch, Architecture) else tuple(arch)
        return tuple(-1 if i == 0 else 0 if p is None else idx[p] for i, p in enumerate(self.input_positions))

    def node_activations(self, arch: Architecture | Sequence[int]) -> tuple[str, ...]:
        """Each node's activation name."""
        idx = arch.indices if isinstance(arch, Architecture) else tuple(arch)
        return tuple(self.activations[0 if p is None else idx[p]] for p in self.act_positions)

    def leaves(self, arch: Architecture | Sequence[int]) -> tuple[int, ...]:
        """The loose ends: nodes that no node takes as input, whose mean is the cell's output."""
        used = set(self.parents(arch))
        return tuple(i for i in range(self.num_nodes) if i not in used)

    def _from_tree(self, parents: Sequence[int], acts: Sequence[str]) -> Architecture:
        """The architecture of a tree given as parents (``parents[0]`` ignored) and activation names."""
        idx = [0] * self.num_decisions
        for i in range(self.num_nodes):
            if self.input_positions[i] is not None:
                idx[self.input_positions[i]] = parents[i]
            if self.act_positions[i] is not None:
                idx[self.act_positions[i]] = self.activations.index(acts[i])
        return Architecture(self, tuple(idx))

    # -- masks ----------------------------------------------------------------------
    def valid_choices(self, prefix: Sequence[int]) -> np.ndarray:
        """Every choice is valid (read-only mask)."""
        return self._masks[len(prefix)]

    # -- equivalence and size --------------------------------------------------------
    def canonical(self, arch: Architecture) -> Architecture:
        """Renumber the nodes in canonical depth-first preorder (see the class docstring)."""
        parents, acts = self.parents(arch), self.node_activations(arch)
        children: list[list[int]] = [[] for _ in range(self.num_nodes)]
        for i in range(1, self.num_nodes):
            children[parents[i]].append(i)
        # Subtree strings, children before parents (a parent's index is below its children's).
        text = [""] * self.num_nodes
        for i in reversed(range(self.num_nodes)):
            children[i].sort(key=lambda c: text[c])
            text[i] = f"{acts[i]}({','.join(text[c] for c in children[i])})"
        order: list[int] = []
        stack = [0]
        while stack:
            i = stack.pop()
            order.append(i)
            stack.extend(reversed(children[i]))
        new = {old: k for k, old in enumerate(order)}
        return self._from_tree(
            [-1] + [new[parents[old]] for old in order[1:]], [acts[old] for old in order]
        )

    def size(self) -> int:
        """Count the valid architectures: ``activations ** num_nodes * (num_nodes - 1)!``."""
        return len(self.activations) ** self.num_nodes * math.factorial(self.num_nodes - 1)

    # -- strings --------------------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        """Nodes joined by ``|``; see :meth:`from_string` for the format."""
        acts, parents = self.node_activations(arch), self.parents(arch)
        return "|".join(acts[0] if i == 0 else f"{acts[i]}{ARROW}{parents[i]}" for i in range(self.num_nodes))

    def from_string(self, text: str) -> Architecture:
        """Parse ``tanh|relu<-0|sigmoid<-0|identity<-2``.

        One ``|``-separated part per node: node 0 is just its activation
        (it reads ``x_t`` and ``h_{t-1}``), node ``i >= 1`` is
        ``{activation}<-{input}`` with its input node in ``0 .. i-1``. Fixed
        fields (node 1's input, a single activation) are written too, and
        must be that choice.

        Raises:
            ArchitectureError: Naming the bad node and token and the valid choices.
        """
        if not isinstance(text, str):
            raise ArchitectureError(f"Expected an architecture string, got {type(text).__name__} {text!r}.")
        parts = [p.strip() for p in text.strip().split("|")]
        if len(parts) != self.num_nodes:
            raise ArchitectureError(
                f"Architecture {text!r} has {len(parts)} node(s) separated by '|'; this space has "
                f"{self.num_nodes}, e.g. {self.to_string(self.sample(np.random.default_rng(0)))!r}."
            )
        parents, acts = [-1], []
        for i, part in enumerate(parts):
            where = f"Node {i} {part!r}"
            if i == 0:
                if ARROW in part:
                    raise ArchitectureError(
                        f"{where}: node 0 reads x_t and h_(t-1) and chooses no input; write just its activation, "
                        f"e.g. {self.activations[0]!r}."
                    )
                act = part
            else:
                act, arrow, src = (s.strip() for s in part.partition(ARROW))
                if not arrow:
                    raise ArchitectureError(
                        f"{where}: expected '{{activation}}{ARROW}{{input}}' with an input node in 0..{i - 1}, "
                        f"e.g. '{self.activations[0]}{ARROW}0'."
                    )
                if not (src.isascii() and src.isdigit() and int(src) < i):
                    raise ArchitectureError(
                        f"{where}: input {src!r} is not a choice; node {i} reads an earlier node: "
                        f"{', '.join(str(j) for j in range(i))}."
                    )
                parents.append(int(src))
            if act not in self.activations:
                raise ArchitectureError(
                    f"{where}: activation {act!r} is not a choice of this space.{did_you_mean(act, self.activations)}"
                    f" Choices: {', '.join(self.activations)}."
                )
            acts.append(act)
        return self._from_tree(parents, acts)

    # -- picture ------------------------------------------------------------------------
    def draw(
        self,
        decisions: Sequence[int],
        highlight: int | None = None,
        title: str | None = None,
        size: tuple[int, int] = (640, 400),
    ) -> np.ndarray:
        """Draw the cell: its nodes in order, each joined by an arc to its input node, the loose ends averaged into h_t.

        Arguments, result and errors as :meth:`SearchSpace.draw`.
        """
        return drawing.draw_frame(self, decisions, drawing.rnn_cell_picture, highlight=highlight, title=title,
                                  size=size)

    # -- networks ---------------------------------------------------------------------
    def check_task(self, task: Task) -> None:
        """Refuse a task whose inputs are not sequences ``(C, L)``."""
        check_sequence_task(self.name, task)

    def build(self, arch: Architecture, task: Task) -> nn.Module:
        """Build the network: the cell unrolled over the task's ``L`` steps, then a linear head on ``h_L``.

        Raises:
            ConfigError: If the task's inputs are not sequences.
        """
        from nas_gym.networks.rnn_cell import RNNCellNet  # torch, needed only to build

        check_sequence_task(self.name, task)
        return RNNCellNet(
            in_features=task.input_shape[0],
            hidden=self.hidden,
            parents=self.parents(arch),
            activations=self.node_activations(arch),
            num_outputs=task.num_outputs,
        )
