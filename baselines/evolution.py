"""Regularised (aging) evolution of Real et al. 2019, on any nas_gym search space.

Real, Aggarwal, Huang and Le, "Regularized Evolution for Image Classifier
Architecture Search", AAAI 2019. The population is a queue: every cycle a
tournament picks a parent, its one-decision mutant joins the queue and the
*oldest* member (not the worst) leaves. Aging keeps the search from resting on
one lucky evaluation and is what the "regularised" in the name refers to.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from nas_gym.error import ConfigError
from nas_gym.search import Searcher, SearchRun
from nas_gym.spaces import Architecture

logger = logging.getLogger(__name__)


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
    ``population_size=100, sample_size=25`` for runs of 20,000 models. With a
    budget of 100 on NAS-Bench-201 (CIFAR-100 columns) larger tournaments,
    i.e. stronger selection pressure, did clearly better than S = 3.

    ``dedup`` (default on) is an addition of ours: Real et al., NAS-Bench-201's
    ``R_EA.py``, NASLib and naszilla all evaluate whatever the mutation yields
    (naszilla only deduplicates its initial random samples). With it, a random
    sample or child whose canonical form (``space.canonical``, e.g. the
    isomorphism class of an NB201 cell) was already evaluated in this run is
    redrawn, up to ``max_redraws`` times, so a small budget is not spent on
    networks whose score is already known. Selection and aging are unchanged.

    Args:
        population_size: Members kept alive (P). At least 2.
        sample_size: Tournament size (S), 1 ≤ S ≤ P. S = 1 is a random walk;
            larger S means stronger selection pressure.
        dedup: Redraw samples and children already evaluated up to canonical form.
        max_redraws: Redraws per sample or child before one is accepted anyway
            (a small space may have no unseen neighbour left).

    Raises:
        ConfigError: For a hyperparameter out of range.
    """

    name = "evolution"

    def __init__(self, population_size: int = 30, sample_size: int = 10, dedup: bool = True, max_redraws: int = 100):
        for arg, value, low in (("population_size", population_size, 2), ("sample_size", sample_size, 1),
                                ("max_redraws", max_redraws, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"Evolution {arg} must be an integer ≥ {low}, got {value!r}.")
        if sample_size > population_size:
            raise ConfigError(
                f"Evolution sample_size must be ≤ population_size ({population_size}), got {sample_size}. "
                "Lower sample_size or raise population_size."
            )
        if not isinstance(dedup, bool):
            raise ConfigError(f"Evolution dedup must be true or false, got {dedup!r}.")
        self.population_size = population_size
        self.sample_size = sample_size
        self.dedup = dedup
        self.max_redraws = max_redraws
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
        population: deque[tuple[Architecture, float]] = deque(maxlen=self.population_size)
        self._population = population

        def fresh(draw: Callable[[], Architecture]) -> Architecture:
            """``draw()``, redrawn while its canonical form was already evaluated (if ``dedup``)."""
            arch = draw()
            for _ in range(self.max_redraws if self.dedup else 0):
                if space.canonical(arch) not in seen:
                    break
                arch = draw()
            return arch

        def propose() -> Architecture:
            """A random architecture until the population (with those in flight) is full, then a child."""
            if len(population) + len(in_flight) < self.population_size or not population:
                return fresh(lambda: space.sample(run.rng))
            picks = run.rng.integers(len(population), size=self.sample_size)
            parent = max((population[int(i)] for i in picks), key=lambda member: member[1])[0]
            return fresh(lambda parent=parent: space.mutate(parent, run.rng))

        def may_submit() -> bool:
            """Whether to propose another architecture before collecting the oldest result.

            One per worker; with several workers, also every random member of
            the initial population at once: those depend on no result, so a
            worker done early takes the next instead of waiting for an older,
            slower evaluation to be recorded.
            """
            if run.pending >= run.remaining:
                return False
            random_next = len(population) + len(in_flight) < self.population_size
            return run.pending < run.workers or (run.workers > 1 and random_next)

        # Asynchronous, as in Real et al. (2019): up to run.workers children are in flight, and each
        # result joins the population before the next child is bred. Results arrive in proposal order,
        # so the history is deterministic; with one worker this is the sequential algorithm, and the
        # initial random population is the same with any number of workers.
        in_flight: deque[Architecture] = deque()
        while not run.done:
            while may_submit():
                arch = propose()
                run.submit(arch)
                in_flight.append(arch)
                seen.add(space.canonical(arch))
            info = run.result()
            population.append((in_flight.popleft(), float(info["reward"])))
        logger.info("Evolution evaluated %d architectures (%d distinct up to canonical form).",
                    run.num_evaluated, len(seen))
