"""The NAS-Bench-201 cell space: 6 edges, 5 operations, 15,625 cells.

A cell is a DAG on 4 nodes; node ``j`` sums ``op_{j<-i}(node_i)`` over
``i < j``. Decisions are the edges in the order of the benchmark's string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, so published tables
(``../shared/data/nb201_cifar.csv``) key straight into this space.

``build`` makes a scaled-down version of the benchmark's macro skeleton
(stem, three stages of cells separated by residual reduction blocks, head)
that trains on small CPU tasks in 1-D or 2-D, with the modules of
:mod:`nas_gym.networks.nb201` (imported then: the space itself needs no torch).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError, did_you_mean
from nas_gym.spaces import drawing
from nas_gym.spaces.base import Architecture, Decision, SearchSpace
from nas_gym.spaces.layers import check_spatial_task
from nas_gym.tasks.base import Task
from nas_gym.utils.lazy import moved_names

if TYPE_CHECKING:
    from torch import nn

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to, from) per decision, in the order of the benchmark's arch string.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_CELLS = len(OPS) ** len(EDGES)
# The network's classes lived here until the space was split from its torch modules.
__getattr__ = moved_names(__name__, "nas_gym.networks.nb201",
                          ("ReLUConvBN", "make_edge_op", "Cell", "ResidualReduction", "Stem", "NB201Head"))


def _format(indices: tuple[int, ...]) -> str:
    edges = [f"{OPS[o]}~{i}" for (_, i), o in zip(EDGES, indices, strict=True)]
    return f"|{edges[0]}|+|{edges[1]}|{edges[2]}|+|{edges[3]}|{edges[4]}|{edges[5]}|"


def _isomorphism_key(indices: tuple[int, ...]) -> str:
    """Describe what the cell computes, as a string equal across isomorphic cells.

    The rule of the benchmark's reference code (AutoDL-Projects,
    ``CellStructure.to_unique_str(consider_zero=True)``), which gives the
    paper's 6,466 classes: ``skip_connect`` passes its input on unchanged,
    ``none`` and any op applied to a zero node give a zero term ``#``, and a
    node is the sorted sum of its terms. Sorting makes the two intermediate
    nodes and parallel paths interchangeable.

    It is the benchmark's convention rather than a full test of functional
    equality: zero terms stay in a sum (``x + 0`` differs from ``x``), a node
    whose terms are all zero is not itself treated as zero, and nested sums
    compare as flat text.
    """
    nodes = {0: "0"}
    for j in (1, 2, 3):
        terms = []
        for (to, i), o in zip(EDGES, indices, strict=True):
            if to != j:
                continue
            op = OPS[o]
            if op == "none" or nodes[i] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[i])
            else:
                terms.append(f"({nodes[i]})@{op}")
        nodes[j] = "+".join(sorted(terms))
    return nodes[3]


class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell: 6 edges, each one of :data:`OPS`; no masks.

    Strings are the benchmark's, e.g.
    ``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|``.

    Args:
        channels: Width ``C`` of the first stage (stages have C, 2C, 4C).
        cells_per_stage: Cells in each of the three stages (the benchmark uses 5).

    Raises:
        ConfigError: If an argument is not a positive integer.

    Example:
        >>> space = NB201Space()
        >>> arch = space.from_string("|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|")
        >>> str(space.canonical(arch))  # both compute conv1x1(x) + conv3x3(x)
        '|none~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|'
    """

    name = "nb201"

    def __init__(self, channels: int = 8, cells_per_stage: int = 1) -> None:
        """Check the configuration and lay out the 6 edge decisions."""
        for arg, value in (("channels", channels), ("cells_per_stage", cells_per_stage)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"NB201Space {arg} must be a positive integer, got {value!r}.")
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.decisions = tuple(Decision(f"edge{to}<-{i}", OPS) for to, i in EDGES)
        self._by_string: dict[str, Architecture] | None = None
        self._canonical: dict[tuple[int, ...], tuple[int, ...]] | None = None

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as plain data."""
        return {"channels": self.channels, "cells_per_stage": self.cells_per_stage}

    def size(self) -> int:
        """Return the number of cells, 5 ** 6 = 15,625."""
        return NUM_CELLS

    # -- strings --------------------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        """Format ``arch`` as the benchmark's arch string."""
        return _format(arch.indices)

    def from_string(self, text: str) -> Architecture:
        """Parse the benchmark's arch string (a dictionary lookup after the first call).

        Raises:
            ArchitectureError: Naming the malformed part or unknown op.
        """
        if self._by_string is None:
            # Built once: loading a benchmark table parses every one of the 15,625 strings.
            # Edge texts are formatted once and joined in product order, i.e. increasing indices.
            e = [[f"{op}~{i}" for op in OPS] for _, i in EDGES]
            strings = (f"|{a}|+|{b}|{c}|+|{d}|{f}|{g}|" for a, b, c, d, f, g in itertools.product(*e))
            cells = itertools.product(range(len(OPS)), repeat=len(EDGES))
            self._by_string = {text: Architecture(self, idx) for text, idx in zip(strings, cells, strict=True)}
        arch = self._by_string.get(text)
        if arch is None:
            arch = self._by_string.get(text.strip()) if isinstance(text, str) else None
        if arch is None:
            raise ArchitectureError(self._explain(text))
        return arch

    def _explain(self, text: Any) -> str:
        """Why ``text`` is not an NB201 arch string."""
        example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        head = f"Not an NB201 arch string: {text!r}."
        if not isinstance(text, str):
            return f"{head} Expected a string such as {example!r}."
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            return f"{head} Expected 3 nodes separated by '+', got {len(nodes)}; e.g. {example!r}."
        for j, node in enumerate(nodes, start=1):
            if not (node.startswith("|") and node.endswith("|") and len(node) > 1):
                return f"{head} Node {j} {node!r} must start and end with '|'."
            edges = node[1:-1].split("|")
            if len(edges) != j:
                return f"{head} Node {j} {node!r} needs {j} edge(s) 'op~i' for i = 0..{j - 1}, got {len(edges)}."
            for i, edge in enumerate(edges):
                op, sep, src = edge.partition("~")
                if op not in OPS:
                    return f"{head} Unknown op {op!r} on node {j}.{did_you_mean(op, OPS)} Ops: {', '.join(OPS)}."
                if not sep or src != str(i):
                    return f"{head} Edge {edge!r} of node {j} must be '{op}~{i}' (edges listed by source 0..{j - 1})."
        return f"{head} Expected e.g. {example!r}."

    # -- equivalence ---------------------------------------------------------------
    def isomorphism_key(self, arch: Architecture) -> str:
        """Describe what the cell computes; equal exactly for cells of one isomorphism class."""
        return _isomorphism_key(arch.indices)

    def canonical(self, arch: Architecture) -> Architecture:
        """Return the cell with the smallest index tuple among those isomorphic to ``arch``.

        Classes are those of :meth:`isomorphism_key`; the 15,625 cells fall
        into 6,466 of them, the NAS-Bench-201 paper's count.
        """
        if self._canonical is None:
            smallest: dict[str, tuple[int, ...]] = {}
            table: dict[tuple[int, ...], tuple[int, ...]] = {}
            # product() runs in increasing index order, so the first cell seen per class is the smallest.
            for idx in itertools.product(range(len(OPS)), repeat=len(EDGES)):
                table[idx] = smallest.setdefault(_isomorphism_key(idx), idx)
            self._canonical = table
        rep = self._canonical[arch.indices]
        return arch if rep == arch.indices else Architecture(self, rep)

    # -- picture ------------------------------------------------------------------------
    def draw(
        self,
        decisions: Sequence[int],
        highlight: int | None = None,
        title: str | None = None,
        size: tuple[int, int] = (640, 400),
    ) -> np.ndarray:
        """Draw the cell as a DAG on its 4 nodes, each edge coloured and labelled by its op.

        Arguments, result and errors as :meth:`SearchSpace.draw`. A subclass
        whose decisions are not the 6 edges gets the base's table.
        """
        if [d.name for d in self.decisions] != [f"edge{to}<-{i}" for to, i in EDGES]:
            return super().draw(decisions, highlight=highlight, title=title, size=size)
        picture = functools.partial(drawing.nb201_cell_picture, edges=EDGES)
        return drawing.draw_frame(self, decisions, picture, highlight=highlight, title=title, size=size)

    # -- networks ---------------------------------------------------------------------
    def check_task(self, task: Task) -> None:
        """Refuse a task of feature vectors (``spatial_dims == 0``): use the ``mlp`` space for those.

        Raises:
            ConfigError: Naming the task and suggesting ``space="mlp"``.
        """
        check_spatial_task(self.name, task)

    def _macro(self, task: Task) -> list[tuple]:
        """List the skeleton in forward order: stem, cells and reductions, head.

        Cells appear as ``("nb201/cell", dims, C, *spatial)``; the other
        entries are per-op keys already.
        """
        from nas_gym.networks.layers import nd_layers  # torch, needed only to build

        self.check_task(task)
        dims = task.spatial_dims
        nd_layers(dims)  # fail here, with the reason, for inputs that are neither 1-D nor 2-D
        c_in, spatial = task.input_shape[0], tuple(task.input_shape[1:])
        c = self.channels
        keys: list[tuple] = [("nb201/stem", dims, c_in, c, *spatial)]
        for stage in range(3):
            if stage:
                # A size-1 axis cannot halve; the block then only widens.
                stride = 2 if min(spatial) >= 2 else 1
                keys.append(("nb201/reduction", dims, c, 2 * c, stride, *spatial))
                c, spatial = 2 * c, tuple(-(-n // stride) for n in spatial)
            keys += [("nb201/cell", dims, c, *spatial)] * self.cells_per_stage
        keys.append(("nb201/head", dims, c, task.num_classes, *spatial))
        return keys

    def build(self, arch: Architecture, task: Task) -> nn.Module:
        """Build the scaled-down NB201 network for ``task`` (``Conv1d`` or ``Conv2d`` by its dims).

        Stem conv 3x3 + BN to ``channels``; three stages of
        ``cells_per_stage`` cells with C, 2C, 4C channels, separated by
        stride-2 residual blocks; BN-ReLU, global average pool, linear.

        Raises:
            ConfigError: For a task of feature vectors (see :meth:`check_task`).
        """
        from torch import nn

        from nas_gym.networks.nb201 import Cell  # torch, needed only to build

        ops = tuple(OPS[o] for o in arch.indices)
        return nn.Sequential(
            *(
                Cell(ops, key[1], key[2]) if key[0] == "nb201/cell" else self.build_op(key)[0]
                for key in self._macro(task)
            )
        )

    def op_keys(self, arch: Architecture, task: Task) -> list[tuple]:
        """Per-op keys whose measured latencies sum to the network's.

        Keys: ``("nb201/stem", dims, c_in, C, *spatial)``; for every cell one
        key per ``skip_connect``/``nor_conv_1x1``/``nor_conv_3x3``/
        ``avg_pool_3x3`` edge, ``("nb201/<op>", dims, C, *spatial)``;
        ``("nb201/reduction", dims, c_in, c_out, stride, *spatial_in)``; and
        ``("nb201/head", dims, C, num_classes, *spatial)``. ``none`` edges
        compute nothing and have no key.
        """
        ops = [OPS[o] for o in arch.indices if OPS[o] != "none"]
        out: list[tuple] = []
        for key in self._macro(task):
            if key[0] == "nb201/cell":
                out += [(f"nb201/{op}", *key[1:]) for op in ops]
            else:
                out.append(key)
        return out

    def build_op(self, key: tuple) -> tuple[nn.Module, tuple[int, ...]]:
        """Build the module and input shape (without batch) for one key of :meth:`op_keys`.

        Raises:
            ConfigError: If ``key`` is not a key of this space.
        """
        from nas_gym.networks.nb201 import NB201Head, ResidualReduction, Stem, make_edge_op  # torch: to build

        bad = ConfigError(
            f"Not a per-op key of the nb201 space: {key!r}. Expected a key from NB201Space.op_keys, "
            "e.g. ('nb201/nor_conv_3x3', 2, 8, 8, 8)."
        )
        name = key[0] if key and isinstance(key[0], str) else ""
        try:
            if name == "nb201/stem":
                _, dims, c_in, c, *spatial = key
                module, shape = Stem(dims, c_in, c), (c_in, *spatial)
            elif name == "nb201/reduction":
                _, dims, c_in, c_out, stride, *spatial = key
                module, shape = ResidualReduction(dims, c_in, c_out, stride), (c_in, *spatial)
            elif name == "nb201/head":
                _, dims, c, num_classes, *spatial = key
                module, shape = NB201Head(dims, c, num_classes), (c, *spatial)
            elif name[len("nb201/") :] in OPS[1:] and name.startswith("nb201/"):
                _, dims, c, *spatial = key
                module, shape = make_edge_op(name[len("nb201/") :], dims, c), (c, *spatial)
            else:
                raise bad
        except (ValueError, TypeError) as e:
            if isinstance(e, ConfigError):
                raise
            raise bad from e
        if len(shape) != dims + 1:
            raise bad
        return module, tuple(shape)
