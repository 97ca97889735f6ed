"""Regularised (aging) evolution of Real et al. 2019, on any nas_gym search space.

Real, Aggarwal, Huang and Le, "Regularized Evolution for Image Classifier
Architecture Search", AAAI 2019. The population is a queue: every cycle a
tournament picks a parent, its one-decision mutant joins the queue and the
*oldest* member (not the worst) leaves. Aging keeps the search from resting on
one lucky evaluation and is what the "regularised" in the name refers to.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from nas_gym.error import ConfigError
from nas_gym.search.prefilter import best_by_proxy, highest, proxy_scorer
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings, draw_until, submit_while_free
from nas_gym.spaces import Architecture
from nas_gym.utils.hparams import boolean, integer, name, non_negative_int, optional, positive_int, setting

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EvolutionSettings(SearcherSettings):
    """Hyperparameters of :class:`RegularizedEvolution` (published settings in its docstring)."""

    owner = "Evolution"

    population_size: int = setting(30, integer(2), hint="naszilla uses 30; NAS-Bench-201's REA 10.")
    """Members kept alive (P)."""
    sample_size: int = setting(10, positive_int, hint="naszilla uses 10; NAS-Bench-201's REA 3.")
    """Tournament size (S), 1 ≤ S ≤ P: S = 1 is a random walk, larger S stronger selection pressure."""
    dedup: bool = setting(True, boolean)
    """Redraw samples and children already evaluated up to canonical form."""
    max_redraws: int = setting(100, non_negative_int)
    """Redraws per sample or child before one is accepted anyway (a small space may have no unseen neighbour)."""
    prefilter: str | None = setting(
        None, optional(name("zero-cost proxy"), "no pre-filter"),
        hint="E.g. 'synflow' or 'naswot' (nas_gym.predictors.zero_cost).",
    )
    """Zero-cost proxy that picks the initial population from ``prefilter_factor`` times as many samples."""
    prefilter_factor: int = setting(10, integer(1))
    """Samples scored by the proxy per initial member (with ``prefilter``)."""
    prefilter_task: str | None = setting(None, optional(name("task"), "the env's task"))
    """Task whose batch the proxy sees (on a table env: the real offline task the proxy runs on)."""
    prefilter_mutants: int = setting(1, integer(1), hint="Abdelfattah et al.'s move proposal: e.g. 10.")
    """With ``prefilter``: unseen mutants of the parent drawn per child; the proxy's best is evaluated (1: off)."""

    def validate(self) -> None:
        """A tournament draws from the population; move proposal needs a proxy.

        Raises:
            ConfigError: ``sample_size`` exceeds ``population_size``, or
                ``prefilter_mutants > 1`` without ``prefilter``.
        """
        if self.sample_size > self.population_size:
            raise ConfigError(
                f"Evolution sample_size must be ≤ population_size ({self.population_size}), got {self.sample_size}. "
                "Lower sample_size or raise population_size."
            )
        if self.prefilter_mutants > 1 and self.prefilter is None:
            raise ConfigError(
                f"Evolution prefilter_mutants={self.prefilter_mutants} needs a proxy to rank the mutants: "
                "set prefilter (e.g. 'params' or 'synflow'), with prefilter_factor=1 to leave the initial "
                "population random."
            )


class RegularizedEvolution(Searcher):
    """Aging evolution: tournament selection, one-decision mutation, oldest member removed.

    1. Evaluate ``population_size`` architectures sampled uniformly
       (``space.sample``).
    2. Until the budget is spent: draw ``sample_size`` members uniformly *with
       replacement* (as Real et al.'s pseudocode, the NAS-Bench-201 code and
       NASLib do), take the one with the highest reward as parent, evaluate
       ``space.mutate(parent)`` (one active decision changed to another valid
       choice, later decisions repaired), append it and drop the oldest member.

    Every reward comes from the env through :meth:`SearchRun.evaluate`, so the
    budget counts each evaluation, repeats included, and is met exactly.

    Defaults suit budgets of about a hundred evaluations: they are those of
    regularised evolution in White et al.'s ``naszilla`` code (BANANAS, AAAI
    2021), used in their NAS-Bench-101/201 comparisons: a population of 30
    and tournaments of 10 (naszilla starts from 10 random architectures and
    lets the population grow; here it is filled with 30, as in Real et al.). Other
    published settings: NAS-Bench-201's REA baseline used
    ``population_size=10, sample_size=3``; Real et al. used
    ``population_size=100, sample_size=25`` for runs of 20,000 models.

    ``dedup`` (default on) is an addition of ours: Real et al., NAS-Bench-201's
    ``R_EA.py``, NASLib and naszilla all evaluate whatever the mutation yields
    (naszilla only deduplicates its initial random samples). With it, a random
    sample or child whose canonical form (``space.canonical``, e.g. the
    isomorphism class of an NB201 cell) was already evaluated in this run is
    redrawn, up to ``max_redraws`` times, so a small budget is not spent on
    networks whose score is already known. Selection and aging are unchanged.

    Zero-cost pre-filter (``prefilter``, off by default; Abdelfattah et al.,
    "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, section 5): the
    initial population is the proxy's best of ``prefilter_factor`` times as
    many random samples, and with ``prefilter_mutants > 1`` each child is the
    proxy's best of that many distinct unseen mutants of the parent (their
    *move proposal*). The scores come from a ``zero_cost`` env
    (:mod:`nas_gym.search.prefilter`): no budget, but their seconds count in the
    search cost. ``prefilter_mutants`` stays 1 by default, so ``evolution``
    stays Real et al.'s method.

    Results and the sweeps behind the defaults: docs/methods/evolutionary.md.

    The hyperparameters are the fields of :class:`EvolutionSettings`, given
    as keyword arguments.

    Raises:
        ConfigError: For an unknown hyperparameter or one out of range.
    """

    name = "evolution"
    Settings = EvolutionSettings

    settings: EvolutionSettings

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self._population: deque[tuple[Architecture, float]] = deque()

    @property
    def population(self) -> list[tuple[Architecture, float]]:
        """(architecture, reward) pairs alive at the end of the last search, oldest first."""
        return list(self._population)

    def search(self, run: SearchRun) -> None:
        """Run aging evolution until ``run.done``."""
        space = run.space
        seen: set[Architecture] = set()
        # maxlen makes append drop the oldest member: that is the aging.
        cfg = self.settings
        population: deque[tuple[Architecture, float]] = deque(maxlen=cfg.population_size)
        self._population = population

        def fresh(draw: Callable[[], Architecture]) -> Architecture:
            """``draw()``, redrawn while its canonical form was already evaluated (if ``dedup``)."""
            return draw_until(draw, lambda a: space.canonical(a) not in seen, cfg.max_redraws if cfg.dedup else 0)

        initial: deque[Architecture] = deque()
        if cfg.prefilter is not None:
            candidates = []
            for _ in range(cfg.population_size * cfg.prefilter_factor):
                candidates.append(fresh(lambda: space.sample(run.rng)))
                seen.add(space.canonical(candidates[-1]))
            initial.extend(best_by_proxy(run, candidates, cfg.population_size, cfg.prefilter, cfg.prefilter_task))
            seen = {space.canonical(a) for a in initial}  # the rejected ones may still be bred later

        # Move proposal's proxy scorer (``prefilter_mutants > 1``), opened with the search loop below.
        score: Callable[[list[Architecture]], list[float]] | None = None

        def child(parent: Architecture) -> Architecture:
            """A mutant of ``parent``; with move proposal, the proxy's best of ``prefilter_mutants`` distinct ones."""
            first = fresh(lambda: space.mutate(parent, run.rng))
            if score is None:
                return first
            mutants, drawn = [first], {space.canonical(first)}

            def unknown(a: Architecture) -> bool:
                form = space.canonical(a)
                return form not in seen and form not in drawn

            while len(mutants) < cfg.prefilter_mutants:
                mutant = draw_until(lambda: space.mutate(parent, run.rng), unknown, cfg.max_redraws)
                if not unknown(mutant):  # no other unseen mutant turned up
                    break
                mutants.append(mutant)
                drawn.add(space.canonical(mutant))
            return highest(mutants, score(mutants), 1)[0]

        def start_filling() -> bool:
            """Whether the random start (with those in flight) still has places."""
            return len(population) + len(in_flight) < cfg.population_size

        def propose() -> Architecture:
            """A random architecture until the population (with those in flight) is full, then a child."""
            if start_filling() or not population:
                return initial.popleft() if initial else fresh(lambda: space.sample(run.rng))
            picks = run.rng.integers(len(population), size=cfg.sample_size)
            parent = max((population[int(i)] for i in picks), key=lambda member: member[1])[0]
            return child(parent)

        # Asynchronous, as in Real et al. (2019): up to run.workers children are in flight, and each
        # result joins the population before the next child is bred. Results arrive in proposal order,
        # so the history is deterministic; with one worker this is the sequential algorithm, and the
        # initial random population is the same with any number of workers.
        in_flight: deque[Architecture] = deque()
        with contextlib.ExitStack() as stack:
            # Move proposal scores mutants all search long: one proxy env for all of them.
            if cfg.prefilter is not None and cfg.prefilter_mutants > 1:
                score = stack.enter_context(proxy_scorer(run, cfg.prefilter, cfg.prefilter_task))
            while not run.done:
                submit_while_free(run, propose, in_flight, seen, space.canonical, start_filling)
                info = run.result()
                population.append((in_flight.popleft(), float(info["reward"])))
        logger.info("Evolution evaluated %d architectures (%d distinct up to canonical form).",
                    run.num_evaluated, len(seen))
