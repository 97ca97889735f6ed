"""The genetic algorithm on the embedded NAS-Bench-201 table: crossover, masks, elitism, dedup, errors."""

from __future__ import annotations

import numpy as np
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.genetic import GeneticAlgorithm, mutate_each
from nas_gym.error import ConfigError
from nas_gym.search.run import SearchRun
from nas_gym.spaces import LayersSpace, NB201Space
from nas_gym.spaces.variation import crossover


def _run(seed: int, budget: int, **hparams) -> tuple[GeneticAlgorithm, SearchRun]:
    searcher = GeneticAlgorithm(**hparams)
    with SearchRun("NAS-Bench-201-v0", agent="genetic", seed=seed, budget=budget) as run:
        searcher.search(run)
    return searcher, run


def test_crossover_takes_each_decision_from_a_parent():
    space, rng = NB201Space(), np.random.default_rng(0)
    mixed = 0
    for _ in range(200):
        a, b = space.sample(rng), space.sample(rng)
        child = crossover(space, a, b, rng, "uniform")
        assert all(c in (x, y) for c, x, y in zip(child, a, b, strict=True)), f"{child} is not of {a} and {b}"
        cut = crossover(space, a, b, rng, "single_point").indices
        cuts = [k for k in range(1, space.num_decisions) if cut == a.indices[:k] + b.indices[k:]]
        assert cuts, f"{cut} is not a prefix of {a} followed by the rest of {b}"
        mixed += child not in (a, b)
    assert mixed > 100, "uniform crossover rarely mixed its parents"


def test_crossover_and_mutation_respect_the_masks():
    space, rng = LayersSpace(), np.random.default_rng(1)
    for _ in range(100):
        a, b = space.sample(rng), space.sample(rng)
        for kind in ("uniform", "single_point"):
            child = crossover(space, a, b, rng, kind)
            space.validate(child.indices)  # raises ArchitectureError on a masked choice
            space.validate(mutate_each(space, child, 0.3, rng).indices)
    with pytest.raises(ConfigError, match=r"crossover kind must be 'uniform' or 'single_point', got 'two_point'"):
        crossover(space, a, b, rng, "two_point")


def test_same_seed_same_history_no_repeats_and_elitism():
    searcher, run = _run(3, 60)
    space = run.space
    assert run.history == _run(3, 60)[1].history, "two runs with seed 3 differ"
    classes = [space.canonical(space.from_string(r["arch"])) for r in run.history]
    assert len(set(classes)) == len(classes) == 60
    # 20 random, then generations of 19 children (+1 elite): 19, 19 and the last 2.
    assert searcher.generations == 3 and len(searcher.population) == 3
    assert max(r for _, r in searcher.population) == max(r["reward"] for r in run.history)


def test_without_crossover_each_child_is_one_mutation_of_the_last_generation():
    size = 6
    searcher, run = _run(0, 40, population_size=size, crossover_prob=0.0, mutation="one_decision", elites=2)
    space, history = run.space, run.history
    population = history[:size]
    start = size
    while start < len(history):
        children = history[start : start + size - 2]
        parents = [space.from_string(r["arch"]) for r in population]
        for child in children:
            assert any(space.from_string(child["arch"]) in space.neighbours(p) for p in parents), child["arch"]
        population = sorted(population, key=lambda r: -r["reward"])[:2] + children
        start += len(children)


def test_truncation_selection_and_single_point_run():
    searcher, run = _run(1, 30, selection="truncation", truncation=0.25, crossover="single_point",
                         mutation_prob=0.5, elites=0)
    assert run.num_evaluated == 30 and searcher.generations == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"elites": 20}, r"elites must be < population_size \(20\), got 20"),
        ({"population_size": 4, "tournament_size": 5}, r"tournament_size must be ≤ population_size \(4\), got 5"),
        ({"mutation": "one_decision", "mutation_prob": 0.2}, r"mutation_prob applies to mutation='per_decision'"),
        ({"crossover": "two_point"}, r"crossover must be one of 'uniform', 'single_point', got 'two_point'"),
        ({"crossover_prob": 1.5}, r"crossover_prob must be in \[0, 1\], got 1.5"),
        ({"truncation": 0}, r"truncation must be in \(0, 1\], got 0"),
        ({"selection": "roulette"}, r"selection must be one of 'tournament', 'truncation', got 'roulette'"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        GeneticAlgorithm(**kwargs)
