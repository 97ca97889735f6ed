"""The supernet of the ``nb201`` space: the NAS-Bench-201 macro skeleton with each cell edge a mixed operation.

See :mod:`nas_gym.supernets.base` for the two forward modes (mixed and single path).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas_gym.spaces.base import Architecture, SearchSpace
from nas_gym.spaces.nb201 import EDGES
from nas_gym.supernets.base import OpLatencies, Supernet, _drop
from nas_gym.tasks.base import Task


class _MixedCell(nn.Module):
    """An NB201 cell whose 6 edges are mixed operations."""

    def __init__(self, space: SearchSpace, edge_keys: list[tuple]) -> None:
        super().__init__()
        self.choices = space.decisions[0].choices
        # One ModuleDict per edge; "none" has no module and adds nothing.
        self.edges = nn.ModuleList(
            nn.ModuleDict({c: space.build_op((f"nb201/{c}", *key[1:]))[0] for c in self.choices if c != "none"})
            for key in edge_keys
        )

    def forward(
        self, x: torch.Tensor, weights: list[torch.Tensor] | None, skip_drop: float, path: list[str] | None = None
    ) -> torch.Tensor:
        """Mixed over ``weights`` per edge, or, with ``path`` (one op name per edge), each edge's chosen op only."""
        nodes = [x]
        for j in (1, 2, 3):
            total = 0
            for e, (to, i) in enumerate(EDGES):
                if to != j:
                    continue
                if path is not None:
                    if path[e] != "none":
                        total = total + self.edges[e][path[e]](nodes[i])
                    continue
                for c, op in self.edges[e].items():
                    out = op(nodes[i])
                    if c == "skip_connect":
                        out = _drop(out, skip_drop, self.training)
                    total = total + weights[e][self.choices.index(c)] * out
            # A node whose every input edge is "none" is zeros, as in the stand-alone cell.
            nodes.append(total if isinstance(total, torch.Tensor) else torch.zeros_like(x))
        return nodes[3]


class NB201Supernet(Supernet):
    """NB201's macro skeleton with mixed-operation cells; all 6 edges are searched.

    Args:
        space: An ``NB201Space``.
        task: The task to build for.
        generator: Draws the initial alphas.
        exclude_none: Whether derivation excludes ``none`` (the DARTS paper's rule).
    """

    def __init__(self, space: SearchSpace, task: Task, generator: torch.Generator, *, exclude_none: bool = True):
        super().__init__(space, task)
        choices = space.decisions[0].choices
        conv = choices.index("nor_conv_3x3")
        # Every edge a convolution: the op keys then list every stage's fixed
        # blocks and every edge's (dims, channels, spatial) in forward order.
        keys = space.op_keys(space.arch([conv] * space.num_decisions), task)
        n = space.num_decisions
        self._layout: list[tuple[str, tuple | list[tuple]]] = []
        blocks, cells = nn.ModuleList(), nn.ModuleList()
        i = 0
        while i < len(keys):
            if keys[i][0] == "nb201/nor_conv_3x3":
                cell_keys = list(keys[i : i + n])
                cells.append(_MixedCell(space, cell_keys))
                self._layout.append(("cell", cell_keys))
                i += n
            else:
                blocks.append(space.build_op(keys[i])[0])
                self._layout.append(("block", keys[i]))
                i += 1
        self.blocks, self.cells = blocks, cells
        self._init_alphas(list(range(n)), generator)
        self.skip_choices = {k: choices.index("skip_connect") for k in range(n)}
        none = frozenset({choices.index("none")}) if exclude_none else frozenset()
        self.excluded = {k: none for k in range(n)}

    def forward(self, x: torch.Tensor, skip_drop: float = 0.0, path: Architecture | None = None) -> torch.Tensor:
        """Logits of the mixed network, or of ``path``'s cell in every stage."""
        weights, ops = None, None
        if path is None:
            weights = [F.softmax(a, dim=-1) for a in self.alphas]
        else:
            choices = self.space.decisions[0].choices
            ops = [choices[i] for i in path.indices]
        b = c = 0
        for kind, _ in self._layout:
            if kind == "block":
                x = self.blocks[b](x)
                b += 1
            else:
                x = self.cells[c](x, weights, skip_drop, ops)
                c += 1
        return x

    def expected_latency_ms(self, latency: OpLatencies) -> torch.Tensor:
        """Sum the fixed blocks and, per cell edge, the softmax-weighted latency of its ops (``none`` costs 0)."""
        probs = self.probs()
        choices = self.space.decisions[0].choices
        total = torch.zeros((), device=self.device)
        for kind, keys in self._layout:
            if kind == "block":
                total = total + latency.op_latency_ms(keys)
                continue
            for e, key in enumerate(keys):
                for j, c in enumerate(choices):
                    if c != "none":
                        total = total + probs[e][j] * latency.op_latency_ms((f"nb201/{c}", *key[1:]))
        return total
