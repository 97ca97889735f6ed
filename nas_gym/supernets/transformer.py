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

Single paths (the ``supernet`` evaluator, SPOS, RSPS, ENAS): ``forward(x, path=arch)``. Training draws
paths by the sandwich rule (:meth:`TransformerSupernet.sandwich_paths`; the evaluator's
``sampling="sandwich"``): each update trains the largest network, the
smallest and a random one on the same batch (Yu et al. 2020, BigNAS;
AutoFormer), so the slices every sub-network shares are trained with the
largest and the smallest alike.

The DARTS relaxation (:meth:`TransformerSupernet.relax`, which
:mod:`baselines.darts` calls) relaxes the per-layer choices only. Width and
depth are *not* relaxed: a mixture of leading slices of different widths or
of different depths has no clean continuous form, so the relaxed network has
one fixed width and depth (DARTS's ``width``, default the lower median of the
space's widths, 64 of 32..128; ``depth``, default the largest, 4), which the
derived architecture keeps. Per layer ``i`` within that depth, each decision
gets an ``alpha`` and its ``softmax`` weights ``p`` mix the choices exactly
as the expectation of the layer's output over them:

- heads: ``x + sum_h p_h * attn_h(norm(x))`` over ``{none, 1, 2, 4}``,
  ``none`` contributing zero (a zero op; its weight still takes its share);
  every head count reads the same query, key, value and output projections,
  split into ``h`` heads (one qkv and one output matmul, one attention per head count);
- feed-forward ratio: the ratios are leading slices of one hidden layer, so
  the mixture is one feed-forward block whose hidden unit ``j`` is scaled by
  the sum of ``p_r`` over the ratios ``r`` with ``r d > j``;
- activation: ``sum_a p_a * act_a(up x)`` elementwise (``relu``, ``gelu``,
  and ``swiglu`` = ``silu(up x) * gate x``).

At one-hot alphas the relaxed network computes the single path of the
derived architecture. A layer without attention is the parameter-free
choice that DARTS's skip remedies and collapse report count (``max_skip``
caps such layers); it outputs zero, so ``skip_drop`` has nothing to drop.
The expected latency under the alphas sums the per-operation table's
embedding, head and, per layer, every ``(heads, ratio, activation)`` block
weighted by the product of their probabilities (the decisions are independent softmaxes).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas_gym.error import ConfigError
from nas_gym.networks.transformer import INIT_STD
from nas_gym.spaces.base import Architecture, SearchSpace
from nas_gym.spaces.transformer import FIELDS
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
        """The layer at the width of ``x``, as :class:`nas_gym.networks.transformer.TransformerBlock` computes it."""
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

    def mixed(
        self,
        x: torch.Tensor,
        heads: Sequence[tuple[int, torch.Tensor]],
        ratios: Sequence[tuple[int, torch.Tensor]],
        activations: Sequence[tuple[str, torch.Tensor]],
    ) -> torch.Tensor:
        """The layer's output mixed over its choices, each ``(choice, weight)`` (the module docstring's relaxation).

        Args:
            x: ``(N, L, d)`` at the relaxed width ``d``.
            heads: Head counts (0: no attention) and their weights.
            ratios: Feed-forward ratios and their weights.
            activations: Activations and their weights.
        """
        n, length, d = x.shape
        attention = [(h, w) for h, w in heads if h]
        if attention:
            h = F.layer_norm(x, (d,), self.attention_norm.weight[:d], self.attention_norm.bias[:d],
                             self.attention_norm.eps)
            qkv = F.linear(h, *self.qkv_slices(d))
            out = torch.zeros_like(x)
            for count, w in attention:
                q, k, v = qkv.view(n, length, 3, count, d // count).permute(2, 0, 3, 1, 4).unbind(0)
                att = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(n, length, d)
                out = out + w * att
            # The output projection is linear, so one matmul serves every head count; its bias is
            # weighted by the probability of attending at all (no attention adds nothing, not even the bias).
            mass = sum(w for _, w in attention)
            x = x + F.linear(out, self.proj.weight[:d, :d]) + mass * self.proj.bias[:d]
        hidden = max(r for r, _ in ratios) * d
        h = F.layer_norm(x, (d,), self.ffn_norm.weight[:d], self.ffn_norm.bias[:d], self.ffn_norm.eps)
        a = F.linear(h, self.up.weight[:hidden, :d], self.up.bias[:hidden])
        mixed = torch.zeros_like(a)
        for activation, w in activations:
            if activation == "swiglu":
                act = F.silu(a) * F.linear(h, self.gate.weight[:hidden, :d], self.gate.bias[:hidden])
            else:
                act = F.relu(a) if activation == "relu" else F.gelu(a)
            mixed = mixed + w * act
        # Ratio r keeps the first r*d hidden units: unit j carries the weight of every ratio that keeps it.
        unit = torch.arange(hidden, device=x.device)
        scale = sum(w * (unit < r * d).to(a.dtype) for r, w in ratios)
        return x + F.linear(mixed * scale, self.down.weight[:d, :hidden], self.down.bias[:d])


class TransformerSupernet(Supernet):
    """The largest decoder of a ``transformer`` space; each architecture runs on its leading slices.

    Initialised as the space's networks are (GPT-2's: normal, standard
    deviation 0.02; residual output projections over ``sqrt(2 * layers)`` of
    the largest depth). See the module docstring for the slicing.

    Built for single paths (:attr:`mixed` False, no alphas); :meth:`relax`
    adds the DARTS relaxation of the per-layer choices at a fixed width and
    depth (the module docstring says what is relaxed and what is not).

    Args:
        space: A ``TransformerSpace``.
        task: A language-modelling task (windows of token ids).
        generator: Unused (the alphas come with :meth:`relax`); taken for
            :func:`nas_gym.supernets.make_supernet`'s signature.

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
                nn.init.normal_(module.weight, std=INIT_STD)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        residual_std = INIT_STD / math.sqrt(2 * space.num_layers)
        for block in self.blocks:
            nn.init.normal_(block.down.weight, std=residual_std)
            nn.init.normal_(block.proj.weight, std=residual_std)
        # For single paths every decision is a slice or a per-layer switch of these weights: none is fixed,
        # none has an alpha. relax() fixes the width and depth and gives the per-layer decisions alphas.
        self.excluded = {}
        self.relaxed_width: int | None = None
        self.relaxed_depth: int | None = None

    def relax(self, generator: torch.Generator, *, width: int | None = None,
              depth: int | None = None) -> TransformerSupernet:
        """Give each per-layer decision within ``depth`` an alpha, at a fixed ``width`` and ``depth`` (DARTS).

        After it, :attr:`mixed` is True, ``forward(x)`` (no path) is the
        relaxed network and :meth:`expected_latency_ms` its expected latency.
        The width and depth decisions (and the fields of the slots past the
        depth, at their first choice) are :attr:`fixed`; a layer without
        attention is each heads decision's skip choice.

        Args:
            generator: Draws the initial alphas (``ALPHAINIT_STD * randn``, in decision order).
            width: The fixed model width, one of the space's; None: the lower median of its widths.
            depth: The fixed number of layers, one of the space's; None: the largest.

        Returns:
            This supernet.

        Raises:
            ConfigError: A width or depth that is not a choice of the space, or a second call.
        """
        if self.mixed:
            raise ConfigError("This transformer supernet is relaxed already; build a new one for other settings.")
        space = self.space
        widths, depths = sorted(space.widths), sorted(space.depths)
        width = widths[(len(widths) - 1) // 2] if width is None else width
        depth = depths[-1] if depth is None else depth
        for what, value, choices in (("width", width, widths), ("depth", depth, depths)):
            if value not in choices:
                raise ConfigError(f"DARTS on the transformer space searches at a fixed {what}, one of the space's: "
                                  f"{', '.join(map(str, choices))}; got {what}={value!r}.")
        index = {d.name: k for k, d in enumerate(space.decisions)}
        fixed = {name: choice for name, choice in (("model/layers", space.depths.index(depth)),
                                                   ("model/width", space.widths.index(width))) if name in index}
        searched = []
        for slot in range(space.num_layers):
            for field in FIELDS:
                name = f"layer{slot}/{field}"
                if name not in index:  # a field with one choice is no decision
                    continue
                if slot < depth:
                    searched.append(index[name])
                else:
                    fixed[name] = 0  # past the depth: the mask's only choice
        self.fixed = {index[name]: c for name, c in fixed.items()}
        self._init_alphas(searched, generator)
        self.excluded = {k: frozenset() for k in searched}
        if 0 in space.heads:
            heads_at = space.heads.index(0)
            self.skip_choices = {k: heads_at for k in searched if space.decisions[k].name.endswith("/heads")}
        self.relaxed_width, self.relaxed_depth = width, depth
        self.mixed = True
        return self

    def layer_weights(self) -> list[dict[str, list[tuple[int | str, torch.Tensor]]]]:
        """Per relaxed layer, per field, its values with their softmax weights (1 for a field with one choice)."""
        probs = self.probs()
        index = {d.name: k for k, d in enumerate(self.space.decisions)}
        values = {"heads": self.space.heads, "ffn": self.space.ffn_ratios, "activation": self.space.activations}
        one = torch.ones((), device=self.device)
        layers = []
        for slot in range(self.relaxed_depth or 0):
            layer = {}
            for field in FIELDS:
                k = index.get(f"layer{slot}/{field}")
                weights = [one] if k is None else probs[k].unbind(0)
                layer[field] = list(zip(values[field], weights, strict=True))
            layers.append(layer)
        return layers

    @property
    def device(self) -> torch.device:
        """Where the supernet's weights are (after ``.to(device)``)."""
        return self.token.weight.device

    def forward(self, x: torch.Tensor, skip_drop: float = 0.0, path: Architecture | None = None) -> torch.Tensor:
        """Next-token logits ``(N, L, vocab)`` on token ids ``(N, L)``: of ``path``'s sub-transformer, or relaxed.

        Without a path (after :meth:`relax` only), the relaxed network at the
        fixed width and depth, each layer mixed under the alphas' softmaxes.
        ``skip_drop`` is unused: no choice here has an output to drop.

        Raises:
            ConfigError: Without a path before :meth:`relax`.
        """
        del skip_drop
        if path is None and not self.mixed:
            raise ConfigError("This transformer supernet runs single paths only (evaluator='supernet', spos, rsps, "
                              "enas): pass path=arch, or call relax() for DARTS's relaxation of the per-layer "
                              "choices (width and depth are not relaxed).")
        d = self.relaxed_width if path is None else self.space.width(path)
        h = self.token.weight[:, :d][x] + self.position.weight[: x.shape[1], :d]
        if path is None:
            for block, w in zip(self.blocks, self.layer_weights(), strict=False):
                h = block.mixed(h, w["heads"], w["ffn"], w["activation"])
        else:
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
        """Expected latency in ms under the alphas (differentiable), from ``latency``'s per-operation table.

        The embeddings and the head at the fixed width, plus per layer the
        latency of each ``(heads, ratio, activation)`` block (the keys of
        ``space.op_keys``) times the product of the three choices'
        probabilities; at one-hot alphas, the op table's latency of the
        derived architecture.

        Raises:
            ConfigError: Before :meth:`relax` (no alphas to take an expectation under).
        """
        if not self.mixed:
            raise ConfigError("This transformer supernet runs single paths only: it has no alphas to take an "
                              "expected latency under until relax() (DARTS) relaxes its per-layer choices.")
        vocab, context, d = self.vocab_size, self.context, self.relaxed_width
        total = torch.zeros((), device=self.device)
        for kind in ("transformer/embed", "transformer/head"):
            total = total + latency.op_latency_ms((kind, vocab, context, d))
        for w in self.layer_weights():
            for (h, ph), (r, pr), (a, pa) in itertools.product(w["heads"], w["ffn"], w["activation"]):
                total = total + ph * pr * pa * latency.op_latency_ms(("transformer/block", context, d, h, r, a))
        return total

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
