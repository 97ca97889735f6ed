"""A textbook generational genetic algorithm on any nas_gym search space.

Holland 1975; Goldberg, "Genetic Algorithms in Search, Optimization and
Machine Learning", 1989. A population is replaced by a new generation each
round: parents are selected by fitness (the env's reward), pairs recombine
by crossover, children mutate, and the best ``elites`` survive unchanged.
Unlike regularised evolution (``baselines/evolution.py``), which breeds one
child at a time by mutation only, a whole generation is evaluated at once
and decisions of two parents are combined.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from nas_gym.error import ConfigError
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings, draw_until
from nas_gym.spaces import Architecture, SearchSpace
from nas_gym.spaces.variation import CROSSOVER_KINDS, crossover
from nas_gym.utils.hparams import boolean, in_range, integer, non_negative_int, one_of, optional, setting

logger = logging.getLogger(__name__)

#: (architecture, reward): a member of a population.
Member = tuple[Architecture, float]


@dataclasses.dataclass(frozen=True)
class GeneticSettings(SearcherSettings):
    """Hyperparameters of :class:`GeneticAlgorithm`."""

    owner = "GeneticAlgorithm"

    population_size: int = setting(20, integer(2))
    """Members of a generation (also the number of random architectures evaluated first)."""
    selection: str = setting("tournament", one_of("tournament", "truncation"))
    """Parent selection: the best of ``tournament_size`` uniform draws, or uniform among the top ``truncation``."""
    tournament_size: int = setting(3, integer(1), hint="Binary tournaments (2) are the textbook's; 1 is random.")
    """Members drawn (with replacement) per tournament."""
    truncation: float = setting(0.5, in_range(0, 1, lo_open=True))
    """Fraction of the population, best first, that truncation selection draws parents from."""
    crossover: str = setting("uniform", one_of(*CROSSOVER_KINDS))
    """Each decision from either parent with probability 1/2, or a prefix of one and the rest of the other."""
    crossover_prob: float = setting(0.9, in_range(0, 1))
    """Probability that a child is a crossover of two parents rather than a copy of one (then mutated)."""
    mutation: str = setting("per_decision", one_of("per_decision", "one_decision"))
    """'per_decision': each active decision changes with ``mutation_prob``; 'one_decision': ``space.mutate``."""
    mutation_prob: float | None = setting(None, optional(in_range(0, 1), "1 / number of decisions"))
    """Probability that each decision changes to another valid choice (per_decision mutation)."""
    elites: int = setting(1, non_negative_int)
    """Best members carried into the next generation unchanged (not evaluated again)."""
    dedup: bool = setting(True, boolean)
    """Redraw random members and children already evaluated up to canonical form."""
    max_redraws: int = setting(100, non_negative_int)
    """Redraws per member or child before one is accepted anyway (a small space may have no unseen child)."""

    def validate(self) -> None:
        """Elites and tournaments fit in the population; per-decision probabilities need per-decision mutation.

        Raises:
            ConfigError: ``elites`` or ``tournament_size`` exceeds ``population_size``, or
                ``mutation_prob`` is given with ``mutation="one_decision"``.
        """
        if self.elites >= self.population_size:
            raise ConfigError(
                f"GeneticAlgorithm elites must be < population_size ({self.population_size}), got {self.elites}: "
                "a generation needs at least one child. Lower elites or raise population_size."
            )
        if self.tournament_size > self.population_size:
            raise ConfigError(
                f"GeneticAlgorithm tournament_size must be ≤ population_size ({self.population_size}), "
                f"got {self.tournament_size}. Lower tournament_size or raise population_size."
            )
        if self.mutation_prob is not None and self.mutation == "one_decision":
            raise ConfigError(
                "GeneticAlgorithm mutation_prob applies to mutation='per_decision' only, got "
                f"mutation_prob={self.mutation_prob} with mutation='one_decision'. Drop one of them."
            )


def mutate_each(space: SearchSpace, arch: Architecture, prob: float, rng: np.random.Generator) -> Architecture:
    """``arch`` with each decision changed, with probability ``prob``, to another choice valid after the ones before.

    Decisions are visited in order, so a change that masks a later choice is
    followed by the repair of that choice (its first valid one).
    """
    out: list[int] = []
    flips = rng.random(space.num_decisions) < prob
    for k, i in enumerate(arch.indices):
        valid = np.flatnonzero(space.valid_choices(out))
        others = valid[valid != i]
        if flips[k] and len(others):
            out.append(int(rng.choice(others)))
        else:
            out.append(int(i) if i in valid else int(valid[0]))
    return Architecture(space, tuple(out))


class GeneticAlgorithm(Searcher):
    """Generational GA: selection, crossover, mutation, elitism, one generation evaluated at a time.

    1. Evaluate ``population_size`` random architectures (``space.sample``).
    2. Until the budget is spent, breed the next generation: the best
       ``elites`` members are kept as they are; each of the other
       ``population_size - elites`` places gets a child. Two parents are
       selected (tournament: the best of ``tournament_size`` members drawn
       with replacement; truncation: uniform among the best ``truncation``
       share); with probability ``crossover_prob`` the child is their
       :func:`nas_gym.spaces.variation.crossover` (``uniform`` or ``single_point``), else a copy of the
       first; then it mutates (``per_decision``: :func:`mutate_each` with
       ``mutation_prob``, by default one change per child on average;
       ``one_decision``: ``space.mutate``). Every choice respects the masks
       (``space.repair``). The children are evaluated together through
       ``run.evaluate_many``, which spreads them over the workers and records
       them in order, so the history is the same with any number of workers.
    3. The children and the elites are the new population (generational
       replacement).

    ``dedup`` (default on): a random member or child whose canonical form was
    evaluated already, or is already in the generation, is bred again, up to
    ``max_redraws`` times, so the budget goes to new networks.

    Defaults are textbook ones (Goldberg 1989; Eiben and Smith 2015):
    crossover probability 0.9, mutation rate 1/L, tournaments of 3, one
    elite; the population of 20 suits budgets of about a hundred evaluations
    (five generations).

    Raises:
        ConfigError: For an unknown hyperparameter or one out of range.
    """

    name = "genetic"
    Settings = GeneticSettings

    settings: GeneticSettings

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.population: list[Member] = []
        self.generations = 0

    def search(self, run: SearchRun) -> None:
        """Evaluate generation after generation until ``run.done``; :attr:`population` is the last one."""
        space, cfg, rng = run.space, self.settings, run.rng
        seen: set[Architecture] = set()
        self.generations = 0

        def fresh(draw: Callable[[], Architecture]) -> Architecture:
            """``draw()``, drawn again while its canonical form was evaluated or is in this generation (``dedup``)."""
            arch = draw_until(draw, lambda a: space.canonical(a) not in seen, cfg.max_redraws if cfg.dedup else 0)
            seen.add(space.canonical(arch))
            return arch

        def evaluate(archs: list[Architecture]) -> list[Member]:
            return [(a, float(info["reward"])) for a, info in zip(archs, run.evaluate_many(archs), strict=False)]

        first = [fresh(lambda: space.sample(rng)) for _ in range(min(cfg.population_size, run.remaining))]
        population = evaluate(first)
        while not run.done:
            ranked = sorted(population, key=lambda m: -m[1])  # stable: ties keep their order
            elites = ranked[: cfg.elites]
            size = min(cfg.population_size - len(elites), run.remaining)
            children = [fresh(lambda ranked=ranked: self.breed(space, ranked, rng)) for _ in range(size)]
            population = elites + evaluate(children)
            self.generations += 1
        self.population = population
        logger.info("Genetic algorithm: %d generations, %d evaluations (%d distinct up to canonical form).",
                    self.generations, run.num_evaluated, len(seen))

    def select(self, ranked: list[Member], rng: np.random.Generator) -> Architecture:
        """One parent from ``ranked`` (best first) by the configured selection."""
        cfg = self.settings
        if cfg.selection == "tournament":
            return ranked[int(rng.integers(len(ranked), size=cfg.tournament_size).min())][0]
        top = max(1, round(cfg.truncation * len(ranked)))
        return ranked[int(rng.integers(top))][0]

    def breed(self, space: SearchSpace, ranked: list[Member], rng: np.random.Generator) -> Architecture:
        """A child: two selected parents, crossover with ``crossover_prob`` (else the first parent), mutation."""
        cfg = self.settings
        a, b = self.select(ranked, rng), self.select(ranked, rng)
        child = crossover(space, a, b, rng, cfg.crossover) if rng.random() < cfg.crossover_prob else a
        if cfg.mutation == "one_decision":
            return space.mutate(child, rng)
        prob = 1 / space.num_decisions if cfg.mutation_prob is None else cfg.mutation_prob
        return mutate_each(space, child, prob, rng)
