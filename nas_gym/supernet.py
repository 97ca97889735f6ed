"""Supernets: one network holding every candidate operation of a space, with two forward modes.

*Mixed* (DARTS, :mod:`baselines.darts`): every searched decision is a
softmax-weighted mixture of its choices. *Single path* (ENAS, SPOS, RSPS and
the ``supernet`` evaluator, :mod:`nas_gym.evaluators.supernet`):
``forward(x, path=arch)`` runs only the operations ``arch`` chooses, with the
weights they share with every other architecture that chooses them.

A supernet holds one architecture parameter vector ``alpha`` per searched
decision (over all of that decision's choices, in choice order) and the
weights of every candidate operation. Its forward pass weights each
candidate by ``softmax(alpha)`` (Liu et al. 2019, eq. 2). Decisions that are
not searched keep one documented fixed choice (:attr:`Supernet.fixed`).

Candidates are the space's own modules, built with ``space.build_op`` from
keys in the format of ``space.op_keys``, so a derived architecture computes
what its supernet path computed; and the expected latency under
``softmax(alpha)`` is a sum of per-operation latencies from
:class:`nas_gym.latency.OpTableLatency` with exactly the keys that
``OpTableLatency.latency_ms`` sums for a one-hot alpha.

- ``nb201`` (:class:`NB201Supernet`): the macro skeleton of
  ``NB201Space.build`` (stem, three stages of cells with residual reduction
  blocks between them, head); each of the cell's 6 edges is a mixed
  operation over the 5 NB201 operations (``none`` contributes zeros but keeps
  its share of the softmax, as DARTS's zero op).
- ``layers`` (:class:`LayersSupernet`): each slot is a mixed operation over
  (op x kernel), weighted ``p(op) * p(kernel)``; a residual weighted by
  ``p(skip=yes)`` is added where the space can allow one. Filters are fixed
  (default: the largest choice, i.e. the widest supernet), activation, norm
  and attention to their first choice, stride to 1 (the supernet mixes
  identity with the other ops, so spatial sizes must agree).

- ``rnn_cell``: :class:`nas_gym.rnn_supernet.RNNCellSupernet` (its own
  module), per node a softmax over input nodes and one over activations.

Single path: on ``nb201`` each edge runs its chosen operation (``none``
adds nothing), so every architecture of the space has its path. On
``layers`` the path takes the architecture's op, kernel, skip and
activation (parameter-free, so any choice), its stride (a convolution's
weights do not depend on it), and its filters as the first ``filters``
output channels of the widest convolution (and the first input channels of
the next one, as in slimmable and once-for-all networks); norms and
attention are sliced the same way. Norm and attention keep one choice per
space (:func:`check_single_path` refuses a space with several): one set of
batch-norm statistics cannot serve two kinds of norm.

A supernet is built on the CPU (so its initial weights do not depend on the
device) and may then be moved with ``.to(device)``; :attr:`Supernet.device`
is where its alphas are, and constants it makes live there too.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas_gym.error import ConfigError
from nas_gym.latency import OpTableLatency
from nas_gym.spaces import SearchSpace
from nas_gym.spaces.base import Architecture
from nas_gym.spaces.layers import _ACTIVATION_LAYERS, CONV_OPS, POOL_OPS, SqueezeExcite
from nas_gym.spaces.nb201 import EDGES
from nas_gym.tasks import Task

#: The spaces that have a supernet, as error messages name them.
SUPERNET_SPACES = "'nb201', 'layers' and 'rnn_cell'"
#: Initial alphas are ``ALPHA_INIT_STD * randn`` (the DARTS code's ``1e-3 * torch.randn``).
ALPHA_INIT_STD = 1e-3


class Supernet(nn.Module):
    """Base of the DARTS supernets.

    Attributes:
        space: The search space.
        task: The task the supernet is built for.
        searched: Indices of the decisions that have an ``alpha``.
        fixed: Choice index of every decision that is not searched.
        skip_choices: For searched decisions that offer a parameter-free
            skip (``skip_connect``, ``identity``), that choice's index; the
            choice DARTS collapses to.
        excluded: Choices that derivation never picks (``none`` on NB201
            edges, when excluded as in the DARTS paper).
        alphas: One parameter vector per searched decision, over all its choices.
    """

    def __init__(self, space: SearchSpace, task: Task) -> None:
        super().__init__()
        self.space = space
        self.task = task
        self.searched: tuple[int, ...] = ()
        self.fixed: dict[int, int] = {}
        self.skip_choices: dict[int, int] = {}
        self.excluded: dict[int, frozenset[int]] = {}
        self.alphas = nn.ParameterList()

    def _init_alphas(self, searched: list[int], generator: torch.Generator) -> None:
        self.searched = tuple(searched)
        for k in searched:
            init = ALPHA_INIT_STD * torch.randn(self.space.decisions[k].n, generator=generator)
            self.alphas.append(nn.Parameter(init))

    @property
    def device(self) -> torch.device:
        """Where the supernet's parameters are (after ``.to(device)``)."""
        return self.alphas[0].device

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        """Return the operations' weights (everything but the alphas)."""
        alpha_ids = {id(a) for a in self.alphas}
        return (p for p in self.parameters() if id(p) not in alpha_ids)

    def named_weight_parameters(self) -> dict[str, nn.Parameter]:
        """Return the operations' weights by name, for ``torch.func.functional_call``."""
        return {n: p for n, p in self.named_parameters() if not n.startswith("alphas.")}

    def probs(self) -> dict[int, torch.Tensor]:
        """Return ``softmax(alpha)`` per searched decision index."""
        return {k: F.softmax(a, dim=-1) for k, a in zip(self.searched, self.alphas, strict=True)}

    def log_probs(self) -> dict[int, np.ndarray]:
        """Return ``log_softmax(alpha)`` per searched decision index, as float64 arrays."""
        return {
            k: torch.log_softmax(a.detach(), -1).cpu().double().numpy()
            for k, a in zip(self.searched, self.alphas, strict=True)
        }

    def expected_latency_ms(self, latency: OpTableLatency) -> torch.Tensor:
        """Return the expected latency in ms of the derived network under ``softmax(alpha)`` (differentiable)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, skip_drop: float = 0.0, path: Architecture | None = None) -> torch.Tensor:
        """Logits of the mixed network, or of ``path``'s single path; ``skip_drop`` drops skip outputs (P-DARTS)."""
        raise NotImplementedError

    @torch.no_grad()
    def recalibrate(self, path: Architecture, batches: list[torch.Tensor]) -> None:
        """Recompute every batch-norm's running statistics for ``path`` on ``batches`` (SPOS, Guo et al. 2020).

        Shared statistics were accumulated over many paths, none of them
        this one; the statistics become the plain average over ``batches``
        (``momentum=None``). The supernet is left in eval mode.
        """
        norms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        self.train()
        try:
            for x in batches:
                self(x, path=path)
        finally:
            for m, momentum in zip(norms, saved, strict=True):
                m.momentum = momentum
            self.eval()


def _drop(out: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """P-DARTS operation-level dropout on a skip op's output."""
    return F.dropout(out, p, training) if p > 0 and training else out


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

    def expected_latency_ms(self, latency: OpTableLatency) -> torch.Tensor:
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
        self._acts = {a: _ACTIVATION_LAYERS[a]() for a in cfg["activations"]}
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

    def expected_latency_ms(self, latency: OpTableLatency) -> torch.Tensor:
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


def check_single_path(space: SearchSpace) -> None:
    """Refuse a space whose architectures cannot all run as single paths of its supernet.

    Raises:
        ConfigError: Not ``nb201``, ``layers`` or ``rnn_cell``; or a ``layers`` space with several norms or attentions
            (building the ``layers`` supernet also needs stride 1 among the strides).
    """
    if space.name in ("nb201", "rnn_cell"):
        return
    if space.name != "layers":
        raise ConfigError(f"Supernets exist for the {SUPERNET_SPACES} spaces, got space {space.name!r}.")
    cfg = space.config()
    for field in ("norms", "attentions"):
        if len(cfg[field]) > 1:
            raise ConfigError(
                f"A supernet shares one {field[:-1]} per slot, but this layers space offers {field}={cfg[field]}: "
                f"give it one {field[:-1]} (e.g. {field}=[{cfg[field][0]!r}])."
            )


def make_supernet(
    space: SearchSpace, task: Task, generator: torch.Generator, *, filters: int | None = None,
    exclude_none: bool = True, cell_output: str = "loose_ends",
) -> Supernet:
    """Build the supernet of ``space`` for ``task``.

    ``filters`` applies to ``layers``, ``exclude_none`` to ``nb201`` and
    ``cell_output`` to ``rnn_cell`` (:class:`nas_gym.rnn_supernet.RNNCellSupernet`).

    Raises:
        ConfigError: For a space without a supernet.
    """
    if space.name == "nb201":
        return NB201Supernet(space, task, generator, exclude_none=exclude_none)
    if space.name == "layers":
        return LayersSupernet(space, task, generator, filters=filters)
    if space.name == "rnn_cell":
        from nas_gym.rnn_supernet import RNNCellSupernet  # it builds on this module

        return RNNCellSupernet(space, task, generator, output=cell_output)
    raise ConfigError(f"Supernets exist for the {SUPERNET_SPACES} spaces, got space {space.name!r}.")
