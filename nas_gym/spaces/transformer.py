"""The transformer search space: decoder-only language models, heterogeneous per layer.

Two global decisions -- the number of layers and the model width -- and, per
layer slot, the attention heads (or no attention: a feed-forward-only
layer), the feed-forward ratio and the activation (ReLU, GELU or SwiGLU), as
in the per-layer spaces of HAT and AutoFormer. The networks are GPT-style
decoders: token and learned position embeddings, pre-norm blocks with causal
self-attention (``torch.nn.functional.scaled_dot_product_attention`` with
``is_causal=True``), a final layer norm and an output head tied to the token
embedding (or not). They build for the language-modelling tasks
(:mod:`nas_gym.tasks.text`): int64 windows of token ids in, logits for the
next token at every position out.

Depth is a decision, so the slots past it are "don't care": the env's mask
lets each of their fields take only its first choice, every network has
exactly one index tuple, and the string form lists only the layers that
exist: ``w64|h2-r4-gelu|noattn-r1-relu`` is a width-64 model of two layers,
the first with two-head attention and a feed-forward ratio 4, the second with
no attention. The models themselves are :mod:`nas_gym.networks.transformer`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError, did_you_mean
from nas_gym.spaces.base import Architecture, Decision
from nas_gym.spaces.layers import _ints, _names
from nas_gym.spaces.slots import SlotReader
from nas_gym.tasks.base import Task
from nas_gym.utils.lazy import moved_names

if TYPE_CHECKING:
    from torch import nn

DEPTHS = (1, 2, 3, 4)
WIDTHS = (32, 64, 96, 128)
#: Attention heads per layer; 0 is no attention (the layer is its feed-forward block alone).
HEADS = (0, 1, 2, 4)
FFN_RATIOS = (1, 2, 4)
ACTIVATIONS = ("relu", "gelu", "swiglu")
# Field order inside a slot: the order of the slot's decisions and of its string tokens.
FIELDS = ("heads", "ffn", "activation")
_FIELD_HELP = "heads-ratio-activation, e.g. 'h2-r4-gelu' or 'noattn-r1-relu'"
_NO_ATTENTION = "noattn"
# The network's classes lived here until the space was split from its torch modules.
__getattr__ = moved_names(__name__, "nas_gym.networks.transformer",
                          ("Embeddings", "CausalSelfAttention", "FeedForward", "TransformerBlock", "TransformerLM"))


class TransformerSpace(SlotReader):
    """Decoder-only transformers: a depth, a width, and per layer its heads, feed-forward ratio and activation.

    The decisions, in order and only where they have two or more choices:
    ``model/layers`` (depth), ``model/width``, then per slot ``i`` of
    ``max(depths)``: ``layer{i}/heads`` (``none`` for no attention),
    ``layer{i}/ffn`` (hidden width over model width) and
    ``layer{i}/activation``.

    A layer is pre-norm: ``x + attention(norm(x))`` (left out without
    heads), then ``x + ffn(norm(x))``. The feed-forward block is
    ``Linear(d, r d)``, the activation, ``Linear(r d, d)``; SwiGLU gates the
    hidden layer (``silu(a) * b``, a second ``d x r d`` input matrix, so its
    block holds 1.5 times the parameters). There is no dropout: a search
    trains each network briefly. Weights start as GPT-2's (normal, standard
    deviation 0.02; the residual output projections 0.02 / sqrt(2 * depth)).

    Masks (``valid_choices``): the fields of the slots at and past the depth
    take only their first choice; the depth and width are unmasked.

    Canonical form (:meth:`canonical`): every field of a slot past the
    depth at its first choice (which the masks already require of a valid
    architecture), so a repaired index tuple and the string form agree.

    Args:
        depths: Layer counts to choose from (positive integers); there are ``max(depths)`` slots.
        widths: Model widths (positive integers); each must be divisible by every head count.
        heads: Attention heads per layer (non-negative integers; 0 is no attention).
        ffn_ratios: Feed-forward hidden width over model width (positive integers).
        activations: From ``relu``, ``gelu``, ``swiglu``.
        tie_embeddings: Share the output head's weight with the token embedding (GPT-2's choice).

    Raises:
        ConfigError: For an unknown name or an impossible value.

    Example:
        >>> space = TransformerSpace()
        >>> arch = space.from_string("w64|h2-r4-gelu|noattn-r1-relu")
        >>> space.depth(arch), space.width(arch), space.slot_values(arch, 1)
        (2, 64, {'heads': 0, 'ffn': 1, 'activation': 'relu'})
        >>> str(arch) == "w64|h2-r4-gelu|noattn-r1-relu"
        True
    """

    name = "transformer"
    FIELDS = FIELDS

    def __init__(
        self,
        depths: Sequence[int] = DEPTHS,
        widths: Sequence[int] = WIDTHS,
        heads: Sequence[int] = HEADS,
        ffn_ratios: Sequence[int] = FFN_RATIOS,
        activations: Sequence[str] = ACTIVATIONS,
        tie_embeddings: bool = True,
    ) -> None:
        """Check the configuration and lay out the decisions."""
        self.depths = _ints("depth", depths, lambda v: v >= 1, "an integer >= 1")
        self.widths = _ints("width", widths, lambda v: v >= 1, "an integer >= 1")
        self.heads = _ints("head count", heads, lambda v: v >= 0, "an integer >= 0 (0: no attention)")
        self.ffn_ratios = _ints("ffn ratio", ffn_ratios, lambda v: v >= 1, "an integer >= 1")
        self.activations = _names("activation", activations, ACTIVATIONS)
        if not isinstance(tie_embeddings, (bool, np.bool_)):
            raise ConfigError(f"tie_embeddings must be True or False, got {tie_embeddings!r}.")
        self.tie_embeddings = bool(tie_embeddings)
        for w in self.widths:
            bad = [h for h in self.heads if h and w % h]
            if bad:
                raise ConfigError(f"Width {w} is not divisible by head count(s) {bad}: every width must split evenly "
                                  "into every number of heads. Change widths or heads.")
        self.num_layers = max(self.depths)
        self._index_fields({"heads": self.heads, "ffn": self.ffn_ratios, "activation": self.activations})
        globals_ = [Decision(n, tuple(str(v) for v in values)) for n, values in
                    (("model/layers", self.depths), ("model/width", self.widths)) if len(values) >= 2]
        self._depth_pos = 0 if len(self.depths) >= 2 else None
        self._width_pos = (len(globals_) - 1) if len(self.widths) >= 2 else None
        self._slot_offset = len(globals_)
        self._global_valid = []
        for d in globals_:
            mask = np.ones(d.n, dtype=bool)
            mask.flags.writeable = False
            self._global_valid.append(mask)
        names = {"heads": tuple("none" if h == 0 else str(h) for h in self.heads),
                 "ffn": tuple(str(r) for r in self.ffn_ratios), "activation": self.activations}
        slots = tuple(Decision(f"layer{i}/{f}", names[f]) for i in range(self.num_layers) for f in self._fields)
        self.decisions = (*globals_, *slots)

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as plain data."""
        return {
            "depths": list(self.depths),
            "widths": list(self.widths),
            "heads": list(self.heads),
            "ffn_ratios": list(self.ffn_ratios),
            "activations": list(self.activations),
            "tie_embeddings": self.tie_embeddings,
        }

    # -- reading an architecture -----------------------------------------------------
    def depth(self, arch: Architecture | Sequence[int]) -> int:
        """Number of layers of ``arch`` (or of a prefix that holds the depth decision)."""
        idx = arch.indices if isinstance(arch, Architecture) else tuple(arch)
        return self.depths[idx[self._depth_pos]] if self._depth_pos is not None else self.depths[0]

    def width(self, arch: Architecture | Sequence[int]) -> int:
        """Model width of ``arch``."""
        idx = arch.indices if isinstance(arch, Architecture) else tuple(arch)
        return self.widths[idx[self._width_pos]] if self._width_pos is not None else self.widths[0]

    def layers(self, arch: Architecture) -> list[dict[str, Any]]:
        """The fields of each of ``arch``'s layers, first to last (the slots within its depth)."""
        return [self.slot_values(arch, s) for s in range(self.depth(arch))]

    # -- masks, equivalence, size --------------------------------------------------------
    def valid_choices(self, prefix: Sequence[int]) -> np.ndarray:
        """Boolean mask over the choices of decision ``len(prefix)`` (read-only).

        The fields of a slot at or past the depth take only their first choice.
        """
        k = len(prefix)
        if k < self._slot_offset:
            return self._global_valid[k]
        slot, pos = divmod(k - self._slot_offset, self._per_slot)
        field = self._fields[pos]
        return self._all_valid[field] if slot < self.depth(prefix) else self._first_valid[field]

    def canonical(self, arch: Architecture) -> Architecture:
        """``arch`` with every field of the slots past its depth at its first choice."""
        start = self._slot_offset + self.depth(arch) * self._per_slot
        return Architecture(self, (*arch.indices[:start], *[0] * (self.num_decisions - start)))

    def size(self) -> int:
        """Count the valid architectures in closed form: ``len(widths) * sum(per_layer ** depth)``."""
        per_layer = math.prod(len(self._values[f]) for f in self.FIELDS)
        return len(self.widths) * sum(per_layer**d for d in self.depths)

    # -- strings --------------------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        """``w{width}``, then one ``|``-separated part per layer; see :meth:`from_string`."""
        return "|".join([f"w{self.width(arch)}", *(_layer_token(v) for v in self.layers(arch))])

    def from_string(self, text: str) -> Architecture:
        """Parse ``w64|h2-r4-gelu|noattn-r1-relu``.

        The width (``w`` and the number), then one part per layer -- as many
        as the depth -- each ``{heads}-{ratio}-{activation}``: ``h{n}`` for
        ``n`` attention heads or ``noattn`` for none, ``r{n}`` for a
        feed-forward ratio ``n``, and ``relu``, ``gelu`` or ``swiglu``.

        Raises:
            ArchitectureError: Naming the bad part and token and the valid choices.
        """
        if not isinstance(text, str):
            raise ArchitectureError(f"Expected an architecture string, got {type(text).__name__} {text!r}.")
        parts = [p.strip() for p in text.strip().split("|")]
        example = self.to_string(self.sample(np.random.default_rng(0)))
        width_text, layers = parts[0], parts[1:]
        if not (width_text.startswith("w") and width_text[1:].isdigit()):
            raise ArchitectureError(f"Architecture {text!r} must start with the width, 'w' and a number, e.g. "
                                    f"{example!r}; got {width_text!r}.")
        width = int(width_text[1:])
        if width not in self.widths:
            raise ArchitectureError(f"Width {width} is not a choice of this space. Choices: "
                                    f"{', '.join(f'w{w}' for w in self.widths)}.")
        if len(layers) not in self.depths:
            raise ArchitectureError(f"Architecture {text!r} has {len(layers)} layer(s) after the width; this space "
                                    f"takes {', '.join(map(str, self.depths))}, e.g. {example!r}.")
        indices: list[int] = []
        if self._depth_pos is not None:
            indices.append(self.depths.index(len(layers)))
        if self._width_pos is not None:
            indices.append(self.widths.index(width))
        for s in range(self.num_layers):
            indices += self._parse_layer(layers[s], s) if s < len(layers) else [0] * self._per_slot
        return Architecture(self, tuple(indices))

    def _parse_layer(self, part: str, slot: int) -> list[int]:
        """The decisions' choice indices of one layer's text."""
        where = f"Layer {slot} {part!r}"
        tokens = part.split("-")
        if len(tokens) != len(FIELDS):
            raise ArchitectureError(f"{where}: expected {len(FIELDS)} tokens {_FIELD_HELP}; got {len(tokens)}.")
        heads_tok, ffn_tok, act = tokens
        heads = 0 if heads_tok == _NO_ATTENTION else _number(heads_tok, "h")
        ratio = _number(ffn_tok, "r")
        chosen = {
            "heads": _index(where, "heads", heads_tok, heads, self.heads, [_heads_token(h) for h in self.heads]),
            "ffn": _index(where, "ffn ratio", ffn_tok, ratio, self.ffn_ratios, [f"r{r}" for r in self.ffn_ratios]),
            "activation": _index(where, "activation", act, act, self.activations, list(self.activations)),
        }
        return [chosen[f] for f in self._fields]

    # -- networks ---------------------------------------------------------------------
    def check_task(self, task: Task) -> None:
        """Refuse a task that is not language modelling (windows of token ids).

        Raises:
            ConfigError: Naming the task and the tasks this space builds for.
        """
        if not task.is_language_model:
            raise ConfigError(
                f"Space 'transformer' builds language models over windows of token ids, but task {task.name!r} is a "
                f"{task.kind} task with inputs of shape {task.input_shape}. Use task='pydoc_topics' or task='text' "
                "(task_kwargs={'path': ...}), e.g. the env NAS-LM-v0."
            )

    def build(self, arch: Architecture, task: Task) -> nn.Module:
        """Build the language model: ``(N, L)`` token ids to ``(N, L, task.num_classes)`` next-token logits.

        Raises:
            ConfigError: For a task that is not language modelling (see :meth:`check_task`).
        """
        from nas_gym.networks.transformer import TransformerLM  # torch, needed only to build

        self.check_task(task)
        return TransformerLM(task.num_classes, task.input_shape[0], self.width(arch),
                             [(v["heads"], v["ffn"], v["activation"]) for v in self.layers(arch)],
                             tie_embeddings=self.tie_embeddings)

    def op_keys(self, arch: Architecture, task: Task) -> list[tuple]:
        """The embeddings, each layer and the head as per-op keys (for ``latency='op_table'``)."""
        self.check_task(task)
        vocab, context, width = task.num_classes, task.input_shape[0], self.width(arch)
        blocks = [("transformer/block", context, width, v["heads"], v["ffn"], v["activation"])
                  for v in self.layers(arch)]
        return [("transformer/embed", vocab, context, width), *blocks, ("transformer/head", vocab, context, width)]

    def build_op(self, key: tuple) -> tuple[nn.Module, tuple[int, ...]]:
        """Module and input shape (without batch) for one key of :meth:`op_keys`."""
        from torch import nn

        from nas_gym.networks.transformer import Embeddings, TransformerBlock  # torch, needed only to build

        kind, *args = key
        if kind == "transformer/embed":
            vocab, context, width = args
            return Embeddings(vocab, context, width), (context,)
        if kind == "transformer/block":
            context, width, heads, ratio, activation = args
            return TransformerBlock(width, heads, ratio, activation), (context, width)
        if kind == "transformer/head":
            vocab, context, width = args
            return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, vocab, bias=False)), (context, width)
        raise ConfigError(f"Unknown op key {key!r} for space 'transformer'.")


def _heads_token(heads: int) -> str:
    return _NO_ATTENTION if heads == 0 else f"h{heads}"


def _layer_token(v: dict[str, Any]) -> str:
    return f"{_heads_token(v['heads'])}-r{v['ffn']}-{v['activation']}"


def _number(tok: str, prefix: str) -> int | None:
    """The number of a token ``{prefix}{n}``, or None where it is not one."""
    return int(tok[len(prefix):]) if tok.startswith(prefix) and tok[len(prefix):].isdigit() else None


def _index(where: str, what: str, tok: str, value: Any, values: Sequence[Any], tokens: list[str]) -> int:
    """Index of ``value`` among ``values``; the error names the token and the choices."""
    if value is not None and value in values:
        return list(values).index(value)
    raise ArchitectureError(f"{where}: {what} {tok!r} is not a choice of this space.{did_you_mean(tok, tokens)} "
                            f"Choices: {', '.join(tokens)} (a layer is {_FIELD_HELP}).")
