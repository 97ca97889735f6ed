"""REINFORCE with a factorized or an RNN controller: NAS-Bench-201's REINFORCE and the method of Zoph & Le (2017).

A controller samples an architecture one decision at a time — by default
from one learned softmax per decision, as in NAS-Bench-201's REINFORCE
baseline, or from Zoph & Le's LSTM (``policy="lstm"``); each sampled
architecture is played through the environment (``reset`` then one
``step`` per decision) and the reward of the final step trains the
controller with the policy gradient of Williams (1992), a moving-average
baseline and an entropy bonus, on each reward's rank within its batch by
default (measurements in docs/methods/rl.md).

References:
    * Zoph & Le, "Neural Architecture Search with Reinforcement Learning", ICLR 2017.
    * Zoph, Vasudevan, Shlens & Le, "Learning Transferable Architectures for
      Scalable Image Recognition" (NASNet), CVPR 2018.
    * Pham et al., "Efficient Neural Architecture Search via Parameter Sharing"
      (ENAS), ICML 2018 — entropy weight 1e-4.
    * Petersen et al., "Deep Symbolic Regression: Recovering Mathematical
      Expressions from Data via Risk-Seeking Policy Gradients", ICLR 2021.
    * Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
      Architecture Search", ICLR 2020 — the factorized REINFORCE policy.
    * Wierstra, Schaul, Glasmachers, Sun, Peters & Schmidhuber, "Natural
      Evolution Strategies", JMLR 2014 — rank-based fitness shaping.
    * Williams, "Simple statistical gradient-following algorithms for
      connectionist reinforcement learning", Machine Learning 1992.
    * Knowles, "ParEGO: A Hybrid Algorithm With On-Line Landscape
      Approximation for Expensive Multiobjective Optimization Problems",
      IEEE Transactions on Evolutionary Computation 10(1), 2006 — random
      scalarisation of normalised objectives (:class:`Scalarizer`, :class:`MOReinforce`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nas_gym.multi_objective.pareto import ACCURACY_LATENCY
from nas_gym.multi_objective.scalarization import (
    OBJECTIVES_CHECK,
    SCALARIZATION_CHECK,
    Key,
    Scalarizer,
    check_objectives,
    scalarizer_for,
)
from nas_gym.search.prefilter import proxy_scorer
from nas_gym.search.reward_memory import RewardMemory
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings
from nas_gym.spaces import SearchSpace
from nas_gym.utils.hparams import (
    boolean,
    in_range,
    non_negative,
    non_negative_int,
    one_of,
    optional,
    positive,
    positive_int,
    setting,
)
from nas_gym.utils.hparams import name as registered


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the caller's setting.

    A 100-unit LSTM gains nothing from parallelism, and on a busy machine
    OpenMP threads waiting for each other made it ~7x slower (measured on 2
    cores). Only controller work runs inside this, so an env that trains
    networks keeps every thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _draw(
    logp: torch.Tensor, prefixes: list[list[int]], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample one decision per row of masked log-probabilities and append it to each prefix.

    Returns:
        ``(action, log_prob, entropy)``: the ``(batch, 1)`` choices, and per row the
        chosen choice's log-probability and the softmax's entropy (with gradients).
    """
    action = torch.multinomial(logp.exp(), 1, generator=generator)
    # Masked choices have p = 0 and logp = -inf: zero their logp first, or p * logp
    # (and its gradient, even under torch.where) is nan.
    entropy = -(logp.exp() * logp.masked_fill(torch.isinf(logp), 0.0)).sum(-1)
    for prefix, a in zip(prefixes, action[:, 0].tolist(), strict=True):
        prefix.append(a)
    return action, logp.gather(1, action)[:, 0], entropy


class Controller(nn.Module):
    """Autoregressive LSTM policy over the decisions of a search space.

    The input at step ``k`` is the embedding of the choice made at step
    ``k - 1`` (a learned start vector at step 0). Each decision has its own
    embedding table and its own linear softmax head, sized to its number of
    choices: choice 2 of "filters" and choice 2 of "op" mean different things,
    so they do not share a row.

    Args:
        nvec: Number of choices of each decision.
        hidden_size: LSTM units per layer (also the embedding size).
        num_layers: Stacked LSTM layers.
        init_range: Parameters start uniform in ``[-init_range, init_range]``.
    """

    def __init__(self, nvec: Sequence[int], hidden_size: int, num_layers: int, init_range: float):
        super().__init__()
        self.nvec = [int(n) for n in nvec]
        self.start = nn.Parameter(torch.zeros(hidden_size))
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.embeddings = nn.ModuleList(nn.Embedding(n, hidden_size) for n in self.nvec)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, n) for n in self.nvec)
        for p in self.parameters():
            nn.init.uniform_(p, -init_range, init_range)

    def sample(
        self, batch_size: int, space: SearchSpace, generator: torch.Generator, temperature: float = 1.0
    ) -> tuple[list[tuple[int, ...]], torch.Tensor, torch.Tensor]:
        """Sample ``batch_size`` architectures whose every choice is valid given its prefix.

        Logits of choices that ``space.valid_choices(prefix)`` forbids are set
        to ``-inf``, so they are never sampled and carry no probability mass
        (the same mask the environment applies to its actions).

        Args:
            batch_size: Architectures to sample.
            space: The search space (for its masks).
            generator: Source of the sampling randomness.
            temperature: Logits are divided by it (above 1: flatter, more exploring).

        Returns:
            ``(actions, log_prob, entropy)``: one action tuple per architecture,
            and per architecture the summed log-probability and entropy over
            its decisions (tensors with gradients for the update).
        """
        x = self.start.expand(batch_size, 1, -1)
        state = None
        prefixes: list[list[int]] = [[] for _ in range(batch_size)]
        log_prob = torch.zeros(batch_size)
        entropy = torch.zeros(batch_size)
        for k in range(len(self.nvec)):
            out, state = self.lstm(x, state)
            logits = self.heads[k](out[:, 0]) / temperature
            mask = torch.from_numpy(np.stack([space.valid_choices(p) for p in prefixes]))
            logp = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
            action, step_logp, step_entropy = _draw(logp, prefixes, generator)
            log_prob, entropy = log_prob + step_logp, entropy + step_entropy
            x = self.embeddings[k](action)
        return [tuple(p) for p in prefixes], log_prob, entropy

    def log_prob(self, actions: Sequence[tuple[int, ...]], space: SearchSpace) -> torch.Tensor:
        """Summed log-probability of each given valid action tuple under the controller, with gradients.

        The teacher-forced counterpart of :meth:`sample`: the same inputs and
        the same masks, so the same probabilities.
        """
        acts = torch.tensor(actions, dtype=torch.long)
        x = self.start.expand(len(actions), 1, -1)
        state = None
        total = torch.zeros(len(actions))
        for k in range(len(self.nvec)):
            out, state = self.lstm(x, state)
            mask = torch.from_numpy(np.stack([space.valid_choices(a[:k]) for a in actions]))
            logp = torch.log_softmax(self.heads[k](out[:, 0]).masked_fill(~mask, float("-inf")), dim=-1)
            total = total + logp.gather(1, acts[:, k : k + 1])[:, 0]
            x = self.embeddings[k](acts[:, k : k + 1])
        return total


class FactorizedController(nn.Module):
    """One independent masked softmax per decision: the REINFORCE policy of NAS-Bench-201's baselines.

    Dong & Yang (2020) train REINFORCE on a ``decisions x choices`` table of
    logits rather than an RNN. The choices of one architecture are then
    independent except through the space's masks (a masked choice still
    gets no mass). Same interface as :class:`Controller`.

    Args:
        nvec: Number of choices of each decision.
        init_range: Logits start uniform in ``[-init_range, init_range]``.
    """

    def __init__(self, nvec: Sequence[int], init_range: float):
        super().__init__()
        self.nvec = [int(n) for n in nvec]
        self.logits = nn.ParameterList(
            nn.Parameter(torch.empty(n).uniform_(-init_range, init_range)) for n in self.nvec
        )

    def _masked_logp(
        self, k: int, prefixes: Sequence[Sequence[int]], space: SearchSpace, temperature: float = 1.0
    ) -> torch.Tensor:
        mask = torch.from_numpy(np.stack([space.valid_choices(p) for p in prefixes]))
        logits = (self.logits[k] / temperature).expand(len(prefixes), -1)
        return torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)

    def sample(
        self, batch_size: int, space: SearchSpace, generator: torch.Generator, temperature: float = 1.0
    ) -> tuple[list[tuple[int, ...]], torch.Tensor, torch.Tensor]:
        """As :meth:`Controller.sample`."""
        prefixes: list[list[int]] = [[] for _ in range(batch_size)]
        log_prob = torch.zeros(batch_size)
        entropy = torch.zeros(batch_size)
        for k in range(len(self.nvec)):
            logp = self._masked_logp(k, prefixes, space, temperature)
            _, step_logp, step_entropy = _draw(logp, prefixes, generator)
            log_prob, entropy = log_prob + step_logp, entropy + step_entropy
        return [tuple(p) for p in prefixes], log_prob, entropy

    def log_prob(self, actions: Sequence[tuple[int, ...]], space: SearchSpace) -> torch.Tensor:
        """As :meth:`Controller.log_prob`."""
        acts = torch.tensor(actions, dtype=torch.long)
        total = torch.zeros(len(actions))
        for k in range(len(self.nvec)):
            logp = self._masked_logp(k, [a[:k] for a in actions], space)
            total = total + logp.gather(1, acts[:, k : k + 1])[:, 0]
        return total


POLICIES = ("lstm", "factorized")


@dataclasses.dataclass(frozen=True)
class ReinforceSettings(SearcherSettings):
    """Hyperparameters of :class:`Reinforce` (its docstring has the literature's values)."""

    owner = "Reinforce"

    policy: str = setting("factorized", one_of(*POLICIES), hint="Zoph & Le and NASNet use 'lstm'.")
    """``"lstm"`` (:class:`Controller`, Zoph & Le) or ``"factorized"`` (:class:`FactorizedController`, NB201's)."""
    hidden_size: int = setting(100, positive_int)
    """LSTM units per layer (and embedding size)."""
    num_layers: int = setting(1, positive_int)
    """Stacked LSTM layers."""
    lr: float = setting(0.5, positive, hint="NASNet uses 3.5e-4 (LSTM); 0.5 suits logits at budgets of ~100.")
    """Adam learning rate."""
    batch_size: int = setting(10, positive_int)
    """Architectures sampled per controller update."""
    baseline_decay: float = setting(0.95, in_range(0, 1, hi_open=True), hint="NASNet uses 0.95.")
    """Decay of the moving-average reward baseline."""
    entropy_weight: float = setting(0.03, non_negative, hint="ENAS uses 1e-4.")
    """Weight of the entropy bonus in the loss."""
    init_range: float = setting(0.1, positive, hint="NASNet uses 0.1.")
    """Controller parameters start uniform in ``[-init_range, init_range]``."""
    top_fraction: float | None = setting(
        None, optional(in_range(0, 1, lo_open=True), "plain REINFORCE"), hint="Petersen et al. use 0.05."
    )
    """Fraction of each batch trained on by the risk-seeking update; None for plain REINFORCE."""
    rank_rewards: bool = setting(True, boolean)
    """Train on each reward's rank within its batch (ties share their mean rank) instead of its value."""
    topk_weight: float = setting(0.0, non_negative, hint="Abolafia et al. use 0.5 with PG+PQT.")
    """Weight of the priority-queue term: the mean log-likelihood of the ``topk_size`` best architectures so far."""
    topk_size: int = setting(10, positive_int, hint="Abolafia et al. use 10.")
    """Architectures in the priority queue (the best rewards of the search so far)."""
    reuse_rewards: bool = setting(True, boolean)
    """A repeated architecture is trained on the env's earlier reward instead of being evaluated again."""
    max_stale_batches: int = setting(10, non_negative_int)
    """With ``reuse_rewards``: after this many batches in a row with nothing new, the batch is evaluated anyway."""
    stale_temperature: float = setting(1.5, in_range(1, None), hint="1 samples the policy as it is (NASNet).")
    """With ``reuse_rewards``: each batch in a row with nothing new multiplies the sampling temperature by this."""
    scalarization: str | None = setting(None, SCALARIZATION_CHECK)
    """None: the env's reward; ``"random_linear"``/``"random_tchebycheff"``: new random weights each batch."""
    objectives: tuple[str, ...] = setting(ACCURACY_LATENCY, OBJECTIVES_CHECK)
    """With ``scalarization``: the objectives of each evaluation to scalarise (latency, params and FLOPs minimised)."""
    warmup: str | None = setting(
        None, optional(registered("zero-cost proxy"), "no warm-up"),
        hint="E.g. 'params' or 'synflow' (nas_gym.predictors.zero_cost).",
    )
    """Zero-cost proxy the controller is first trained on, for ``warmup_batches`` updates, before any evaluation."""
    warmup_batches: int = setting(30, positive_int)
    """Controller updates on proxy scores (``batch_size`` architectures each) with ``warmup``."""
    warmup_task: str | None = setting(None, optional(registered("task"), "the env's task"))
    """Task whose batch the proxy sees (on a table env: the real offline task the proxy runs on)."""

    def validate(self) -> None:
        """``objectives`` must name two distinct objectives.

        Raises:
            ConfigError: Fewer than two objectives, or one named twice.
        """
        check_objectives(self.label(), self.objectives)


@dataclasses.dataclass(frozen=True)
class LSTMReinforceSettings(ReinforceSettings):
    """REINFORCE's hyperparameters with the LSTM controller's small-budget defaults (``Reinforce.LSTM``).

    The defaults :class:`Reinforce` had before the factorized policy, which
    the methods built on the LSTM controller (ENAS, multi-objective
    REINFORCE) keep: their figures were measured with them.
    """

    policy: str = setting("lstm", one_of(*POLICIES), hint="NAS-Bench-201's REINFORCE uses 'factorized'.")
    """``"lstm"`` (:class:`Controller`, Zoph & Le) or ``"factorized"`` (:class:`FactorizedController`, NB201's)."""
    lr: float = setting(0.02, positive, hint="The literature uses 3.5e-4; 0.02 suits budgets of ~100.")
    """Adam learning rate."""
    entropy_weight: float = setting(1e-4, non_negative, hint="ENAS uses 1e-4.")
    """Weight of the entropy bonus in the loss."""
    top_fraction: float | None = setting(
        0.3, optional(in_range(0, 1, lo_open=True), "plain REINFORCE"), hint="Petersen et al. use 0.05."
    )
    """Fraction of each batch trained on by the risk-seeking update; None for plain REINFORCE."""
    rank_rewards: bool = setting(False, boolean)
    """Train on each reward's rank within its batch (ties share their mean rank) instead of its value."""
    stale_temperature: float = setting(1.0, in_range(1, None), hint="1 samples the policy as it is (NASNet).")
    """With ``reuse_rewards``: each batch in a row with nothing new multiplies the sampling temperature by this."""


class Reinforce(Searcher):
    """REINFORCE on a factorized or an LSTM policy (Zoph & Le 2017; NASNet; NAS-Bench-201's REINFORCE).

    Each update samples a batch of architectures from the controller,
    evaluates them through the env (``run.evaluate_many``: reset, then one
    step per decision, the reward being the final step's; up to
    ``run.workers`` architectures at once), and takes one Adam step on

        ``loss = -mean((R - b) * log π(arch)) - entropy_weight * mean(H(π))``

    where ``b`` is an exponential moving average of past batch-mean rewards
    (started at the first batch's mean, so the first advantages are centred)
    and ``H`` the entropy of the controller's masked softmaxes summed over
    decisions. That is plain REINFORCE (``top_fraction=None``, the default).

    The policy (``policy``) is by default *factorized*, as in the REINFORCE
    baseline of NAS-Bench-201 (Dong & Yang 2020): one learned softmax per
    decision (:class:`FactorizedController`). ``policy="lstm"`` is Zoph &
    Le's autoregressive LSTM (:class:`Controller`). By default ``R`` is the
    reward's *rank* within its batch (``rank_rewards``, ties sharing their
    mean rank, scaled to (0, 1]), so the step does not depend on how a table
    spreads its accuracies; the baseline is then the mean rank and the
    advantages are centred ranks, as in the fitness shaping of evolution
    strategies (Wierstra et al. 2014).

    With ``top_fraction`` set the update is *risk-seeking* instead (Petersen
    et al. 2021): a search keeps only its best architecture, so the
    controller is trained to raise the upper tail rather than the mean. Only
    the best ``top_fraction`` of each batch gets a gradient, with advantage
    ``(R - q) / std(R)`` where ``q`` is the batch's ``1 - top_fraction``
    quantile; the moving average is still kept and logged. Every choice is
    masked with ``space.valid_choices(prefix)``, so sampled architectures are
    always valid. The last batch is truncated so the run never evaluates
    more than its budget.

    Hyperparameters, with the values from the literature and those used
    here by default:

    | kwarg | default | literature |
    |---|---|---|
    | ``policy`` | ``"factorized"`` | factorized (NAS-Bench-201); LSTM (Zoph & Le, NASNet, ENAS) |
    | ``hidden_size`` (LSTM) | 100 | 100 (NASNet, 1 layer); 35 (Zoph & Le, 2 layers) |
    | ``num_layers`` (LSTM) | 1 | 1 (NASNet); 2 (Zoph & Le) |
    | ``lr`` (Adam) | 0.5 | 3.5e-4 (NASNet's LSTM); 6e-4 (Zoph & Le) |
    | ``batch_size`` | 10 | 20 (NASNet, with 450 workers); asynchronous mini-batches (Zoph & Le) |
    | ``baseline_decay`` | 0.95 | 0.95 (NASNet); 0.99 (ENAS) |
    | ``entropy_weight`` | 0.03 | 1e-5 (NASNet); 1e-4 (ENAS) |
    | ``init_range`` | 0.1 | 0.1 (NASNet); 0.08 (Zoph & Le) |
    | ``rank_rewards`` | True | False (the reward itself) |
    | ``top_fraction`` | None | None = plain REINFORCE (Zoph & Le, NASNet); 0.05 (Petersen et al.) |
    | ``topk_weight`` | 0 (off) | 0.5 with ``topk_size`` 10 (Abolafia et al. 2018, PG+PQT) |
    | ``stale_temperature`` | 1.5 | 1 (sampling at the policy's own temperature) |

    At lr 0.5 the factorized policy has nearly converged by the end of a
    budget of 100; the defaults were tuned for budgets of about 100 on the
    embedded MNIST-1D table (the literature's are for ~10⁴ evaluations).
    Pass ``**Reinforce.NASNET`` for the paper's settings at large budgets,
    ``**Reinforce.LSTM`` for the LSTM controller tuned to small ones.

    Priority queue (``topk_weight > 0``; Abolafia et al., "Neural Program
    Synthesis with Priority Queue Training", 2018): the loss gains
    ``-topk_weight * mean(log π(a))`` over the ``topk_size`` best
    architectures evaluated so far (ties in the order found), so the
    controller keeps being pulled towards the best it has seen rather than
    only the current batch's. Off by default.

    Reward reuse (``reuse_rewards``, default on): an architecture sampled
    again is not sent to the env again: the controller is trained on the
    reward the env returned for it before (a :class:`~nas_gym.search.reward_memory.RewardMemory`),
    and only new architectures spend budget. (A converged controller would
    otherwise spend a small budget on repeats.) Each batch in a row with
    nothing new multiplies the sampling temperature by ``stale_temperature``
    (logits divided by ``stale_temperature ** stale``; back to 1 once a new
    architecture is evaluated), so a collapsed controller explores around
    its mode instead of drawing the same cell again. After
    ``max_stale_batches`` batches in a row with nothing new, the batch is
    evaluated anyway, so the search always ends.

    Zero-cost warm-up (``warmup``, off by default; Abdelfattah et al. 2021):
    before the first evaluation the controller takes ``warmup_batches``
    updates on a proxy's scores (:meth:`_warm_up`), which cost no budget.

    Multi-objective training (``scalarization``, default None = the env's
    reward): with ``"random_linear"`` or ``"random_tchebycheff"`` the
    controller trains on a random scalarisation of ``objectives`` instead
    (ParEGO, Knowles 2006; see :class:`Scalarizer` and :class:`MOReinforce`),
    one weight vector per batch; the env still pays and the run records its
    own reward.

    Results and the sweeps behind the defaults: docs/methods/rl.md.

    The hyperparameters are the fields of :class:`ReinforceSettings`, given
    as keyword arguments.

    Raises:
        ConfigError: A hyperparameter is unknown or out of range.

    Attributes:
        controller: The :class:`Controller` (after ``search`` started).
        optimizer: Its Adam optimizer.
        baseline: Current moving-average baseline (None before the first batch).
        scalarizer: The :class:`Scalarizer` of a multi-objective search (None otherwise).
    """

    name = "reinforce"
    Settings = ReinforceSettings

    #: The NASNet settings (Zoph et al. 2018, appendix), for large budgets; reward reuse (ours) stays on.
    NASNET = {
        "policy": "lstm", "hidden_size": 100, "num_layers": 1, "lr": 3.5e-4, "batch_size": 20,
        "baseline_decay": 0.95, "entropy_weight": 1e-5, "init_range": 0.1, "top_fraction": None,
        "rank_rewards": False, "topk_weight": 0.0, "topk_size": 10, "reuse_rewards": True, "max_stale_batches": 10,
        "stale_temperature": 1.0, "scalarization": None, "objectives": ACCURACY_LATENCY,
        "warmup": None, "warmup_batches": 30, "warmup_task": None,
    }

    #: The LSTM controller with the small-budget settings it had as the default (risk-seeking top 30%, lr 0.02):
    #: the fields :class:`LSTMReinforceSettings` sets anew, with its values.
    LSTM = {name: getattr(LSTMReinforceSettings, name) for name in LSTMReinforceSettings.__annotations__}

    settings: ReinforceSettings

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.controller: Controller | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.baseline: float | None = None
        self.scalarizer: Scalarizer | None = None
        #: The env's reward of every architecture evaluated, for the priority queue (``topk_weight``).
        self.queue: dict[Key, float] = {}

    def search(self, run: SearchRun) -> None:
        """Sample, evaluate and update in batches until the budget is spent.

        All randomness comes from ``run.seed``: the controller is initialised
        under a forked global torch RNG (the caller's torch state is left as
        it was) and sampling draws from a ``torch.Generator`` seeded with it.
        """
        cfg = self.settings
        generator = torch.Generator().manual_seed(run.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(run.seed)
            if cfg.policy == "factorized":
                self.controller = FactorizedController(run.space.nvec, cfg.init_range)
            else:
                self.controller = Controller(run.space.nvec, cfg.hidden_size, cfg.num_layers, cfg.init_range)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=cfg.lr)
        self.baseline = None
        self.scalarizer = scalarizer_for(cfg, run)
        self.queue = {}
        # Rewards the env already returned; one stale unit is a batch with nothing new.
        memory = RewardMemory(cfg.max_stale_batches) if cfg.reuse_rewards else None
        if cfg.warmup is not None:
            self._warm_up(run, generator)
        while not run.done:
            start = time.perf_counter()
            with _one_thread():
                # A collapsed controller draws repeats: warm it up until it finds something new.
                temperature = cfg.stale_temperature ** memory.stale if memory is not None else 1.0
                archs, log_prob, entropy = self.controller.sample(
                    min(cfg.batch_size, run.remaining), run.space, generator, temperature
                )
            if run.done:  # a wall-clock budget can end the search between sampling and evaluating
                return
            fresh = archs
            if memory is not None:
                fresh = memory.unseen(archs)
                if not fresh:
                    memory.mark_stale()
                    if memory.exhausted:  # evaluated anyway, so a collapsed controller still spends its budget
                        fresh = archs
            # Evaluated up to run.workers at a time; infos come back in sampling order.
            infos = run.evaluate_many(fresh) if fresh else []
            if len(infos) < len(fresh):  # a wall-clock budget ran out mid-batch
                return
            rewards = [float(info["reward"]) for info in infos]
            self.queue.update(zip(fresh, rewards, strict=True))
            if memory is not None:
                for arch, reward in zip(fresh, rewards, strict=True):
                    memory.remember(arch, reward)
                if fresh is not archs:
                    rewards = [memory[a] for a in archs]
            if self.scalarizer is not None:
                rewards = self._scalarized(run, fresh, infos, archs)
            with _one_thread():
                self._update(run, torch.tensor(rewards, dtype=torch.float32), log_prob, entropy)
            run.log_scalar("charts/SPS", len(archs) / (time.perf_counter() - start))

    def _warm_up(self, run: SearchRun, generator: torch.Generator) -> None:
        """Train the controller on ``warmup``'s scores for ``warmup_batches`` updates (no budget spent).

        The zero-cost warm-up of Abdelfattah et al. (2021) for an RL
        controller: the same update as the search's, on proxy scores instead
        of the env's reward, so the search starts from a policy that already
        prefers what the proxy ranks high. The scores come from a zero-cost
        env of the run's id (:func:`nas_gym.search.prefilter.proxy_scorer`); they are
        not evaluations, but their seconds count in the search cost. A
        ``-inf`` score (no path to the output) is trained on as one below the
        batch's lowest finite score. The moving-average baseline starts afresh
        afterwards: proxy scores are on another scale than rewards.
        """
        cfg = self.settings
        # One thread throughout: the zero-cost env scores on one thread too (no training competes here).
        with proxy_scorer(run, cfg.warmup, cfg.warmup_task) as score, _one_thread():
            for _ in range(cfg.warmup_batches):
                archs, log_prob, entropy = self.controller.sample(cfg.batch_size, run.space, generator)
                scores = np.asarray(score(archs), dtype=np.float64)
                finite = np.isfinite(scores)
                floor = scores[finite].min() - 1.0 if finite.any() else 0.0
                rewards = torch.tensor(np.where(finite, scores, floor), dtype=torch.float32)
                self._update(run, rewards, log_prob, entropy)
        self.baseline = None

    def _scalarized(
        self, run: SearchRun, fresh: Sequence[Key], infos: Sequence[dict[str, Any]], archs: Sequence[Key]
    ) -> list[float]:
        """The batch's rewards to train on: its objectives, scalarised with one new weight vector."""
        for arch, info in zip(fresh, infos, strict=True):
            self.scalarizer.observe(arch, info)
        weights = self.scalarizer.draw()
        for name, w in zip(self.scalarizer.objectives, weights, strict=True):
            run.log_scalar(f"charts/weight_{name}", float(w))
        return self.scalarizer.rewards(archs)

    def _update(self, run: SearchRun, rewards: torch.Tensor, log_prob: torch.Tensor, entropy: torch.Tensor) -> None:
        """One policy-gradient step (risk-seeking or against the baseline), then update the baseline."""
        cfg = self.settings
        if cfg.rank_rewards:
            # Ranks in (0, 1]: the update no longer depends on how a table spreads its accuracies.
            below = (rewards[None, :] < rewards[:, None]).sum(1)
            ties = (rewards[None, :] == rewards[:, None]).sum(1)
            rewards = (below + (ties + 1) / 2) / len(rewards)
        mean_reward = float(rewards.mean())
        if self.baseline is None:
            self.baseline = mean_reward
        if cfg.top_fraction is None:
            advantage = rewards - self.baseline
        else:
            # Scale by the batch's spread: rewards of one space differ by a few points of accuracy.
            q = torch.quantile(rewards, 1 - cfg.top_fraction)
            advantage = torch.where(rewards >= q, (rewards - q) / (rewards.std(correction=0) + 1e-8), 0.0)
        policy_loss = -(advantage * log_prob).mean()
        mean_entropy = entropy.mean()
        loss = policy_loss - cfg.entropy_weight * mean_entropy
        if cfg.topk_weight > 0:
            # Priority-queue training (Abolafia et al. 2018): raise the likelihood of the best found so far.
            # sorted() is stable, so ties keep the order they were found in and a seed fixes the queue.
            best = sorted(self.queue, key=self.queue.__getitem__, reverse=True)[: cfg.topk_size]
            topk_loss = -self.controller.log_prob(best, run.space).mean()
            loss = loss + cfg.topk_weight * topk_loss
            run.log_scalar("losses/topk_loss", topk_loss.item())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.baseline = cfg.baseline_decay * self.baseline + (1 - cfg.baseline_decay) * mean_reward
        run.log_scalar("losses/policy_loss", policy_loss.item())
        run.log_scalar("losses/entropy", mean_entropy.item())
        run.log_scalar("charts/baseline", self.baseline)


@dataclasses.dataclass(frozen=True)
class MOReinforceSettings(LSTMReinforceSettings):
    """Hyperparameters of :class:`MOReinforce`: those of REINFORCE, with random linear scalarisation on."""

    owner = "MOReinforce"

    scalarization: str | None = setting("random_linear", SCALARIZATION_CHECK)
    """``"random_linear"`` (weighted sum), ``"random_tchebycheff"`` (ParEGO's), or None (the env's reward)."""


class MOReinforce(Reinforce):
    """Multi-objective REINFORCE: random scalarisation per batch, in the manner of ParEGO (Knowles 2006).

    :class:`Reinforce` whose controller is trained, batch by batch, on a
    different trade-off between ``objectives`` (default validation accuracy
    and latency), so that the architectures it evaluates spread along the
    Pareto front instead of gathering at its most accurate end. Before each
    update it draws one weight vector ``w`` from the flat Dirichlet over the
    objectives (from ``run.rng``, so a seed fixes every draw) and trains on

        ``R = sum_i w_i * n_i(arch)``

    where ``n_i`` is objective ``i`` of the evaluation (read from the final
    step's ``info``, whatever the env's scalar reward is), signed so that
    larger is better (latency, params and FLOPs minimised, as
    :data:`nas_gym.multi_objective.pareto.OBJECTIVES` says) and normalised to ``[0, 1]`` by
    the smallest and largest values seen so far in the search. ParEGO
    scalarises with a normalised *augmented Tchebycheff* function instead;
    ``scalarization="random_tchebycheff"`` does that (``rho = 0.05``), and
    ``scalarization=None`` is plain :class:`Reinforce`. The default
    risk-seeking update then reinforces the batch's best under this batch's
    weights.

    The env still pays its own reward and the run records every evaluation
    (with its reward, accuracy and latency) as usual; only what the
    controller learns from changes. Reward reuse keeps working: the
    scalariser remembers the objectives of each architecture evaluated, so a
    repeat is trained on its objectives under the current weights and bounds
    without a second evaluation. The drawn weights are logged as
    ``charts/weight_<objective>``.

    The controller is not conditioned on the weights (a weight-conditioned
    start input was tried and did no better at these budgets): within one
    run it tends to settle on one region of the front, which region
    depending on the early draws. Measured on NAS-Bench-201-v0 (CIFAR-100
    columns, ``latency_column="lat_fpga_ms"``, budget 100, seeds 0-9;
    hypervolume as a fraction of the whole table's, reference point at the
    table's median validation accuracy and 90th-percentile latency,
    mean ± 95% CI):

    | method | hypervolume fraction |
    |---|---|
    | ``mo_reinforce`` (random linear) | 0.711 ± 0.050 |
    | ``mo_reinforce``, ``scalarization="random_tchebycheff"`` | 0.707 ± 0.064 |
    | ``reinforce`` (``Reinforce.LSTM``) on the env's accuracy-only reward (``latency_weight=0``) | 0.658 ± 0.050 |
    | ``reinforce`` (``Reinforce.LSTM``) on the env's default reward (hinge, weight 0.1) | 0.737 ± 0.055 |
    | random search | 0.648 ± 0.052 |

    With ``top_fraction=None, lr=0.01`` (plain REINFORCE) it reached
    0.731 ± 0.024, and 0.810 ± 0.027 at budget 300 (the default settings
    collapse by then).

    It needs every objective of every evaluation: on an env without a
    latency model (``info["latency_ms"]`` is None) the first batch raises
    :class:`~nas_gym.error.ConfigError`.

    The hyperparameters are the fields of :class:`MOReinforceSettings`.
    """

    name = "mo_reinforce"
    Settings = MOReinforceSettings

    #: The NASNet settings with random linear scalarisation.
    NASNET = {**Reinforce.NASNET, "scalarization": "random_linear"}

    settings: MOReinforceSettings
