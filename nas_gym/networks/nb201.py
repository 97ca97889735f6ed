"""The NAS-Bench-201 network: the cell, the residual reduction block, stem and head, in 1-D or 2-D.

:class:`nas_gym.spaces.nb201.NB201Space` encodes cells; this module builds them (the space imports
it when it builds, so that the space, and a search on a NAS-Bench-201 table, need no torch).
"""

from __future__ import annotations

import torch
from torch import nn

from nas_gym.error import ConfigError, did_you_mean
from nas_gym.networks.layers import Head, nd_layers

#: The edge ops that build a module: :data:`nas_gym.spaces.nb201.OPS` but ``none``, which adds nothing.
EDGE_OPS = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (to, from) per edge, in the order of the benchmark's arch string (:data:`nas_gym.spaces.nb201.EDGES`).
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


class ReLUConvBN(nn.Module):
    """NAS-Bench-201's ``nor_conv``: ReLU, convolution, batch norm."""

    def __init__(self, dims: int, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        """Make a ``kernel``-sized conv with "same" padding (for stride 1)."""
        super().__init__()
        L = nd_layers(dims)
        self.op = nn.Sequential(
            nn.ReLU(),
            L.conv(c_in, c_out, kernel, stride, kernel // 2, bias=False),
            L.batch_norm(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ReLU-Conv-BN."""
        return self.op(x)


def make_edge_op(op: str, dims: int, channels: int) -> nn.Module:
    """Build the module of one cell edge other than ``none`` (which adds nothing).

    Raises:
        ConfigError: For an unknown op name.
    """
    if op == "nor_conv_1x1":
        return ReLUConvBN(dims, channels, channels, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(dims, channels, channels, 3)
    if op == "avg_pool_3x3":
        return nd_layers(dims).avg_pool(3, 1, 1, count_include_pad=False)
    if op == "skip_connect":
        return nn.Identity()
    raise ConfigError(f"Unknown NB201 edge op {op!r}.{did_you_mean(op, EDGE_OPS)} Known: {', '.join(EDGE_OPS)}.")


class Cell(nn.Module):
    """One NB201 cell: node ``j`` is the sum of its incoming edges' outputs."""

    def __init__(self, ops: tuple[str, ...], dims: int, channels: int) -> None:
        """Make the cell for edge ops in :data:`EDGES` order."""
        super().__init__()
        # A "none" edge contributes zeros, so it is left out of the sum instead of computed.
        self.edges = [(to, i) for (to, i), op in zip(EDGES, ops, strict=True) if op != "none"]
        self.ops = nn.ModuleList(make_edge_op(op, dims, channels) for op in ops if op != "none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return node 3; zeros when no path reaches it."""
        nodes: list[torch.Tensor] = [x]
        for j in (1, 2, 3):
            terms = [op(nodes[i]) for (to, i), op in zip(self.edges, self.ops, strict=True) if to == j]
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return nodes[3]


class ResidualReduction(nn.Module):
    """NAS-Bench-201's ``ResNetBasicblock``: two ReLU-Conv-BN plus a pooled 1x1 shortcut."""

    def __init__(self, dims: int, c_in: int, c_out: int, stride: int = 2) -> None:
        """Map ``c_in`` to ``c_out`` channels, shrinking each spatial size to ``ceil(n / stride)``."""
        super().__init__()
        L = nd_layers(dims)
        self.conv_a = ReLUConvBN(dims, c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(dims, c_out, c_out, 3)
        # ceil_mode keeps the shortcut's size equal to the strided conv's for odd sizes.
        pool = [L.avg_pool(2, 2, 0, ceil_mode=True)] if stride == 2 else []
        self.shortcut = nn.Sequential(*pool, L.conv(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class Stem(nn.Module):
    """Conv 3x3 and batch norm from the task's channels to the cell width."""

    def __init__(self, dims: int, c_in: int, c_out: int) -> None:
        """Make the stem."""
        super().__init__()
        L = nd_layers(dims)
        self.op = nn.Sequential(L.conv(c_in, c_out, 3, 1, 1, bias=False), L.batch_norm(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply conv and BN."""
        return self.op(x)


class NB201Head(nn.Module):
    """BN-ReLU, then global average pool and a linear classifier."""

    def __init__(self, dims: int, channels: int, num_classes: int) -> None:
        """Make the head."""
        super().__init__()
        self.act = nn.Sequential(nd_layers(dims).batch_norm(channels), nn.ReLU())
        self.classifier = Head(dims, channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (N, num_classes)."""
        return self.classifier(self.act(x))
