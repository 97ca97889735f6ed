"""The layer-wise search space: a fixed skeleton of layer slots.

Each of ``num_layers`` slots chooses its operation (plain, depthwise-separable
or dilated convolution, max or average pooling, or identity = no layer), and
for it a width, kernel, activation, stride, normalisation, attention and an
optional residual connection -- the layer-wise space of the classic RL-NAS
papers. A field whose choice tuple has one entry is fixed and is not a
decision.

Masks make fields an operation ignores "don't care": they may only take their
first choice, so every network has exactly one index tuple. The string form
reads like ``conv3x3-32-relu|identity|sep_conv5x5-64-gelu-skip|max_pool3x3``.

The space is the encoding alone and imports no torch; its network is
:mod:`nas_gym.networks.layers`, imported when the space builds one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError, did_you_mean, unknown_name
from nas_gym.spaces.base import Architecture, Decision, check_not_language_model
from nas_gym.spaces.slots import SlotReader
from nas_gym.tasks.base import Task
from nas_gym.utils.lazy import moved_names

if TYPE_CHECKING:
    from torch import nn

CONV_OPS = ("conv", "sep_conv", "dil_conv")
POOL_OPS = ("max_pool", "avg_pool")
OPS = (*CONV_OPS, *POOL_OPS, "identity")
ACTIVATIONS = ("relu", "relu6", "swish", "gelu", "elu", "tanh", "sigmoid")
NORMS = ("none", "batch", "layer", "group")
ATTENTIONS = ("none", "se")

# Field order inside a slot; also the order of the slot's decisions.
FIELDS = ("op", "filters", "kernel", "activation", "stride", "norm", "attention", "skip")
# Fields that only convolutions use; pooling and identity ignore them.
_CONV_ONLY = frozenset({"filters", "activation", "norm", "attention"})
_HEAD_RE = re.compile(r"^([a-z_]+?)(\d+)x(\d+)$")
# The network's classes lived here until the space was split from its torch modules.
__getattr__ = moved_names(__name__, "nas_gym.networks.layers",
                          ("NdLayers", "nd_layers", "SqueezeExcite", "Slot", "Head", "make_slot", "LayersNet"))


def check_spatial_task(space: str, task: Task) -> None:
    """Refuse a task of feature vectors ``(D,)`` for the convolutional space named ``space``.

    Its networks are classifiers (global pooling into class logits), so a regression task is refused too.

    Raises:
        ConfigError: If ``task.spatial_dims == 0``, naming the task and suggesting ``space="mlp"``, or if
            ``task`` is a regression task, suggesting the recurrent spaces.
    """
    check_not_language_model(space, task)
    if task.is_regression:
        raise ConfigError(
            f"Space {space!r} builds convolutional classifiers, but task {task.name!r} is a regression task. "
            "Use space='rnn_cell' (NAS-RNN-v0), 'rnn_layers' or 'mlp' for it."
        )
    if task.spatial_dims == 0:
        raise ConfigError(
            f"Space {space!r} builds convolutional networks for signals (C, L) or images (C, H, W), but task "
            f"{task.name!r} has feature vectors of shape {task.input_shape}. Use space='mlp' for vector inputs."
        )


def _out_size(spatial: tuple[int, ...], stride: int) -> tuple[int, ...]:
    # "Same" padding with odd kernels gives ceil(n / stride), which never drops below 1.
    return tuple(-(-n // stride) for n in spatial)




def _names(kind: str, given: Sequence[Any], known: Sequence[str]) -> tuple[str, ...]:
    out = _nonempty(kind, given)
    for name in out:
        if name not in known:
            raise unknown_name(kind, name, known)
    return out


def _nonempty(kind: str, given: Sequence[Any]) -> tuple[Any, ...]:
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise ConfigError(f"{kind}s must be a list of choices, got {given!r}. Pass e.g. [{given!r}].")
    out = tuple(given)
    if not out:
        raise ConfigError(f"{kind}s must list at least one choice, got an empty list.")
    if len(set(out)) != len(out):
        raise ConfigError(f"{kind}s must not repeat a choice, got {list(out)}. Remove the duplicates.")
    return out


def _ints(kind: str, given: Sequence[Any], ok: Any, rule: str) -> tuple[int, ...]:
    out = _nonempty(kind, given)
    for v in out:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not ok(int(v)):
            raise ConfigError(f"Each {kind} must be {rule}, got {v!r} in {list(out)}.")
    return tuple(int(v) for v in out)


class LayersSpace(SlotReader):
    """A skeleton of ``num_layers`` layer slots, each a group of decisions.

    Per slot the decisions are, in this order and only where the field has
    two or more choices: ``op``, ``filters``, ``kernel``, ``activation``,
    ``stride``, ``norm``, ``attention``, ``skip``; they are named
    ``layer{i}/{field}``.

    Masks (``valid_choices``), computed from the prefix alone:

    - ``max_pool``/``avg_pool`` keep the channels and apply no norm,
      activation or attention, so ``filters``, ``activation``, ``norm`` and
      ``attention`` take only their first choice.
    - ``identity`` is no layer: every other field of the slot takes only its
      first choice (for ``skip`` that is ``no``).
    - ``skip=yes`` needs ``stride`` 1 and equal input and output channels.
      Pooling always keeps channels. A convolution's input channels are the
      ``filters`` of the last convolution before it; before the first
      convolution they are the task's, which the space does not know, so a
      convolution there never takes ``skip=yes``.

    Args:
        num_layers: Number of slots (at least 1).
        ops: Operation choices, from ``conv``, ``sep_conv``, ``dil_conv``,
            ``max_pool``, ``avg_pool``, ``identity``.
        filters: Output channel choices of convolutions (positive).
        kernels: Kernel size choices (odd, at least 1).
        activations: From ``relu``, ``relu6``, ``swish``, ``gelu``, ``elu``,
            ``tanh``, ``sigmoid``.
        strides: Stride choices, from 1 and 2.
        norms: From ``none``, ``batch``, ``layer`` (GroupNorm with one group)
            and ``group`` (GroupNorm with up to 4 groups).
        attentions: From ``none`` and ``se`` (squeeze-and-excitation).
        skip: Whether slots may add a residual connection.

    Raises:
        ConfigError: For an unknown name, an impossible value, or a
            configuration that leaves nothing to decide.

    Example:
        >>> space = LayersSpace(num_layers=3)
        >>> arch = space.from_string("identity|conv3x3-32-relu|max_pool3x3-skip")
        >>> str(space.canonical(arch))
        'conv3x3-32-relu|max_pool3x3-skip|identity'
    """

    name = "layers"
    FIELDS = FIELDS
    _CONV_CHOICES = CONV_OPS
    _POOL_CHOICES = POOL_OPS

    def __init__(
        self,
        num_layers: int = 4,
        ops: Sequence[str] = ("conv", "sep_conv", "dil_conv", "max_pool", "avg_pool", "identity"),
        filters: Sequence[int] = (16, 32, 64),
        kernels: Sequence[int] = (3, 5),
        activations: Sequence[str] = ("relu", "swish", "gelu"),
        strides: Sequence[int] = (1,),
        norms: Sequence[str] = ("batch",),
        attentions: Sequence[str] = ("none",),
        skip: bool = True,
    ) -> None:
        """Check the configuration and lay out the decisions."""
        if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ConfigError(f"num_layers must be an integer >= 1, got {num_layers!r}.")
        if not isinstance(skip, (bool, np.bool_)):
            raise ConfigError(f"skip must be True or False, got {skip!r}.")
        self.num_layers = int(num_layers)
        self.ops = _names("op", ops, OPS)
        self.filters = _ints("filter", filters, lambda v: v > 0, "a positive integer")
        self.kernels = _ints("kernel", kernels, lambda v: v >= 1 and v % 2 == 1, "an odd integer >= 1")
        self.activations = _names("activation", activations, ACTIVATIONS)
        self.strides = _ints("stride", strides, lambda v: v in (1, 2), "1 or 2")
        self.norms = _names("norm", norms, NORMS)
        self.attentions = _names("attention", attentions, ATTENTIONS)
        self.skip = bool(skip)

        has_conv = any(op in CONV_OPS for op in self.ops)
        has_layer = any(op != "identity" for op in self.ops)
        # skip=yes is possible around a stride-1 pooling, or around a stride-1
        # convolution that follows another convolution.
        skip_possible = 1 in self.strides and (
            any(op in POOL_OPS for op in self.ops) or (has_conv and self.num_layers >= 2)
        )
        # A field that can never matter keeps one value and is no decision, so every decision can be active.
        values: dict[str, tuple[Any, ...]] = {
            "op": self.ops,
            "filters": self.filters if has_conv else self.filters[:1],
            "kernel": self.kernels if has_layer else self.kernels[:1],
            "activation": self.activations if has_conv else self.activations[:1],
            "stride": self.strides if has_layer else self.strides[:1],
            "norm": self.norms if has_conv else self.norms[:1],
            "attention": self.attentions if has_conv else self.attentions[:1],
            "skip": (False, True) if self.skip and skip_possible else (False,),
        }
        self._index_fields(values)
        if not self._fields:
            raise ConfigError(
                f"This layers space has nothing to decide (ops={list(self.ops)}); "
                "give ops, filters, kernels, activations, strides, norms or attentions two or more choices."
            )
        self.decisions = tuple(
            Decision(f"layer{i}/{f}", tuple(_choice_name(f, v) for v in values[f]))
            for i in range(self.num_layers)
            for f in self._fields
        )

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as plain data."""
        return {
            "num_layers": self.num_layers,
            "ops": list(self.ops),
            "filters": list(self.filters),
            "kernels": list(self.kernels),
            "activations": list(self.activations),
            "strides": list(self.strides),
            "norms": list(self.norms),
            "attentions": list(self.attentions),
            "skip": self.skip,
        }

    # -- reading index tuples (_value and slot_values come from SlotReader) ------
    def _in_channels(self, indices: Sequence[int], slot: int) -> int | None:
        """Output channels of the last convolution before ``slot``; None before the first."""
        for s in range(slot - 1, -1, -1):
            if self._value(indices, s, "op") in CONV_OPS:
                return self._value(indices, s, "filters")
        return None

    # -- masks ----------------------------------------------------------------------
    def valid_choices(self, prefix: Sequence[int]) -> np.ndarray:
        """Boolean mask over the choices of decision ``len(prefix)`` (see the class docstring); read-only."""
        k = len(prefix)
        slot, field = divmod(k, self._per_slot)
        field = self._fields[field]
        if field == "op":
            return self._all_valid[field]
        op = self._value(prefix, slot, "op")
        first_only = self._first_valid[field]
        if op == "identity" or (op in POOL_OPS and field in _CONV_ONLY):
            return first_only
        if field != "skip":
            return self._all_valid[field]
        if self._value(prefix, slot, "stride") != 1:
            return first_only
        if op in POOL_OPS or self._in_channels(prefix, slot) == self._value(prefix, slot, "filters"):
            return self._all_valid[field]
        return first_only

    # -- equivalence and size --------------------------------------------------------
    def canonical(self, arch: Architecture) -> Architecture:
        """Move identity slots to the end, keeping the order of the others.

        An identity slot is no layer and keeps channels, so where it sits
        does not change the network; its other fields are masked to their
        first choice already.
        """
        p = self._per_slot
        blocks = [arch.indices[s * p : (s + 1) * p] for s in range(self.num_layers)]
        is_identity = [self._value(arch.indices, s, "op") == "identity" for s in range(self.num_layers)]
        ordered = [b for b, ident in zip(blocks, is_identity, strict=True) if not ident]
        ordered += [b for b, ident in zip(blocks, is_identity, strict=True) if ident]
        return Architecture(self, tuple(i for b in ordered for i in b))

    def size(self) -> int:
        """Count the valid architectures by dynamic programming over slots.

        The state between slots is the channel count a following convolution
        would see (None before the first convolution), which is all that the
        ``skip`` mask depends on.
        """
        v = self._values
        n_skip = len(v["skip"])
        counts: dict[int | None, int] = {None: 1}
        for _ in range(self.num_layers):
            nxt: dict[int | None, int] = {}
            for channels, ways in counts.items():
                for op in v["op"]:
                    if op == "identity":
                        nxt[channels] = nxt.get(channels, 0) + ways
                        continue
                    per_stride = sum(n_skip if s == 1 else 1 for s in v["stride"])
                    if op in POOL_OPS:
                        nxt[channels] = nxt.get(channels, 0) + ways * len(v["kernel"]) * per_stride
                        continue
                    fixed = len(v["kernel"]) * len(v["activation"]) * len(v["norm"]) * len(v["attention"])
                    for f in v["filters"]:
                        skips = per_stride if channels == f else len(v["stride"])
                        nxt[f] = nxt.get(f, 0) + ways * fixed * skips
            counts = nxt
        return sum(counts.values())

    # -- strings --------------------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        """Slots joined by ``|``; see :meth:`from_string` for the format."""
        parts = []
        for s in range(self.num_layers):
            val = self.slot_values(arch, s)
            op = val["op"]
            if op == "identity":
                parts.append("identity")
                continue
            tokens = [f"{op}{val['kernel']}x{val['kernel']}"]
            for f in self._fields:
                if f in ("op", "kernel", "skip") or (op in POOL_OPS and f in _CONV_ONLY):
                    continue
                tokens.append(_token(f, val[f]))
            if val["skip"]:
                tokens.append("skip")
            parts.append("-".join(tokens))
        return "|".join(parts)

    def from_string(self, text: str) -> Architecture:
        """Parse ``conv3x3-32-relu|identity|sep_conv5x5-64-gelu-skip|max_pool3x3``.

        One ``|``-separated part per slot: ``identity``, or ``{op}{k}x{k}``
        followed by ``-``-separated tokens in any order: filters as a number
        (``32``), an activation name (``relu``), ``s{stride}`` (``s2``),
        ``norm={name}``, ``att={name}`` and ``skip`` for a residual. A field
        that is a decision of this space and that the op uses must be given;
        fixed fields may be given if they match; fields the op ignores must
        be left out.

        Raises:
            ArchitectureError: Naming the bad part and what was expected.
        """
        if not isinstance(text, str):
            raise ArchitectureError(f"Expected an architecture string, got {type(text).__name__} {text!r}.")
        parts = text.strip().split("|")
        if len(parts) != self.num_layers:
            raise ArchitectureError(
                f"Architecture {text!r} has {len(parts)} slot(s) separated by '|'; this space has "
                f"{self.num_layers}, e.g. {self.to_string(self.sample(np.random.default_rng(0)))!r}."
            )
        indices: list[int] = []
        for s, part in enumerate(parts):
            given = self._parse_slot(part.strip(), s)
            for f in self._fields:
                indices.append(self._values[f].index(given.get(f, self._values[f][0])))
        for k in range(len(indices)):
            if not self.valid_choices(indices[:k])[indices[k]]:
                slot = k // self._per_slot
                raise ArchitectureError(
                    f"Slot {slot} {parts[slot].strip()!r} of {text!r}: {self._why_masked(indices, slot)}"
                )
        return Architecture(self, tuple(indices))

    def _why_masked(self, indices: Sequence[int], slot: int) -> str:
        """Explain the one mask a parsed slot can break: ``skip`` where shapes differ."""
        if self._value(indices, slot, "stride") != 1:
            return "skip needs stride 1 (a residual adds tensors of equal size); remove 'skip' or use 's1'."
        c_in, c_out = self._in_channels(indices, slot), self._value(indices, slot, "filters")
        if c_in is None:
            return (
                "skip needs equal input and output channels, and a first convolution's input channels are "
                "the task's, which the space does not know; remove 'skip'."
            )
        return (
            f"skip needs equal input and output channels, got {c_in} in and {c_out} out; remove 'skip' or use {c_in}."
        )

    def _parse_slot(self, part: str, slot: int) -> dict[str, Any]:
        where = f"Slot {slot} {part!r}"
        if part == "identity":
            given: dict[str, Any] = {"op": "identity"}
            self._check_op(given, where)
            return given
        tokens = part.split("-")
        if tokens[0] == "identity":
            raise ArchitectureError(f"{where}: identity is no layer and takes no other fields; write just 'identity'.")
        m = _HEAD_RE.match(tokens[0])
        if not m:
            raise ArchitectureError(
                f"{where}: expected 'identity' or '<op><k>x<k>' such as 'conv3x3' first, got {tokens[0]!r}."
                f"{did_you_mean(tokens[0], [*(o + '3x3' for o in OPS if o != 'identity'), 'identity'])}"
            )
        op, k1, k2 = m.group(1), int(m.group(2)), int(m.group(3))
        if k1 != k2:
            raise ArchitectureError(f"{where}: kernels are square, got {k1}x{k2}; write {k1}x{k1}.")
        given = {"op": op, "kernel": k1}
        self._check_op(given, where)
        for tok in tokens[1:]:
            field, value = _parse_token(tok, where)
            if field in given:
                raise ArchitectureError(f"{where}: {field} is given twice; keep one.")
            if op in POOL_OPS and field in _CONV_ONLY:
                raise ArchitectureError(f"{where}: {op} takes no {field} (it keeps channels); remove {tok!r}.")
            given[field] = value
        for field, value in given.items():
            if value not in self._values[field]:
                shown = ", ".join(_token(field, a) for a in self._values[field])
                raise ArchitectureError(
                    f"{where}: {field} {_token(field, value)!r} is not a choice of this space; choices: {shown}."
                )
        for field in self._fields:
            if field not in given and field != "skip" and not (op in POOL_OPS and field in _CONV_ONLY):
                shown = ", ".join(_token(field, a) for a in self._values[field])
                raise ArchitectureError(f"{where}: missing {field}; add one of {shown}.")
        return given

    def _check_op(self, given: dict[str, Any], where: str) -> None:
        op = given["op"]
        if op not in self.ops:
            raise ArchitectureError(
                f"{where}: unknown op {op!r}.{did_you_mean(op, self.ops)} This space's ops: {', '.join(self.ops)}."
            )

    # -- networks ---------------------------------------------------------------------
    def check_task(self, task: Task) -> None:
        """Refuse a task of feature vectors (``spatial_dims == 0``): use the ``mlp`` space for those.

        Raises:
            ConfigError: Naming the task and suggesting ``space="mlp"``.
        """
        check_spatial_task(self.name, task)

    def _layer_plan(self, arch: Architecture, task: Task) -> tuple[list[tuple], tuple]:
        """Per-slot keys (identity slots dropped) and the head key."""
        self.check_task(task)
        from nas_gym.networks.layers import nd_layers  # torch, needed only to build

        dims = task.spatial_dims
        nd_layers(dims)  # fail here, with the reason, for inputs that are neither 1-D nor 2-D
        channels, spatial = task.input_shape[0], tuple(task.input_shape[1:])
        keys: list[tuple] = []
        for s in range(self.num_layers):
            v = self.slot_values(arch, s)
            op = v["op"]
            if op == "identity":
                continue
            if op in POOL_OPS:
                c_out, act, norm, att = channels, "none", "none", "none"
            else:
                c_out, act, norm, att = v["filters"], v["activation"], v["norm"], v["attention"]
            dilation = 2 if op == "dil_conv" else 1
            keys.append(
                (
                    f"layers/{op}",
                    dims,
                    channels,
                    c_out,
                    v["kernel"],
                    v["stride"],
                    dilation,
                    act,
                    norm,
                    att,
                    int(v["skip"]),
                    *spatial,
                )
            )
            channels, spatial = c_out, _out_size(spatial, v["stride"])
        return keys, ("layers/head", dims, channels, task.num_classes, *spatial)

    def build(self, arch: Architecture, task: Task) -> nn.Module:
        """Build the network: the non-identity slots in order, then global pooling and a linear head.

        Uses ``Conv1d``/``Conv2d`` (and matching pools and norms) by
        ``task.spatial_dims``; convolutions and pools use "same" padding, so
        only stride-2 slots shrink the input (to ``ceil(n / 2)``, never below 1).

        Raises:
            ConfigError: For a task of feature vectors (see :meth:`check_task`).
        """
        from nas_gym.networks.layers import LayersNet  # torch, needed only to build

        keys, head = self._layer_plan(arch, task)
        return LayersNet([self.build_op(k)[0] for k in keys], self.build_op(head)[0])

    def op_keys(self, arch: Architecture, task: Task) -> list[tuple]:
        """One key per non-identity slot, then the head key.

        Slot keys are ``("layers/<op>", dims, c_in, c_out, kernel, stride,
        dilation, activation, norm, attention, skip, *spatial_in)``; pooling
        has ``c_out == c_in`` and ``"none"`` for activation, norm and
        attention. The head key is ``("layers/head", dims, channels,
        num_classes, *spatial_in)``.
        """
        keys, head = self._layer_plan(arch, task)
        return [*keys, head]

    def build_op(self, key: tuple) -> tuple[nn.Module, tuple[int, ...]]:
        """Build the module and input shape (without batch) for one key of :meth:`op_keys`.

        Raises:
            ConfigError: If ``key`` is not a key of this space.
        """
        from nas_gym.networks.layers import Head, make_slot  # torch, needed only to build

        name = key[0] if key and isinstance(key[0], str) else ""
        bad = ConfigError(
            f"Not a per-op key of the layers space: {key!r}. Expected a key from LayersSpace.op_keys, "
            "e.g. ('layers/conv', 2, 1, 32, 3, 1, 1, 'relu', 'batch', 'none', 0, 8, 8)."
        )
        try:
            if name == "layers/head":
                _, dims, channels, num_classes, *spatial = key
                if len(spatial) != dims:
                    raise bad
                return Head(dims, channels, num_classes), (channels, *spatial)
            if name.startswith("layers/"):
                _, dims, c_in, c_out, kernel, stride, _dilation, act, norm, att, skip, *spatial = key
                if len(spatial) != dims:
                    raise bad
                op = name[len("layers/") :]
                return make_slot(op, dims, c_in, c_out, kernel, stride, act, norm, att, bool(skip)), (c_in, *spatial)
        except (ValueError, TypeError, KeyError) as e:
            if isinstance(e, ConfigError):
                raise
            raise bad from e
        raise bad


def _choice_name(field: str, value: Any) -> str:
    if field == "skip":
        return "yes" if value else "no"
    return str(value)


def _token(field: str, value: Any) -> str:
    """Format one field value as its string token (see ``LayersSpace.from_string``)."""
    if field == "stride":
        return f"s{value}"
    if field == "norm":
        return f"norm={value}"
    if field == "attention":
        return f"att={value}"
    if field == "skip":
        return "skip" if value else "noskip"
    return str(value)


def _parse_token(tok: str, where: str) -> tuple[str, Any]:
    if tok.isdigit():
        return "filters", int(tok)
    if re.fullmatch(r"s\d+", tok):
        return "stride", int(tok[1:])
    if tok.startswith("norm="):
        return "norm", tok[5:]
    if tok.startswith("att="):
        return "attention", tok[4:]
    if tok in ("skip", "noskip"):
        return "skip", tok == "skip"
    if tok in ACTIVATIONS:
        return "activation", tok
    known = [*ACTIVATIONS, "skip", "s2", "norm=batch", "att=se"]
    raise ArchitectureError(
        f"{where}: unknown token {tok!r}.{did_you_mean(tok, known)} Tokens are filters (32), an activation "
        f"({', '.join(ACTIVATIONS)}), a stride (s1, s2), norm=<name>, att=<name> and skip."
    )
