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
an :class:`OpLatencies` table (:class:`nas_gym.latency.OpTableLatency` is one) with
exactly the keys that ``OpTableLatency.latency_ms`` sums for a one-hot alpha.

This module holds the base class; each space's supernet is a module of its own.

- ``nb201`` (:class:`~nas_gym.supernets.nb201.NB201Supernet`): the macro skeleton of
  ``NB201Space.build`` (stem, three stages of cells with residual reduction
  blocks between them, head); each of the cell's 6 edges is a mixed
  operation over the 5 NB201 operations (``none`` contributes zeros but keeps
  its share of the softmax, as DARTS's zero op).
- ``layers`` (:class:`~nas_gym.supernets.layers.LayersSupernet`): each slot is a mixed operation over
  (op x kernel), weighted ``p(op) * p(kernel)``; a residual weighted by
  ``p(skip=yes)`` is added where the space can allow one. Filters are fixed
  (default: the largest choice, i.e. the widest supernet), activation, norm
  and attention to their first choice, stride to 1 (the supernet mixes
  identity with the other ops, so spatial sizes must agree).

- ``rnn_cell`` (:class:`~nas_gym.supernets.rnn_cell.RNNCellSupernet`): per node a softmax over input nodes
  and one over activations.
- ``transformer`` (:class:`~nas_gym.supernets.transformer.TransformerSupernet`): each sub-transformer on
  the leading slices of the largest one's weights (AutoFormer/HAT); built for single paths
  (:attr:`Supernet.mixed` is False), its ``relax()`` mixes the per-layer heads, feed-forward ratio and
  activation at a fixed width and depth (DARTS).

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
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas_gym.spaces.base import Architecture, SearchSpace
from nas_gym.tasks.base import Task

#: Initial alphas are ``ALPHA_INIT_STD * randn`` (the DARTS code's ``1e-3 * torch.randn``).
ALPHA_INIT_STD = 1e-3


class Supernet(nn.Module):
    """Base of the supernets (DARTS's relaxation and single paths; see the module docstring).

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

    #: Whether the supernet has a mixed (DARTS) relaxation; one without it runs single paths only.
    mixed = True

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

    def expected_latency_ms(self, latency: OpLatencies) -> torch.Tensor:
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


class OpLatencies(Protocol):
    """What a supernet needs of a latency model for its expected latency: one operation's milliseconds.

    :class:`nas_gym.latency.OpTableLatency` is one. Supernets take this protocol so that model code does not
    import the latency stack (which measures networks and so builds them).
    """

    def op_latency_ms(self, key: tuple) -> float:
        """Milliseconds of the operation ``key`` (a key in ``space.op_keys`` format)."""
        ...
