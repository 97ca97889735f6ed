"""The recurrent-cell space's network: the ENAS / DARTS cell unrolled over a sequence, and its fast path.

:class:`nas_gym.spaces.rnn_cell.RNNCellSpace` encodes cells; this module builds and runs them (the space
imports it when it builds, so that the space itself needs no torch). The cell's supernet
(:mod:`nas_gym.supernets.rnn_cell`) runs its single paths with :func:`unroll_cell` too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.autograd.function import once_differentiable


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


#: Each activation as a function on tensors.
ACTIVATION_FNS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "identity": _identity,
}


class RNNCellNet(nn.Module):
    """One recurrent cell unrolled over a sequence, then a linear head on the last state.

    The forward pass runs the cell either as plain autograd over the node
    modules (:func:`reference_cell`, one ``Linear`` call per node and step),
    or, by default, without an autograd graph and with a hand-written
    backward pass (:class:`_CellFunction`), which is faster where per-op
    overhead dominates, as with small batches on a CPU: the same function, up
    to float rounding. The reference path runs instead whenever the node
    modules carry forward hooks (so that ``count_flops`` sees every
    multiply-accumulate), under autocast (mixed precision), and while
    tracing (ONNX export).

    Attributes:
        x_proj: ``Linear(in_features, 2 * hidden)``, node 0's weights on ``x_t``
            (with the bias), applied to every step at once before the loop.
        nodes: Per node, in node order, ``Linear(hidden, 2 * hidden)``: node
            0's weights on ``h_{t-1}`` (no bias; together with ``x_proj`` it
            is node 0's ``Linear(in_features + hidden, 2 * hidden)``), and
            node ``i``'s weights on its input ``s_j``. Output rows
            ``0 .. hidden-1`` are the gate ``c``, the rest the candidate ``h``.
        head: ``Linear(hidden, num_outputs)`` on the last state.
        parents: Each node's input node (-1 for node 0).
        activations: Each node's activation name.
        leaves: The nodes whose mean is the cell's output.
    """

    def __init__(
        self, in_features: int, hidden: int, parents: Sequence[int], activations: Sequence[str], num_outputs: int
    ) -> None:
        """Make the weights of a cell whose node ``i`` reads node ``parents[i]``."""
        super().__init__()
        self.hidden = hidden
        self.parents = tuple(parents)
        self.activations = tuple(activations)
        self.leaves = tuple(i for i in range(len(self.parents)) if i not in set(self.parents))
        self.x_proj = nn.Linear(in_features, 2 * hidden)
        self.nodes = nn.ModuleList(
            [nn.Linear(hidden, 2 * hidden, bias=False)]
            + [nn.Linear(hidden, 2 * hidden) for _ in range(1, len(self.parents))]
        )
        self.head = nn.Linear(hidden, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (or the regression output) ``(N, num_outputs)`` of signals ``(N, C, L)``."""
        return unroll_cell(x, self.x_proj, self.nodes, self.head, self.hidden, self.parents, self.activations)


def unroll_cell(
    x: torch.Tensor,
    x_proj: nn.Module,
    nodes: Sequence[nn.Module],
    head: nn.Module,
    hidden: int,
    parents: Sequence[int],
    activations: Sequence[str],
    *,
    reference: bool = False,
) -> torch.Tensor:
    """Run one cell over signals ``x`` ``(N, C, L)`` with the given weights; return ``head(h_L)``.

    This is :class:`RNNCellNet`'s forward pass, open to other owners of the
    same weights (a supernet's single path).

    Args:
        x: The input batch ``(N, C, L)``.
        x_proj: Node 0's ``Linear(C, 2 * hidden)`` on ``x_t``.
        nodes: Per node a ``Linear(hidden, 2 * hidden)`` (node 0's without bias),
            laid out as :class:`RNNCellNet`'s ``nodes``.
        head: Applied to the last state.
        hidden: The state width.
        parents: Each node's input node (node 0's entry is ignored).
        activations: Each node's activation name, a key of :data:`ACTIVATION_FNS`.
        reference: Force the plain-autograd path (see :class:`RNNCellNet`).
    """
    # Node 0's input part for every step at once, as (L, N, 2H): one matmul instead of L.
    xp = x_proj(x.permute(2, 0, 1))
    parents, activations = (-1, *tuple(parents)[1:]), tuple(activations)
    if reference or _needs_reference(x, nodes):
        h = reference_cell(xp, nodes, hidden, parents, activations)
    else:
        params = [p for m in nodes[1:] for p in (m.weight, m.bias)]
        keep = torch.is_grad_enabled() and (xp.requires_grad or any(p.requires_grad for p in params))
        h = _CellFunction.apply(_plan(parents, activations, hidden), keep, xp, nodes[0].weight, *params)
    return head(h)


def _needs_reference(x: torch.Tensor, nodes: Sequence[nn.Module]) -> bool:
    """Whether the plain-autograd path must run: hooks on the node modules, autocast, or tracing."""
    return (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.is_autocast_enabled(x.device.type)
        or any(m._forward_hooks or m._forward_pre_hooks for m in nodes)
    )


def reference_cell(
    xp: torch.Tensor, nodes: Sequence[nn.Module], hidden: int, parents: Sequence[int], activations: Sequence[str]
) -> torch.Tensor:
    """The last state ``h_L`` by plain autograd, from node 0's input part ``xp`` ``(L, N, 2H)``.

    One call of each node module per step: the definition the fast path is tested against.
    """
    fns = [ACTIVATION_FNS[a] for a in activations]
    leaves = [i for i in range(len(fns)) if i not in set(parents[1:])]
    h = xp.new_zeros(xp.shape[1], hidden)
    for xp_t in xp.unbind(0):
        states: list[torch.Tensor] = []
        for i, fn in enumerate(fns):
            s = h if i == 0 else states[parents[i]]
            g = xp_t + nodes[0](s) if i == 0 else nodes[i](s)
            c, cand = g.chunk(2, dim=1)
            states.append(torch.lerp(s, fn(cand), torch.sigmoid(c)))
        h = states[leaves[0]] if len(leaves) == 1 else torch.stack([states[i] for i in leaves]).mean(0)
    return h


# A group's children in this order: sigmoid and tanh children first, so one sigmoid covers their gates and
# outputs together (tanh(h) is computed as 2 * sigmoid(2h) - 1, much faster than tanh on CPUs).
_ACT_ORDER = ("sigmoid", "tanh", "relu", "identity")


class _Group(NamedTuple):
    """The children of one node, computed together: one matmul and a few elementwise ops per step.

    The children sit in slots ``off .. off + k - 1`` of the cell's buffers.
    """

    parent: int  # the parent's index in the state buffer: 0 is h_{t-1} (node 0's group), 1 + slot otherwise
    off: int
    k: int
    squashed: int  # leading children (sigmoid or tanh) whose candidates the gates' sigmoid covers too
    runs: tuple[tuple[str, int, int], ...]  # (activation, first slot, end slot) of siblings with one activation


class _Plan(NamedTuple):
    """A cell laid out for :class:`_CellFunction`.

    Nodes live in *slots*: their children-of-one-parent groups one after
    another, in computation order (a parent's group before its children's).
    The state buffer has the previous state ``h_{t-1}`` at index 0 and slot
    ``j``'s state at ``1 + j``.
    """

    hidden: int
    order: tuple[int, ...]  # node in each slot
    groups: tuple[_Group, ...]
    leaf_runs: tuple[tuple[int, int], ...]  # state-buffer index ranges of the leaves
    leaf_slots: frozenset[int]  # state-buffer indices of the leaves
    num_leaves: int
    half_scale: tuple[tuple[float, float], ...] | None  # per slot (gate, candidate) weight scale; None: no tanh

    @staticmethod
    def of(parents: Sequence[int], activations: Sequence[str], hidden: int) -> _Plan:
        n = len(parents)
        leaves = {i for i in range(n) if i not in set(parents)}
        order: list[int] = []
        groups: list[_Group] = []
        # Parents in increasing order: a parent's own group (of its parent, a lower node) comes before its children's.
        for p in (-1, *sorted(set(parents[1:]))):
            kids = sorted((i for i in range(n) if parents[i] == p), key=lambda i: (_ACT_ORDER.index(activations[i]), i))
            off = len(order)
            order += kids
            runs: list[tuple[str, int, int]] = []
            for j, i in enumerate(kids, start=off):
                if runs and runs[-1][0] == activations[i]:
                    runs[-1] = (activations[i], runs[-1][1], j + 1)
                else:
                    runs.append((activations[i], j, j + 1))
            squashed = sum(activations[i] in ("sigmoid", "tanh") for i in kids)
            parent_index = 0 if p < 0 else 1 + order.index(p)
            groups.append(_Group(parent_index, off, len(kids), squashed, tuple(runs)))
        slot = {node: j for j, node in enumerate(order)}
        leaf_runs: list[tuple[int, int]] = []
        for j, node in enumerate(order):
            if node in leaves:
                if leaf_runs and leaf_runs[-1][1] == 1 + j:
                    leaf_runs[-1] = (leaf_runs[-1][0], 2 + j)
                else:
                    leaf_runs.append((1 + j, 2 + j))
        acts = [activations[node] for node in order]
        return _Plan(
            hidden=hidden,
            order=tuple(order),
            groups=tuple(groups),
            leaf_runs=tuple(leaf_runs),
            leaf_slots=frozenset(1 + slot[node] for node in leaves),
            num_leaves=len(leaves),
            half_scale=tuple((1.0, 2.0 if a == "tanh" else 1.0) for a in acts) if "tanh" in acts else None,
        )


@functools.lru_cache(maxsize=256)
def _plan(parents: tuple[int, ...], activations: tuple[str, ...], hidden: int) -> _Plan:
    return _Plan.of(parents, activations, hidden)


def _steps(t: torch.Tensor, keep: bool, length: int) -> list[torch.Tensor]:
    """Per-step views of a buffer: ``length`` of them, or (without a backward pass) its one step ``length`` times."""
    return list(t.unbind(0)) if keep else [t[0]] * length


class _CellFunction(torch.autograd.Function):
    """The unrolled cell with a hand-written backward pass through time.

    Siblings (the children of one node) are computed together. Forward: per
    step and group of siblings, one ``addmm`` into a preallocated buffer,
    one sigmoid over the gates (and the sigmoid and tanh candidates), the
    other activations in place, and one ``lerp`` for the highway; no autograd
    graph. Backward runs the steps in reverse from the saved gates,
    candidates and states, with the derivatives written out (``sigmoid'`` of
    the gate times ``f(h) - s_j``, the gate times ``f'(h)``, and ``1 - gate``
    along the highway) and one ``addmm`` per group and step that sends the
    gradient to the parent; the weight gradients are one matmul per group
    over all steps at the end.

    Inputs: the plan, whether to keep what backward needs (``False`` keeps
    one step of buffers only), ``xp`` ``(L, N, 2H)``, node 0's hidden weight,
    then each later node's weight and bias. Output: ``h_L`` ``(N, H)``.
    """

    @staticmethod
    def forward(
        ctx: Any, plan: _Plan, keep: bool, xp: torch.Tensor, w0: torch.Tensor, *params: torch.Tensor
    ) -> torch.Tensor:
        H, n, (L, N, _) = plan.hidden, len(plan.order), xp.shape
        T = L if keep else 1
        weights = torch.stack([w0 if i == 0 else params[2 * i - 2] for i in plan.order])  # (n, 2H, H), by slot
        biases = torch.stack([xp.new_zeros(2 * H) if i == 0 else params[2 * i - 1] for i in plan.order])
        weights_f, biases_f = weights, biases  # tanh candidates' weights scaled by 2: tanh(h) = 2 sigmoid(2h) - 1
        if plan.half_scale is not None:
            scale = xp.new_tensor(plan.half_scale).repeat_interleave(H, dim=1)  # (n, 2H)
            weights_f, biases_f = weights * scale[:, :, None], biases * scale
            if plan.half_scale[0][1] != 1.0:  # node 0 is tanh: its input part too
                xp = xp * scale[0]
        acts = xp.new_empty(T, N, n, 2, H)  # per slot: gate, candidate (after the activations)
        states = xp.new_empty(T + 1, N, n + 1, H)  # index 0: h_{t-1}; 1 + j: slot j
        states[0, :, 0].zero_()

        # h_t: read at step t by node 0's group, written at the step's end (without backward, in the same place).
        h_out = _steps(states[1:, :, 0], True, L) if keep else [states[0, :, 0]] * L
        loops = []
        for g in plan.groups:
            a = acts[:, :, g.off : g.off + g.k]
            w = weights_f[g.off : g.off + g.k].reshape(-1, H).t()
            bias = xp.unbind(0) if g.parent == 0 else [biases_f[g.off : g.off + g.k].reshape(-1)] * L
            src = _steps(states[:T, :, g.parent], keep, L)
            squash = [a] if g.squashed == g.k else [a[:, :, :, 0]] if not g.squashed else \
                [a[:, :, : g.squashed], a[:, :, g.squashed :, 0]]
            runs = [(act, _steps(acts[:, :, first:end, 1], keep, L)) for act, first, end in g.runs
                    if act in ("tanh", "relu")]
            if g.k == 1:
                gate, cand, state, lerp_src = a[:, :, 0, 0], a[:, :, 0, 1], states[:T, :, 1 + g.off], src
            else:
                gate, cand, state = a[:, :, :, 0], a[:, :, :, 1], states[:T, :, 1 + g.off : 1 + g.off + g.k]
                lerp_src = _steps(states[:T, :, g.parent : g.parent + 1], keep, L)
            loops.append((bias, src, w, _steps(a.flatten(2), keep, L), [_steps(v, keep, L) for v in squash], runs,
                          _steps(gate, keep, L), _steps(cand, keep, L), _steps(state, keep, L), lerp_src))
        leaf_views = [_steps(states[:T, :, a] if b == a + 1 else states[:T, :, a:b], keep, L)
                      for a, b in plan.leaf_runs]
        inv = 1.0 / plan.num_leaves
        minus_one = xp.new_tensor(-1.0)

        for t in range(L):
            for bias, src, w, flat, squash, runs, gate, cand, state, lerp_src in loops:
                torch.addmm(bias[t], src[t], w, out=flat[t])
                for v in squash:
                    v[t].sigmoid_()
                for act, views in runs:
                    if act == "tanh":  # 2 sigmoid(2h) - 1, the candidate weights pre-scaled by 2
                        torch.add(minus_one, views[t], alpha=2.0, out=views[t])
                    else:
                        views[t].relu_()
                torch.lerp(lerp_src[t], cand[t], gate[t], out=state[t])
            h = h_out[t]
            for r, views in enumerate(leaf_views):
                v = views[t]
                if v.dim() == 3:
                    if r == 0:
                        torch.sum(v, dim=1, out=h)
                    else:
                        h.add_(v.sum(dim=1))
                elif r == 0:
                    h.copy_(v)
                else:
                    h.add_(v)
            if plan.num_leaves > 1:
                h.mul_(inv)

        if keep:
            ctx.plan = plan
            ctx.buffers = (acts, states, weights)
        return h_out[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        plan: _Plan = ctx.plan
        acts, states, weights = ctx.buffers
        H, n, (L, N) = plan.hidden, len(plan.order), acts.shape[:2]
        inv = 1.0 / plan.num_leaves
        new = grad_h.new_empty
        grads = new(L, N, n, 2, H)  # d loss / d pre-activations (gate, candidate), per step and slot
        dstate = new(N, n + 1, H)  # d loss / d states of this step; index 0: d h_{t-1} / num_leaves
        dleaf = dstate[:, 0]
        torch.mul(grad_h, inv, out=dleaf)
        sigmoid_bwd = torch.ops.aten.sigmoid_backward.grad_input
        leaf_copies = []
        loops = []
        for g in reversed(plan.groups):
            k, sl = g.k, slice(g.off, g.off + g.k)
            a, gr = acts[:, :, sl], grads[:, :, sl]
            leaf = [m for m in range(k) if 1 + g.off + m in plan.leaf_slots]
            if len(leaf) == k:  # leaves only: they all get d h_t / num_leaves
                d = dleaf if k == 1 else dleaf.unsqueeze(1)
            else:
                d = dstate[:, 1 + g.off] if k == 1 else dstate[:, 1 + g.off : 1 + g.off + k]
                leaf_copies += [dstate[:, 1 + g.off + m] for m in leaf]
            if k == 1:
                gate, cand, dgate, dcand_pre = a[:, :, 0, 0], a[:, :, 0, 1], gr[:, :, 0, 0], gr[:, :, 0, 1]
                src = states[:L, :, g.parent]
            else:
                gate, cand, dgate, dcand_pre = a[:, :, :, 0], a[:, :, :, 1], gr[:, :, :, 0], gr[:, :, :, 1]
                src = states[:L, :, g.parent : g.parent + 1]
            cand_l, dcand_pre_l = _steps(cand, True, L), _steps(dcand_pre, True, L)
            runs = g.runs
            act_steps = []
            if runs == (("identity", g.off, g.off + k),):
                dcand_l = dcand_pre_l  # d loss / d candidate is its pre-activation's: write it there directly
            else:
                dcand = new(N, k, H) if k > 1 else new(N, H)  # d loss / d candidate (after its activation)
                dcand_l = [dcand] * L
                for act, first, end in runs:
                    if len(runs) == 1:
                        act_steps.append((_ACT_BACKWARD[act], cand_l, dcand_pre_l, dcand))
                    else:
                        s2 = slice(first - g.off, end - g.off)
                        act_steps.append((_ACT_BACKWARD[act], _steps(cand[:, :, s2], True, L),
                                          _steps(dcand_pre[:, :, s2], True, L), dcand[:, s2]))
            w = weights[sl].reshape(-1, H)  # (2kH, H), matching the (k, 2, H) layout of the grads
            diff = new(N, H) if k == 1 else new(N, k, H)
            loops.append((d, _steps(gate, True, L), cand_l, _steps(src, True, L), _steps(dgate, True, L),
                          _steps(gr.flatten(2), True, L), dcand_l, act_steps, diff, w, dstate[:, g.parent],
                          inv if g.parent == 0 else 1.0, k))

        for t in reversed(range(L)):
            for v in leaf_copies:
                v.copy_(dleaf)
            for d, gate, cand, src, dgate, dpre, dcand, act_steps, diff, w, target, alpha, k in loops:
                dc = dcand[t]
                torch.mul(d, gate[t], out=dc)
                for fn, y, dy, dcv in act_steps:
                    fn(dcv, y[t], dy[t])
                torch.sub(cand[t], src[t], out=diff)
                diff.mul_(d)
                sigmoid_bwd(diff, gate[t], grad_input=dgate[t])
                # The parent's state: along the highway, d * (1 - gate) summed over the siblings, and through W.
                hw = torch.sub(d, dc, out=diff)
                if k > 1:
                    hw = hw.sum(dim=1)
                torch.addmm(hw, dpre[t], w, beta=alpha, alpha=alpha, out=target)

        # Weight gradients: one matmul per group over all steps (siblings share their input).
        dw = []
        for g in plan.groups:
            dpre = grads[:, :, g.off : g.off + g.k].flatten(2).flatten(0, 1)  # (L N, 2kH)
            dw.append((dpre.t() @ states[:L, :, g.parent].flatten(0, 1)).view(g.k, 2 * H, H))
        dw = torch.cat(dw)  # (n, 2H, H), by slot
        db = grads.sum(dim=(0, 1)).view(n, 2 * H)
        slot = {node: j for j, node in enumerate(plan.order)}
        out: list[torch.Tensor | None] = [None, None, grads[:, :, 0].reshape(L, N, 2 * H), dw[0]]
        for i in range(1, n):
            out += [dw[slot[i]], db[slot[i]]]
        # Inputs: plan, keep, xp, w0, then (weight, bias) of nodes 1.. ; node 0 has no bias.
        return tuple(out)


def _sigmoid_backward(grad: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> None:
    torch.ops.aten.sigmoid_backward.grad_input(grad, y, grad_input=out)


def _tanh_backward(grad: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> None:
    torch.ops.aten.tanh_backward.grad_input(grad, y, grad_input=out)


def _relu_backward(grad: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> None:
    torch.ops.aten.threshold_backward.grad_input(grad, y, 0, grad_input=out)


def _identity_backward(grad: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> None:
    out.copy_(grad)


#: Gradient through each activation, from the gradient of its output and the output itself, written to ``out``.
_ACT_BACKWARD = {
    "sigmoid": _sigmoid_backward,
    "tanh": _tanh_backward,
    "relu": _relu_backward,
    "identity": _identity_backward,
}
