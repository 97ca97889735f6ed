"""The recurrent-layers space's network: RNN, LSTM and GRU layers and a pooling head, on sequences.

:class:`nas_gym.spaces.rnn_layers.RNNLayersSpace` encodes the stacks; this module builds them (the space
imports it when it builds, so that the space itself needs no torch).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas_gym.error import ConfigError, did_you_mean

#: The recurrent cells a layer may hold, by the space's names (:data:`nas_gym.spaces.rnn_layers.CELLS`).
RNN_MODULES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
#: How the head reads the output sequence: its last step, or its mean over time.
POOLS = ("last", "mean")


def to_steps(x: torch.Tensor) -> torch.Tensor:
    """A batch of signals ``(N, C, L)`` as a batch of sequences ``(N, L, C)`` (batch first)."""
    return x.transpose(1, 2)


class RecurrentLayer(nn.Module):
    """One recurrent layer over a batch-first sequence: cell, output dropout and an optional residual.

    Args:
        in_features: Features per step of the input sequence.
        cell: ``rnn`` (tanh), ``lstm`` or ``gru``.
        hidden: Hidden units per direction.
        bidirectional: Run both directions and concatenate them (output width ``2 * hidden``).
        dropout: Dropout probability on the output sequence; 0 adds no dropout layer.
        skip: Add the input sequence to the output, through a bias-free ``Linear`` where the widths differ.
    """

    def __init__(
        self, in_features: int, cell: str, hidden: int, bidirectional: bool, dropout: float, skip: bool
    ) -> None:
        """Make the layer's modules."""
        super().__init__()
        if cell not in RNN_MODULES:
            raise ConfigError(f"Unknown cell {cell!r}.{did_you_mean(cell, list(RNN_MODULES))} "
                              f"Known cells: {', '.join(RNN_MODULES)}.")
        self.rnn = RNN_MODULES[cell](in_features, hidden, num_layers=1, batch_first=True, bidirectional=bidirectional)
        self.out_features = hidden * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.skip = skip
        if skip and in_features != self.out_features:
            self.project: nn.Module = nn.Linear(in_features, self.out_features, bias=False)
        else:
            self.project = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a sequence ``(N, L, in_features)`` to ``(N, L, out_features)``."""
        out = self.dropout(self.rnn(x)[0])
        return out + self.project(x) if self.skip else out


class RecurrentNet(nn.Module):
    """The recurrent layers in order, then the head: pool over time and a ``Linear``.

    Args:
        layers: The non-empty slots' layers (may be empty: the head reads the input sequence).
        pool: ``last`` (the last step) or ``mean`` (the mean over time).
        features: Features per step of the last layer's output (or of the input).
        num_outputs: Output width (class count, or 1 for regression).
    """

    def __init__(self, layers: Sequence[RecurrentLayer], pool: str, features: int, num_outputs: int) -> None:
        """Make the network's modules."""
        super().__init__()
        if pool not in POOLS:
            raise ConfigError(f"Unknown pool {pool!r}.{did_you_mean(pool, POOLS)} Known pools: {', '.join(POOLS)}.")
        self.layers = nn.ModuleList(layers)
        self.pool = pool
        self.head = nn.Linear(features, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map signals ``(N, C, L)`` to outputs ``(N, num_outputs)``."""
        h = to_steps(x)
        for layer in self.layers:
            h = layer(h)
        h = h[:, -1] if self.pool == "last" else h.mean(dim=1)
        return self.head(h)
