"""The supernet of the ``transformer`` space: one weight-entangled decoder whose sub-transformers share leading slices.

As in AutoFormer (Chen et al. 2021) and HAT (Wang et al. 2020), the supernet
is the largest decoder of the space (its most layers, widest model, most
heads, largest feed-forward ratio), and a sub-transformer uses the *leading*
slices of its weights: width ``d`` takes the first ``d`` columns of the
token and position embeddings, the first ``d`` rows and columns of every
projection, the first ``d`` entries of every layer norm; a feed-forward
ratio ``r`` takes the first ``r d`` hidden units; the query, key and value
blocks are each sliced to ``d`` and split into the layer's heads; a layer
without attention skips its attention sub-block, and a depth ``n`` runs the
first ``n`` layers. The activation is chosen per layer (parameter-free);
SwiGLU gates the hidden layer with the leading slice of a second input
matrix (``silu(up x) * gate x``), so ``up`` is shared by all three
activations. The output head is the sliced token embedding (tied, the
space's default) or a sliced head of its own.

So a path computes exactly what the stand-alone network of the space
computes with the sliced weights copied in (:meth:`TransformerSupernet.subnet_state_dict`
gives them in the stand-alone network's names; a test checks the outputs agree).

Single paths only (the ``supernet`` evaluator, SPOS, RSPS, ENAS): there is
no mixed (DARTS) relaxation of the width and depth choices here, and no
alphas. Training draws paths by the sandwich rule
(:meth:`TransformerSupernet.sandwich_paths`; the evaluator's
``sampling="sandwich"``): each update trains the largest network, the
smallest and a random one on the same batch (Yu et al. 2020, BigNAS;
AutoFormer), so the slices every sub-network shares are trained with the
largest and the smallest alike.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas_gym.error import ConfigError
from nas_gym.spaces.base import Architecture, SearchSpace
from nas_gym.spaces.transformer import _INIT_STD
from nas_gym.supernets.base import OpLatencies, Supernet
from nas_gym.tasks.base import Task


class _SuperBlock(nn.Module):
    """One decoder layer at the largest width, heads and feed-forward ratio (the weights every slice reads)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ffn_norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, hidden)
        # SwiGLU's second input matrix; relu and gelu layers leave it alone.
        self.gate = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)

    def qkv_slices(self, d: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight ``(3d, d)`` and bias ``(3d,)``: the leading ``d`` rows of each of the query, key and value blocks."""
        full = self.qkv.out_features // 3
        weight = self.qkv.weight.view(3, full, full)[:, :d, :d].reshape(3 * d, d)
        return weight, self.qkv.bias.view(3, full)[:, :d].reshape(3 * d)

    def forward(self, x: torch.Tensor, heads: int, ratio: int, activation: str) -> torch.Tensor:
        """The layer at the width of ``x``, as :class:`nas_gym.spaces.transformer.TransformerBlock` computes it."""
        n, length, d = x.shape
        if heads:
            h = F.layer_norm(x, (d,), self.attention_norm.weight[:d], self.attention_norm.bias[:d],
                             self.attention_norm.eps)
            q, k, v = F.linear(h, *self.qkv_slices(d)).view(n, length, 3, heads, d // heads).permute(
                2, 0, 3, 1, 4).unbind(0)
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(n, length, d)
            x = x + F.linear(out, self.proj.weight[:d, :d], self.proj.bias[:d])
        hidden = ratio * d
        h = F.layer_norm(x, (d,), self.ffn_norm.weight[:d], self.ffn_norm.bias[:d], self.ffn_norm.eps)
        a = F.linear(h, self.up.weight[:hidden, :d], self.up.bias[:hidden])
        if activation == "swiglu":
            a = F.silu(a) * F.linear(h, self.gate.weight[:hidden, :d], self.gate.bias[:hidden])
        else:
            a = F.relu(a) if activation == "relu" else F.gelu(a)
        return x + F.linear(a, self.down.weight[:d, :hidden], self.down.bias[:d])


class TransformerSupernet(Supernet):
    """The largest decoder of a ``transformer`` space; each architecture runs on its leading slices.

    Initialised as the space's networks are (GPT-2's: normal, standard
    deviation 0.02; residual output projections over ``sqrt(2 * layers)`` of
    the largest depth). See the module docstring for the slicing.

    Args:
        space: A ``TransformerSpace``.
        task: A language-modelling task (windows of token ids).
        generator: Unused (there are no alphas); taken for :func:`nas_gym.supernets.make_supernet`'s signature.

    Raises:
        ConfigError: For a task that is not language modelling.
    """

    mixed = False

    def __init__(self, space: SearchSpace, task: Task, generator: torch.Generator) -> None:
        super().__init__(space, task)
        del generator
        space.check_task(task)
        cfg = space.config()
        self.cfg = cfg
        self.width = max(cfg["widths"])
        self.vocab_size, self.context = task.num_classes, task.input_shape[0]
        self.token = nn.Embedding(self.vocab_size, self.width)
        self.position = nn.Embedding(self.context, self.width)
        hidden = max(cfg["ffn_ratios"]) * self.width
        self.blocks = nn.ModuleList(_SuperBlock(self.width, hidden) for _ in range(space.num_layers))
        self.norm = nn.LayerNorm(self.width)
        self.head = None if cfg["tie_embeddings"] else nn.Linear(self.width, self.vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=_INIT_STD)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        residual_std = _INIT_STD / math.sqrt(2 * space.num_layers)
        for block in self.blocks:
            nn.init.normal_(block.down.weight, std=residual_std)
            nn.init.normal_(block.proj.weight, std=residual_std)
        # Every decision is a slice or a per-layer switch of these weights: none is fixed, none has an alpha.
        self.excluded = {}

    @property
    def device(self) -> torch.device:
        """Where the supernet's weights are (after ``.to(device)``)."""
        return self.token.weight.device

    def forward(self, x: torch.Tensor, skip_drop: float = 0.0, path: Architecture | None = None) -> torch.Tensor:
        """Next-token logits ``(N, L, vocab)`` of ``path``'s sub-transformer on token ids ``(N, L)``.

        Raises:
            ConfigError: Without a path: this supernet has no mixed (DARTS) relaxation.
        """
        if path is None:
            raise ConfigError("The transformer supernet runs single paths only (evaluator='supernet', spos, rsps, "
                              "enas): it has no mixed relaxation of widths and depths for DARTS.")
        d = self.space.width(path)
        h = self.token.weight[:, :d][x] + self.position.weight[: x.shape[1], :d]
        for block, layer in zip(self.blocks, self.space.layers(path), strict=False):
            h = block(h, layer["heads"], layer["ffn"], layer["activation"])
        h = F.layer_norm(h, (d,), self.norm.weight[:d], self.norm.bias[:d], self.norm.eps)
        head = self.token.weight if self.head is None else self.head.weight
        return F.linear(h, head[:, :d])

    @torch.no_grad()
    def recalibrate(self, path: Architecture, batches: list[torch.Tensor]) -> None:
        """Nothing to recompute (layer norms keep no statistics); leaves the supernet in eval mode."""
        del path, batches
        self.eval()

    def expected_latency_ms(self, latency: OpLatencies) -> torch.Tensor:
        """Not defined: there is no relaxation to take an expectation under.

        Raises:
            ConfigError: Always.
        """
        raise ConfigError("The transformer supernet has no architecture distribution (no alphas) to take an "
                          "expected latency under; DARTS does not run on the transformer space.")

    # -- the sandwich rule -----------------------------------------------------------------
    def _extreme(self, largest: bool, rng: np.random.Generator) -> Architecture:
        """The largest (or smallest) network of the space, its per-layer activations drawn from ``rng``."""
        pick = max if largest else min
        cfg = self.cfg
        depth = pick(cfg["depths"])
        heads, ratio = pick(cfg["heads"]), pick(cfg["ffn_ratios"])
        head_token = f"h{heads}" if heads else "noattn"
        acts = [cfg["activations"][int(i)] for i in rng.integers(0, len(cfg["activations"]), size=depth)]
        return self.space.from_string("|".join([f"w{pick(cfg['widths'])}",
                                                *(f"{head_token}-r{ratio}-{a}" for a in acts)]))

    def sandwich_paths(self, rng: np.random.Generator) -> list[Architecture]:
        """The largest network, the smallest and one drawn uniformly (``space.sample``), for one update.

        Largest and smallest take every size at its extreme (depth, width,
        heads, feed-forward ratio; no attention is the fewest heads); the
        activation is not a size, so each of their layers draws one.
        """
        return [self._extreme(True, rng), self._extreme(False, rng), self.space.sample(rng)]

    # -- the stand-alone network's weights ----------------------------------------------------
    @torch.no_grad()
    def subnet_state_dict(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """``arch``'s sliced weights under the names of ``space.build(arch, task)``'s state dict (copies).

        Loading them into the stand-alone network makes it compute what the
        supernet's path computes (inherited weights, as AutoFormer's
        sub-networks before retraining).
        """
        d = self.space.width(arch)
        state = {"embed.token.weight": self.token.weight[:, :d], "embed.position.weight": self.position.weight[:, :d],
                 "norm.weight": self.norm.weight[:d], "norm.bias": self.norm.bias[:d],
                 "head.weight": (self.token.weight if self.head is None else self.head.weight)[:, :d]}
        for i, (block, layer) in enumerate(zip(self.blocks, self.space.layers(arch), strict=False)):
            p, hidden = f"blocks.{i}.", layer["ffn"] * d
            if layer["heads"]:
                weight, bias = block.qkv_slices(d)
                state.update({
                    p + "attention_norm.weight": block.attention_norm.weight[:d],
                    p + "attention_norm.bias": block.attention_norm.bias[:d],
                    p + "attention.qkv.weight": weight, p + "attention.qkv.bias": bias,
                    p + "attention.proj.weight": block.proj.weight[:d, :d],
                    p + "attention.proj.bias": block.proj.bias[:d],
                })
            up_w, up_b = block.up.weight[:hidden, :d], block.up.bias[:hidden]
            if layer["activation"] == "swiglu":
                # The stand-alone block computes silu(first half) * second half of one ``up`` matrix.
                up_w = torch.cat([up_w, block.gate.weight[:hidden, :d]])
                up_b = torch.cat([up_b, block.gate.bias[:hidden]])
            state.update({
                p + "ffn_norm.weight": block.ffn_norm.weight[:d], p + "ffn_norm.bias": block.ffn_norm.bias[:d],
                p + "ffn.up.weight": up_w, p + "ffn.up.bias": up_b,
                p + "ffn.down.weight": block.down.weight[:d, :hidden], p + "ffn.down.bias": block.down.bias[:d],
            })
        return {k: v.detach().clone() for k, v in state.items()}
