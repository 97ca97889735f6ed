"""The transformer space's network: a decoder-only language model (embeddings, blocks, tied head).

:class:`nas_gym.spaces.transformer.TransformerSpace` encodes the models; this module builds them (the
space imports it when it builds, so that the space itself needs no torch). The space's supernet
(:mod:`nas_gym.supernets.transformer`) initialises its weights as :data:`INIT_STD` says too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nas_gym.error import ConfigError, did_you_mean

#: The feed-forward activations a block builds (the space's :data:`nas_gym.spaces.transformer.ACTIVATIONS`).
FFN_ACTIVATIONS = ("relu", "gelu", "swiglu")
#: Standard deviation of the initial weights (GPT-2's); residual output projections get it over sqrt(2 * layers).
INIT_STD = 0.02


class Embeddings(nn.Module):
    """Token plus learned position embeddings of a window of token ids.

    Args:
        vocab_size: Number of token ids (the ``vocab_size`` attribute marks a network that reads tokens,
            :func:`nas_gym.utils.inputs.token_vocab`).
        context: Longest window (positions ``0..context-1``).
        width: Embedding width.
    """

    def __init__(self, vocab_size: int, context: int, width: int) -> None:
        """Make the two embedding tables."""
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(context, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map token ids ``(N, L)`` to ``(N, L, width)``."""
        return self.token(x) + self.position(torch.arange(x.shape[1], device=x.device))


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each position sees itself and the positions before it.

    Args:
        width: Model width.
        heads: Number of heads (``width`` divisible by it).
    """

    def __init__(self, width: int, heads: int) -> None:
        """Make the query/key/value and output projections."""
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, L, width)`` to ``(N, L, width)``."""
        n, length, width = x.shape
        # unbind, not tuple unpacking: iterating over a tensor would trace into ONNX as a fixed loop.
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(n, length, width))

    def extra_macs(self, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> int:
        """Multiply-accumulates of the scores ``q k^T`` and the weighted values (the full ``L x L``, as computed)."""
        n, length, width = inputs[0].shape
        return 2 * n * length * length * width


class FeedForward(nn.Module):
    """``Linear(d, r d)``, the activation, ``Linear(r d, d)``; SwiGLU gates the hidden layer with a second input matrix.

    Args:
        width: Model width ``d``.
        ratio: Hidden width over ``d``.
        activation: ``relu``, ``gelu`` or ``swiglu``.
    """

    def __init__(self, width: int, ratio: int, activation: str) -> None:
        """Make the two (SwiGLU: three) weight matrices."""
        super().__init__()
        if activation not in FFN_ACTIVATIONS:
            raise ConfigError(f"Unknown activation {activation!r}.{did_you_mean(activation, FFN_ACTIVATIONS)} "
                              f"Known: {', '.join(FFN_ACTIVATIONS)}.")
        hidden = ratio * width
        self.activation = activation
        self.up = nn.Linear(width, 2 * hidden if activation == "swiglu" else hidden)
        self.down = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, L, width)`` to ``(N, L, width)``."""
        h = self.up(x)
        if self.activation == "swiglu":
            a, b = h.chunk(2, dim=-1)
            h = F.silu(a) * b
        else:
            h = F.relu(h) if self.activation == "relu" else F.gelu(h)
        return self.down(h)


class TransformerBlock(nn.Module):
    """A pre-norm decoder layer: ``x + attention(norm(x))`` (none without heads), then ``x + ffn(norm(x))``.

    Args:
        width: Model width.
        heads: Attention heads; 0 for a layer without attention.
        ratio: Feed-forward ratio.
        activation: ``relu``, ``gelu`` or ``swiglu``.
    """

    def __init__(self, width: int, heads: int, ratio: int, activation: str) -> None:
        """Make the layer's modules."""
        super().__init__()
        self.attention_norm = nn.LayerNorm(width) if heads else None
        self.attention = CausalSelfAttention(width, heads) if heads else None
        self.ffn_norm = nn.LayerNorm(width)
        self.ffn = FeedForward(width, ratio, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, L, width)`` to ``(N, L, width)``."""
        if self.attention is not None:
            x = x + self.attention(self.attention_norm(x))
        return x + self.ffn(self.ffn_norm(x))


class TransformerLM(nn.Module):
    """A decoder-only language model: embeddings, the layers, a final norm and the output head.

    Args:
        vocab_size: Number of token ids (inputs and outputs).
        context: Longest window it reads.
        width: Model width.
        layers: ``(heads, ffn_ratio, activation)`` per layer, first to last.
        tie_embeddings: The head's weight is the token embedding's.

    Attributes:
        vocab_size: As given; marks a network that reads token ids (:func:`nas_gym.utils.inputs.token_vocab`).
        context: As given.
    """

    def __init__(self, vocab_size: int, context: int, width: int, layers: Sequence[tuple[int, int, str]],
                 tie_embeddings: bool = True) -> None:
        """Make the modules and initialise them as GPT-2 does."""
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.context = int(context)
        self.embed = Embeddings(vocab_size, context, width)
        self.blocks = nn.ModuleList(TransformerBlock(width, h, r, a) for h, r, a in layers)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=INIT_STD)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        # Residual branches add up over the depth: scale their output projections down (GPT-2).
        residual_std = INIT_STD / math.sqrt(2 * max(1, len(self.blocks)))
        for block in self.blocks:
            nn.init.normal_(block.ffn.down.weight, std=residual_std)
            if block.attention is not None:
                nn.init.normal_(block.attention.proj.weight, std=residual_std)
        if tie_embeddings:
            self.head.weight = self.embed.token.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map token ids ``(N, L)``, ``L <= context``, to next-token logits ``(N, L, vocab_size)``."""
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))
