"""The supernet of the ``rnn_cell`` space: DARTS's recurrent-cell relaxation, and single paths for weight sharing.

Every node ``i`` has one set of weights ``W_i`` (as in the DARTS code, shared
by all of its candidate inputs) and, when searched, two architecture
parameter vectors: a softmax over its input nodes ``j < i`` and one over the
activations (Liu et al. 2019, section 2.1, factorised per decision as the
space's decisions are). The mixed node is

    s_i = sum_j p_in(j) * [s_j + sigmoid(c_ij) * (sum_f p_act(f) f(h_ij) - s_j)],   c_ij, h_ij = split(W_i s_j)

(mixing the activations inside the highway step equals mixing the whole
step, since the step is linear in the activation's output and the weights
sum to 1). Node 0 reads ``[x_t ; h_{t-1}]`` and only mixes activations.

The cell's output in the relaxation (``output``):

- ``"mean"``: the mean of all nodes, as the DARTS code's recurrent cell (whose
  discrete cell also averages all nodes). The ``rnn_cell`` space's discrete
  cell averages only its *loose ends*, so the network DARTS trains is not the
  one it derives.
- ``"loose_ends"``: each node weighted by the probability that it is a loose
  end under the input softmaxes, ``w_j = prod_{i > j} (1 - p_in_i(j))``
  (node ``N - 1`` always is), normalised to sum to 1. For a one-hot alpha this
  is exactly the discrete cell's mean of loose ends, so the relaxation and the
  derived architecture agree at the vertices.

Single path (``path=arch``): the architecture's own cell, computed with the
supernet's ``W_i`` (what the stand-alone :class:`~nas_gym.networks.rnn_cell.RNNCellNet`
computes with the same weights), for ENAS, SPOS, RSPS and the ``supernet``
evaluator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas_gym.error import ConfigError
from nas_gym.networks.rnn_cell import ACTIVATION_FNS, unroll_cell
from nas_gym.spaces.base import Architecture
from nas_gym.spaces.rnn_cell import RNNCellSpace
from nas_gym.supernets.base import OpLatencies, Supernet
from nas_gym.tasks.base import Task

#: How the relaxed cell forms its output (see the module docstring).
OUTPUTS = ("mean", "loose_ends")


class RNNCellSupernet(Supernet):
    """The ``rnn_cell`` space's cell with every node's input and activation mixed.

    Its weights are named and shaped as the stand-alone network's
    (``x_proj``, ``nodes``, ``head``), so a path's weights load into it.

    Args:
        space: An ``RNNCellSpace``.
        task: A sequence task.
        generator: Draws the initial alphas.
        output: ``"loose_ends"`` (the default) or ``"mean"`` (DARTS's; see the module docstring).

    Raises:
        ConfigError: An unknown ``output``.
    """

    def __init__(self, space: RNNCellSpace, task: Task, generator: torch.Generator, *, output: str = "loose_ends"):
        super().__init__(space, task)
        if output not in OUTPUTS:
            raise ConfigError(f"RNN cell supernet output must be one of {', '.join(OUTPUTS)}, got {output!r}.")
        space.check_task(task)
        self.output = output
        hidden = self.hidden = space.hidden
        # Created in the stand-alone network's order, so a seeded build gives both the same initial weights.
        self.x_proj = nn.Linear(task.input_shape[0], 2 * hidden)
        self.nodes = nn.ModuleList(
            [nn.Linear(hidden, 2 * hidden, bias=False)] + [nn.Linear(hidden, 2 * hidden)
                                                           for _ in range(1, space.num_nodes)]
        )
        self.head = nn.Linear(hidden, task.num_outputs)
        self.input_pos, self.act_pos = space.input_positions, space.act_positions
        self._init_alphas(list(range(space.num_decisions)), generator)
        self._slot = {k: s for s, k in enumerate(self.searched)}
        self.excluded = {k: frozenset() for k in self.searched}  # derivation may pick any choice
        self._fns = tuple(ACTIVATION_FNS[a] for a in space.activations)

    def _mixed_act(self, h: torch.Tensor, p: torch.Tensor | None) -> torch.Tensor:
        if p is None:  # one activation configured: no act decision
            return self._fns[0](h)
        return sum(w * f(h) for w, f in zip(p, self._fns, strict=True))

    def forward(self, x: torch.Tensor, skip_drop: float = 0.0, path: Architecture | None = None) -> torch.Tensor:
        """Outputs ``(N, num_outputs)`` of the mixed cell unrolled over ``x`` ``(N, C, L)``, or of ``path``'s cell.

        ``skip_drop`` is ignored: the cell has no parameter-free skip choice.
        """
        if path is not None:
            space: RNNCellSpace = self.space
            return unroll_cell(x, self.x_proj, self.nodes, self.head, self.hidden, space.parents(path),
                               space.node_activations(path))
        n = len(self.nodes)
        probs = [F.softmax(a, dim=-1) for a in self.alphas]
        p_in = [None if k is None else probs[self._slot[k]] for k in self.input_pos]
        p_act = [None if k is None else probs[self._slot[k]] for k in self.act_pos]
        out_w = self._output_weights(p_in)
        xs = self.x_proj(x.permute(2, 0, 1)).unbind(0)
        h = x.new_zeros(x.shape[0], self.hidden)
        for t, xp in enumerate(xs):
            g = xp if t == 0 else xp + self.nodes[0](h)
            c, hh = g.chunk(2, dim=-1)
            states = [torch.lerp(h, self._mixed_act(hh, p_act[0]), torch.sigmoid(c))]
            for i in range(1, n):
                prev = torch.stack(states)  # (i, N, H): W_i on every candidate input in one matmul
                c, hh = self.nodes[i](prev).chunk(2, dim=-1)
                steps = torch.lerp(prev, self._mixed_act(hh, p_act[i]), torch.sigmoid(c))
                if p_in[i] is None:  # node 1 always reads node 0
                    states.append(steps[0])
                else:
                    states.append(torch.einsum("j,jnh->nh", p_in[i], steps))
            h = torch.einsum("j,jnh->nh", out_w, torch.stack(states))
        return self.head(h)

    def _output_weights(self, p_in: list[torch.Tensor | None]) -> torch.Tensor:
        """Weight of each node in the cell's output, summing to 1 (see the module docstring)."""
        n = len(self.nodes)
        device = self.x_proj.weight.device
        if self.output == "mean":
            return torch.full((n,), 1.0 / n, device=device)
        # P(node j is a loose end) = prod over later nodes i of P(i does not read j).
        keep = [torch.ones((), device=device) for _ in range(n)]
        for i in range(1, n):
            reads = p_in[i] if p_in[i] is not None else torch.ones(1, device=device)  # node 1 reads node 0
            for j in range(i):
                keep[j] = keep[j] * (1 - reads[j])
        w = torch.stack(keep)
        return w / w.sum()

    def expected_latency_ms(self, latency: OpLatencies) -> torch.Tensor:
        """Not available: the ``rnn_cell`` space has no per-operation latency table.

        Raises:
            ConfigError: Always.
        """
        raise ConfigError("The rnn_cell space has no per-operation latencies, so DARTS has no expected-latency term "
                          "for it; set latency_weight=0.")
