"""Progressive Neural Architecture Search (PNAS) of Liu et al. 2018, on any nas_gym search space.

Liu, Zoph, Neumann, Shlens, Hua, Li, Fei-Fei, Yuille, Huang and Murphy,
"Progressive Neural Architecture Search", ECCV 2018. Architectures grow one
block at a time: every partial architecture of the beam is expanded by all
choices of the next block, a surrogate predictor ranks the expansions, the
top K are trained and evaluated, and their rewards refit the predictor before
the next, larger step. Only K models per step are evaluated, however many
expansions there are.

The module also holds the helpers that map PNAS's cells-with-B-blocks onto
our spaces: :func:`decision_blocks` (what one expansion step fixes),
:func:`complete` (a partial architecture as a network the env can score) and
:func:`expand` (the children of a partial architecture).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from nas_gym.error import unknown_name
from nas_gym.predictors import PREDICTORS, make_predictor
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings
from nas_gym.spaces import Architecture
from nas_gym.spaces.base import SearchSpace
from nas_gym.spaces.layers import LayersSpace
from nas_gym.spaces.nb201 import OPS as NB201_OPS
from nas_gym.spaces.nb201 import NB201Space
from nas_gym.utils.hparams import integer, one_of, positive_int, setting, string

logger = logging.getLogger(__name__)

Prefix = tuple[int, ...]


def decision_blocks(space: SearchSpace, expand_by: str = "slot") -> list[range]:
    """The blocks of ``space``'s decisions that one PNAS step fixes, in decision order.

    With ``expand_by="slot"`` consecutive decisions named ``"{slot}/{field}"``
    with the same ``slot`` form one block (a :class:`LayersSpace` slot: op,
    filters, kernel, ...); a decision without ``/`` in its name (an NB201
    edge) is a block of its own. ``"decision"`` makes every decision a block.

    Args:
        space: The search space.
        expand_by: ``"slot"`` or ``"decision"``.

    Returns:
        Ranges of decision indices that together cover ``0..num_decisions-1``.
    """
    blocks: list[range] = []
    start = 0
    for k in range(1, space.num_decisions + 1):
        if k < space.num_decisions and expand_by == "slot":
            here, before = space.decisions[k].name, space.decisions[k - 1].name
            if "/" in here and here.split("/", 1)[0] == before.split("/", 1)[0]:
                continue
        blocks.append(range(start, k))
        start = k
    return blocks


def complete(space: SearchSpace, prefix: Sequence[int], nb201_fill: str = "nor_conv_3x3") -> Architecture:
    """The architecture that a partial one (decisions ``0..len(prefix)-1`` fixed) stands for.

    - :class:`LayersSpace`: every slot not yet expanded is ``identity`` (no
      layer), so a partial architecture is the shallower network of its
      expanded slots; fields of a half-expanded slot and of identity slots
      take their first valid choice (``space.repair``). A space without
      ``identity`` among its ops has a fixed depth: later slots take the
      first choice of every field.
    - :class:`NB201Space`: unexpanded edges are ``nb201_fill``. The cell's
      topology is fixed, so a partial cell cannot simply be smaller; the
      default, ``nor_conv_3x3``, scores the edges fixed so far inside a
      full-capacity cell, so a step compares them where they will end up.
      ``skip_connect`` is the literal counterpart of PNAS's smaller cells and
      of identity slots (the all-unexpanded cell passes its input through);
      ``none`` cuts node 3 off until its own edges are expanded, so the first
      steps would score empty cells. On the embedded MNIST-1D table (budget
      100, 20 seeds, ``gbdt``) the mean best reward was 0.775 with
      ``nor_conv_3x3``, 0.754 with ``skip_connect`` and 0.741 with ``none``.
    - Any other space: the first valid choice of every later decision.

    Args:
        space: The search space.
        prefix: Valid choice indices of the first decisions.
        nb201_fill: Op name for unexpanded NB201 edges.

    Returns:
        A valid :class:`Architecture` that starts with ``prefix``.
    """
    prefix = tuple(int(i) for i in prefix)
    rest = range(len(prefix), space.num_decisions)
    if isinstance(space, NB201Space):
        fill = [NB201_OPS.index(nb201_fill)] * len(rest)
    elif isinstance(space, LayersSpace):
        # The op is a slot's first decision, so an op decision past the prefix belongs to an unexpanded slot.
        fill = [
            d.choices.index("identity") if d.name.endswith("/op") and "identity" in d.choices else 0
            for d in (space.decisions[k] for k in rest)
        ]
    else:
        fill = [0] * len(rest)
    return Architecture(space, space.repair(prefix + tuple(fill)))


def expand(space: SearchSpace, prefix: Sequence[int], block: range) -> list[Prefix]:
    """Every valid setting of ``block``'s decisions after ``prefix``, as longer prefixes.

    Args:
        space: The search space.
        prefix: Choice indices of decisions ``0..block.start-1``.
        block: The decisions to fix (see :func:`decision_blocks`).

    Returns:
        Prefixes of length ``block.stop``, in index order; masks are respected.
    """
    out: list[Prefix] = [tuple(int(i) for i in prefix)]
    for _ in block:
        out = [(*p, int(j)) for p in out for j in np.flatnonzero(space.valid_choices(p))]
    return out


@dataclasses.dataclass(frozen=True)
class PNASSettings(SearcherSettings):
    """Hyperparameters of :class:`PNAS` (see its docstring for the published values)."""

    owner = "PNAS"

    predictor: str = setting("mlp_ensemble", string, hint="A name in nas_gym.predictors.PREDICTORS.")
    """Surrogate that ranks the expansions (a name in ``nas_gym.predictors.PREDICTORS``)."""
    k: int = setting(10, positive_int, hint="Liu et al. used K = 256 over 1,160 models.")
    """Models evaluated per step (PNAS's K), which is also the beam width."""
    initial_blocks: int = setting(1, positive_int)
    """Blocks fixed by the first step, which evaluates all of them (PNAS starts from 1-block cells)."""
    max_initial: int = setting(100, positive_int)
    """Cap on the first step's evaluations; more partial architectures are sampled down to it."""
    max_candidates: int = setting(1000, integer(1))
    """Cap on the expansions the predictor ranks per step; more are sampled down to it with ``run.rng``."""
    expand_by: str = setting("slot", one_of("slot", "decision"))
    """What one step fixes: a whole layer slot (op, filters, kernel, ...) or a single decision."""
    nb201_fill: str = setting("nor_conv_3x3", one_of(*NB201_OPS))
    """Op of NB201 edges not expanded yet (see :func:`complete`)."""

    def validate(self) -> None:
        """The predictor must be registered.

        Raises:
            ConfigError: ``predictor`` names no registered predictor.
        """
        if self.predictor not in PREDICTORS:
            raise unknown_name("predictor", self.predictor, list(PREDICTORS))


class PNAS(Searcher):
    """Progressive search: grow architectures block by block, a predictor picks which to evaluate.

    **Blocks.** PNAS's cell has B blocks; step b evaluates cells of b blocks.
    Here a block is what :func:`decision_blocks` groups: for ``layers`` one
    slot (all of its fields at once, so depth grows slot by slot), for
    ``nb201`` one edge, in the benchmark's edge order. A partial architecture
    fixes the first b blocks; to be scored by the env it is completed by
    :func:`complete` (later ``layers`` slots are identity, so the evaluated
    networks really are the shallower ones, as in PNAS; later NB201 edges
    take ``nb201_fill``, ``nor_conv_3x3`` by default), and the predictor
    learns from real rewards of complete networks.

    **Steps.**

    1. Evaluate every partial architecture of ``initial_blocks`` blocks (at
       most ``max_initial``, sampled with ``run.rng``) and fit the predictor
       on (architecture, reward). The K best by reward form the beam.
    2. For each later block: expand every beam member by every valid setting
       of the block (at most ``max_candidates``, sampled), rank the
       expansions whose completion was not evaluated yet by the predictor's
       mean, evaluate the top K through ``run.evaluate_many`` and refit the
       predictor on all rewards so far. The new beam is the K best
       expansions by measured reward, counting those whose completion was
       evaluated earlier (a ``layers`` expansion by identity, an NB201
       expansion by the fill op: these equal their parent and cost nothing).
    3. After the last block, until the budget is spent: refine. The
       candidates are the not-yet-evaluated one-decision neighbours
       (``space.neighbours``) of the K best architectures evaluated so far;
       the predictor ranks them and the top K are evaluated, then it is
       refit. This is predictor-guided local search around the final beam
       (PNAS stops at B; we keep spending the budget the same way). If no
       neighbour is new, random unseen samples are the candidates; if the
       space is exhausted, random architectures are evaluated again.

    Deduplication is by canonical form (``space.canonical`` of the
    completion): an architecture is evaluated at most once unless the
    space is exhausted. Everything random (samples, the predictor's seed)
    comes from ``run.rng``, so a run on a table repeats exactly.

    Published settings: K = 256 and B = 5 blocks of 8 ops, with an ensemble of
    5 LSTMs or MLPs as the surrogate (Liu et al. 2018). Our default K = 10
    suits budgets of about a hundred evaluations: on NAS-Bench-201 the
    progressive part then costs 5 + 5 × 10 = 55 evaluations and the rest
    refines.

    The hyperparameters are the fields of :class:`PNASSettings`, given as
    keyword arguments.

    Raises:
        ConfigError: For an unknown hyperparameter or one out of range.
    """

    name = "pnas"
    Settings = PNASSettings

    settings: PNASSettings

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self._steps: list[tuple[int, list[Architecture]]] = []

    @property
    def steps(self) -> list[tuple[int, list[Architecture]]]:
        """Per step of the last search: (blocks fixed, architectures evaluated); refinement steps count all blocks."""
        return list(self._steps)

    def search(self, run: SearchRun) -> None:
        """Run PNAS until ``run.done``."""
        cfg = self.settings
        space = run.space
        blocks = decision_blocks(space, cfg.expand_by)
        predictor = make_predictor(cfg.predictor, space, seed=int(run.rng.integers(2**31 - 1)))
        known: dict[Architecture, float] = {}
        fitted = False
        archs: list[Architecture] = []
        rewards: list[float] = []
        self._steps = []

        def evaluate(batch: list[Architecture], num_blocks: int) -> None:
            """Evaluate ``batch`` (distinct, unseen), record the rewards and refit the predictor."""
            nonlocal fitted
            if run.done or not batch:
                return
            infos = run.evaluate_many(batch)
            batch = batch[: len(infos)]
            got = [float(info["reward"]) for info in infos]
            for arch, reward in zip(batch, got, strict=True):
                known[space.canonical(arch)] = reward
            archs.extend(batch)
            rewards.extend(got)
            self._steps.append((num_blocks, batch))
            run.log_scalar("pnas/blocks", num_blocks)
            finite = [i for i, r in enumerate(rewards) if np.isfinite(r)]
            # The last fit would rank nothing; the predictor needs two points.
            if not run.done and len(finite) >= 2:
                predictor.fit([archs[i] for i in finite], np.asarray([rewards[i] for i in finite]))
                fitted = True

        def sample_down(items: list, cap: int) -> list:
            if len(items) <= cap:
                return items
            picks = np.sort(run.rng.choice(len(items), size=cap, replace=False))
            return [items[int(i)] for i in picks]

        def unseen(candidates: list[Architecture]) -> list[Architecture]:
            """Candidates whose canonical form is not evaluated, one per canonical form."""
            out, seen = [], set(known)
            for arch in candidates:
                canon = space.canonical(arch)
                if canon not in seen:
                    seen.add(canon)
                    out.append(arch)
            return out

        def top_by_predictor(candidates: list[Architecture]) -> list[Architecture]:
            if len(candidates) <= cfg.k:
                return candidates
            if not fitted:
                return sample_down(candidates, cfg.k)
            mean, _ = predictor.predict(candidates)
            order = np.argsort(-np.asarray(mean, dtype=float), kind="stable")[: cfg.k]
            return [candidates[int(i)] for i in order]

        def beam_of(prefixes: list[Prefix]) -> list[Prefix]:
            """The K prefixes with the best measured reward of their completion (unmeasured ones left out)."""
            scored = [(known[c], p) for p in prefixes if (c := space.canonical(self._complete(space, p))) in known]
            order = sorted(range(len(scored)), key=lambda i: -scored[i][0])
            return [scored[i][1] for i in order[: cfg.k]]

        # Step 1: the partial architectures of the first blocks, all of them (or a sample).
        b0 = min(cfg.initial_blocks, len(blocks))
        prefixes: list[Prefix] = [()]
        for block in blocks[:b0]:
            prefixes = sample_down([c for p in prefixes for c in expand(space, p, block)], cfg.max_candidates)
        first = unseen([self._complete(space, p) for p in prefixes])
        evaluate(sample_down(first, cfg.max_initial), b0)
        beam = beam_of(prefixes)

        # Steps b0+1..B: expand the beam by one block, evaluate the predictor's top K.
        for b in range(b0, len(blocks)):
            if run.done:
                break
            prefixes = sample_down([c for p in beam for c in expand(space, p, blocks[b])], cfg.max_candidates)
            evaluate(top_by_predictor(unseen([self._complete(space, p) for p in prefixes])), b + 1)
            beam = beam_of(prefixes) or beam

        # After the last block: predictor-guided refinement around the best architectures so far.
        while not run.done:
            best = sorted(range(len(archs)), key=lambda i: -rewards[i])[: cfg.k]
            candidates = unseen([n for i in best for n in space.neighbours(archs[i])])
            if not candidates:
                candidates = unseen([space.sample(run.rng) for _ in range(cfg.max_candidates)])
            if not candidates:
                # The space is exhausted up to canonical form: spend the rest on repeats.
                evaluate([space.sample(run.rng) for _ in range(min(cfg.k, run.remaining))], len(blocks))
                continue
            evaluate(top_by_predictor(sample_down(candidates, cfg.max_candidates)), len(blocks))
        logger.info("PNAS evaluated %d architectures (%d distinct up to canonical form).",
                    run.num_evaluated, len(known))

    def _complete(self, space: SearchSpace, prefix: Sequence[int]) -> Architecture:
        return complete(space, prefix, self.settings.nb201_fill)

