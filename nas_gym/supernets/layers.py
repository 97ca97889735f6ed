"""The supernet of the ``layers`` space: each slot a mixed operation over op x kernel, with sliced widths.

See :mod:`nas_gym.supernets.base` for the two forward modes (mixed and single path).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas_gym.error import ConfigError
from nas_gym.networks.layers import ACTIVATION_LAYERS, CONV_OPS, POOL_OPS, SqueezeExcite
from nas_gym.spaces.base import Architecture, SearchSpace
from nas_gym.supernets.base import OpLatencies, Supernet, _drop
from nas_gym.tasks.base import Task


def _first(t: torch.Tensor | None, n: int) -> torch.Tensor | None:
    return None if t is None else t[:n]


def _pool(op: str, x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """The layers space's pools ("same" padding; averages over real inputs only), functionally."""
    if x.dim() == 3:
        fn = F.max_pool1d if op == "max_pool" else F.avg_pool1d
    else:
        fn = F.max_pool2d if op == "max_pool" else F.avg_pool2d
    if op == "max_pool":
        return fn(x, kernel, stride, kernel // 2)
    return fn(x, kernel, stride, kernel // 2, count_include_pad=False)


def _sliced_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """``bn`` on the first ``C`` channels of its weights and statistics (they update in place, as ``bn`` would)."""
    c = x.shape[1]
    momentum = 0.0
    if bn.training:
        bn.num_batches_tracked += 1
        momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c], bn.training,
                        momentum, bn.eps)


def _sliced_squeeze_excite(se: SqueezeExcite, x: torch.Tensor) -> torch.Tensor:
    """``se`` for ``C`` channels: its gate's first ``max(1, C // 4)`` hidden units and ``C`` outputs."""
    c = x.shape[1]
    h = max(1, c // 4)
    fc1, fc2 = se.gate[0], se.gate[2]
    weights = torch.sigmoid(F.linear(F.relu(F.linear(x.flatten(2).mean(-1), fc1.weight[:h, :c], fc1.bias[:h])),
                                     fc2.weight[:c, :h], fc2.bias[:c]))
    return x * weights.view(*weights.shape, *([1] * (x.dim() - 2)))


class _MixedSlot(nn.Module):
    """One layers slot as a mixed operation over (op, kernel) candidates."""

    def __init__(self, candidates: list[tuple[str, int, nn.Module | None]], c_in: int, width: int, skip_ok: dict):
        super().__init__()
        self.names = [(op, k) for op, k, _ in candidates]
        self.ops = nn.ModuleList(m if m is not None else nn.Identity() for _, _, m in candidates)
        self.c_in, self.width = c_in, width
        self.skip_ok = skip_ok

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        # Channel-keeping candidates (pool, identity) see fewer channels than a
        # convolution makes: zero channels stand for "not there", as in the derived net.
        extra = self.width - x.shape[1]
        return F.pad(x, (0,) * (2 * (x.dim() - 2)) + (0, extra)) if extra > 0 else x

    def path_forward(self, x: torch.Tensor, v: dict, norm: str, acts: dict[str, nn.Module]) -> torch.Tensor:
        """The slot as ``v`` (``LayersSpace.slot_values``) chooses it, on weights sliced to its channels."""
        op, kernel, stride = v["op"], v["kernel"], v["stride"]
        if op == "identity":
            return x
        dims = x.dim() - 2
        if op in POOL_OPS:
            out = _pool(op, x, kernel, stride)
        else:
            out = self._conv_path(x, v, norm, acts[v["activation"]], dims)
        return out + x if v["skip"] else out

    def _conv_path(self, x: torch.Tensor, v: dict, norm: str, act: nn.Module, dims: int) -> torch.Tensor:
        conv = F.conv1d if dims == 1 else F.conv2d
        c, f, stride = x.shape[1], v["filters"], v["stride"]
        layers = list(self.ops[self.names.index((v["op"], v["kernel"]))].body)
        if v["op"] == "sep_conv":
            dw, pw = layers[0], layers[1]
            out = conv(x, dw.weight[:c], None, stride, dw.padding, 1, c)
            out = conv(out, pw.weight[:f, :c], _first(pw.bias, f))
            rest = layers[2:]
        else:
            cv = layers[0]
            out = conv(x, cv.weight[:f, :c], _first(cv.bias, f), stride, cv.padding, cv.dilation)
            rest = layers[1:]
        for layer in rest:
            if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                out = _sliced_batch_norm(layer, out)
            elif isinstance(layer, nn.GroupNorm):
                groups = 1 if norm == "layer" else next(g for g in (4, 3, 2, 1) if f % g == 0)
                out = F.group_norm(out, groups, layer.weight[:f], layer.bias[:f], layer.eps)
            elif isinstance(layer, SqueezeExcite):
                out = _sliced_squeeze_excite(layer, out)
            else:  # the activation: parameter-free, so the path's own
                out = act(out)
        return out

    def forward(self, x, w_op, w_kernel, p_skip, skip_drop):
        residual = self._pad(x)
        total = 0
        for (op, k), module in zip(self.names, self.ops, strict=True):
            weight = w_op[op] * (w_kernel[k] if op != "identity" else 1.0)
            out = self._pad(module(x))
            if op == "identity":
                out = _drop(out, skip_drop, self.training)
            elif p_skip is not None and self.skip_ok[op]:
                out = out + p_skip * residual
            total = total + weight * out
        return total


class LayersSupernet(Supernet):
    """A layers-space skeleton whose slots mix (op x kernel); op, kernel and skip are searched.

    Fixed choices of the other decisions: ``filters`` = ``filters`` argument
    (default the largest), ``stride`` = 1, ``activation``, ``norm`` and
    ``attention`` = their first choice.

    Args:
        space: A ``LayersSpace``.
        task: The task to build for.
        generator: Draws the initial alphas.
        filters: Width of every convolution; None takes the space's largest.

    Raises:
        ConfigError: ``filters`` is not a choice of the space, or the space
            has no stride 1.
    """

    SEARCHED_FIELDS = ("op", "kernel", "skip")

    def __init__(self, space: SearchSpace, task: Task, generator: torch.Generator, *, filters: int | None = None):
        super().__init__(space, task)
        cfg = space.config()
        if filters is None:
            filters = max(cfg["filters"])
        if filters not in cfg["filters"]:
            raise ConfigError(
                f"DARTS filters={filters!r} is not a filters choice of this layers space {cfg['filters']}; "
                "pass one of them or None (the largest)."
            )
        if 1 not in cfg["strides"]:
            raise ConfigError(
                f"DARTS on the layers space needs stride 1 among the strides (the supernet mixes identity with "
                f"other ops, so sizes must agree); got strides={cfg['strides']}. Add 1 to the space's strides."
            )
        self.cfg, self.filters = cfg, int(filters)
        fixed_value = {
            "filters": str(filters), "stride": "1", "activation": cfg["activations"][0],
            "norm": cfg["norms"][0], "attention": cfg["attentions"][0],
        }
        self._index: dict[tuple[int, str], int] = {}
        searched = []
        for k, d in enumerate(space.decisions):
            slot, field = d.name.split("/")
            self._index[(int(slot[len("layer") :]), field)] = k
            if field in self.SEARCHED_FIELDS:
                searched.append(k)
            else:
                self.fixed[k] = d.choices.index(fixed_value[field])
        self._init_alphas(searched, generator)
        for k in searched:
            if space.decisions[k].name.endswith("/op") and "identity" in space.decisions[k].choices:
                self.skip_choices[k] = space.decisions[k].choices.index("identity")
        self.excluded = {k: frozenset() for k in searched}

        self.dims = task.spatial_dims
        self.c0 = task.input_shape[0]
        self.spatial = tuple(task.input_shape[1:])
        self.width = max(self.c0, self.filters)
        self.act, self.norm, self.att = (fixed_value[f] for f in ("activation", "norm", "attention"))
        # Parameter-free, so a path may take any activation of the space (a plain dict: no submodules).
        self._acts = {a: ACTIVATION_LAYERS[a]() for a in cfg["activations"]}
        slots = []
        for s in range(cfg["num_layers"]):
            c_in = self.c0 if s == 0 else self.width
            candidates: list[tuple[str, int, nn.Module | None]] = []
            for op in cfg["ops"]:
                if op == "identity":
                    candidates.append((op, 0, None))
                    continue
                for kernel in cfg["kernels"]:
                    key = self._key(op, kernel, c_in, skip=False)
                    candidates.append((op, kernel, space.build_op(key)[0]))
            # Pools keep channels, so their residual always fits; a convolution's
            # fits only after another convolution (the space's mask), possible from slot 1 on.
            skip_ok = {op: op in POOL_OPS or (op in CONV_OPS and s > 0) for op in cfg["ops"]}
            slots.append(_MixedSlot(candidates, c_in, self.width, skip_ok))
        self.slots = nn.ModuleList(slots)
        self.head = space.build_op(("layers/head", self.dims, self.width, task.num_classes, *self.spatial))[0]

    def _key(self, op: str, kernel: int, c_in: int, skip: bool) -> tuple:
        """Return the ``op_keys`` key of one slot (format of ``LayersSpace.op_keys``)."""
        if op in POOL_OPS:
            c_out, act, norm, att = c_in, "none", "none", "none"
        else:
            c_out, act, norm, att = self.filters, self.act, self.norm, self.att
        dilation = 2 if op == "dil_conv" else 1
        return (f"layers/{op}", self.dims, c_in, c_out, kernel, 1, dilation, act, norm, att, int(skip), *self.spatial)

    def _slot_probs(self, probs: dict[int, torch.Tensor], s: int):
        """Per-op and per-kernel weights and p(skip=yes) of slot ``s`` (fixed fields weigh 1)."""
        space, cfg = self.space, self.cfg

        def field(name: str, values: list) -> dict:
            k = self._index.get((s, name))
            if k is None:  # one choice only: it is not a decision
                return {values[0]: torch.ones((), device=self.device)}
            choices = space.decisions[k].choices
            return {v: probs[k][choices.index(str(v))] for v in values}

        w_op = field("op", cfg["ops"])
        w_kernel = field("kernel", cfg["kernels"])
        k_skip = self._index.get((s, "skip"))
        p_skip = None if k_skip is None else probs[k_skip][space.decisions[k_skip].choices.index("yes")]
        return w_op, w_kernel, p_skip

    def forward(self, x: torch.Tensor, skip_drop: float = 0.0, path: Architecture | None = None) -> torch.Tensor:
        """Logits of the mixed network, or of ``path``'s single path."""
        if path is not None:
            for s, slot in enumerate(self.slots):
                x = slot.path_forward(x, self.space.slot_values(path, s), self.norm, self._acts)
            fc = self.head.fc
            return F.linear(self.head.pool(x).flatten(1), fc.weight[:, : x.shape[1]], fc.bias)
        probs = self.probs()
        for s, slot in enumerate(self.slots):
            x = slot(x, *self._slot_probs(probs, s), skip_drop)
        # The head sees ``width`` channels; a derived network without convolutions
        # has ``c0``, which the zero padding stands for.
        return self.head(x)

    def expected_latency_ms(self, latency: OpLatencies) -> torch.Tensor:
        """Return the expected sum of slot and head latencies under independent per-decision softmaxes.

        A slot's input channels are the fixed ``filters`` if an earlier slot is
        a convolution, else the task's; ``q`` tracks that probability, which is
        all the distribution of op keys depends on (spatial size is fixed at
        stride 1). A residual is counted only where the space allows one:
        around pools, and around convolutions that follow a convolution.
        """
        probs = self.probs()
        q = torch.zeros((), device=self.device)
        total = torch.zeros((), device=self.device)
        for s in range(self.cfg["num_layers"]):
            w_op, w_kernel, p_skip = self._slot_probs(probs, s)
            for after_conv, p_state in ((True, q), (False, 1 - q)):
                c_in = self.filters if after_conv else self.c0
                for op, p_op in w_op.items():
                    if op == "identity":
                        continue
                    for kernel, p_k in w_kernel.items():
                        lat = latency.op_latency_ms(self._key(op, kernel, c_in, skip=False))
                        skip_allowed = op in POOL_OPS or after_conv
                        if p_skip is not None and skip_allowed:
                            lat_skip = latency.op_latency_ms(self._key(op, kernel, c_in, skip=True))
                            lat = (1 - p_skip) * lat + p_skip * lat_skip
                        total = total + p_state * p_op * p_k * lat
            p_conv = sum(p for op, p in w_op.items() if op in CONV_OPS)
            q = q + (1 - q) * p_conv
        for c, p_state in ((self.filters, q), (self.c0, 1 - q)):
            head = ("layers/head", self.dims, c, self.task.num_classes, *self.spatial)
            total = total + p_state * latency.op_latency_ms(head)
        return total
