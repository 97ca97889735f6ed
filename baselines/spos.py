"""Single-path one-shot NAS (SPOS; Guo et al., "Single Path One-Shot NAS with Uniform Sampling", ECCV 2020).

Two stages. First the supernet is trained with one path drawn uniformly at
random per batch (the ``supernet`` evaluator's ``"pretrained"`` mode, on the
first evaluation). Then an evolutionary search runs on the frozen supernet,
each candidate scored by its path's validation accuracy after its
batch-norm statistics are recomputed (the evaluator does that). The
evolution is the paper's (Algorithm 1 and section 3.3): a population of the
best ``parents`` architectures found so far; each generation has
``mutations`` children, each decision of a random parent redrawn with
probability ``mutation_prob``, and ``crossovers`` children taking each
decision from one of two random parents; children repeat no architecture
already scored. At the end the best ``top_k`` are retrained stand-alone
(:func:`nas_gym.search.weight_sharing.retrain_top_k`).

The paper's settings are a population of 50, 20 generations, the top 10
as parents, 25 mutations with probability 0.1 and 25 crossovers: 1,000
candidates. The defaults here fit budgets of about 100 (population 20,
parents 10, 10 + 10 children per generation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings, draw_until
from nas_gym.search.weight_sharing import DEFAULT_TOP_K, retrain_top_k, supernet_of
from nas_gym.spaces import Architecture, SearchSpace
from nas_gym.spaces.variation import crossover
from nas_gym.utils.hparams import in_range, non_negative_int, positive_int, setting


@dataclasses.dataclass(frozen=True)
class SPOSSettings(SearcherSettings):
    """Hyperparameters of :class:`SPOS` (the paper's values in the module docstring)."""

    owner = "SPOS"

    population_size: int = setting(20, positive_int, hint="The paper uses 50.")
    """Random architectures scored first."""
    parents: int = setting(10, positive_int, hint="The paper uses 10.")
    """Best architectures found so far that children are bred from."""
    mutations: int = setting(10, non_negative_int, hint="The paper uses 25.")
    """Children by mutation per generation."""
    crossovers: int = setting(10, non_negative_int, hint="The paper uses 25.")
    """Children by crossover per generation."""
    mutation_prob: float = setting(0.1, in_range(0, 1, lo_open=True), hint="The paper uses 0.1.")
    """Probability that a mutation redraws each decision."""
    top_k: int = setting(DEFAULT_TOP_K, positive_int)
    """Best architectures by shared-weight score retrained stand-alone at the end."""
    max_redraws: int = setting(100, non_negative_int)
    """Redraws of a child already scored before one is kept anyway."""


def _mutate(space: SearchSpace, arch: Architecture, prob: float, rng: np.random.Generator) -> Architecture:
    """Redraw each decision with probability ``prob`` among the choices valid after the ones before it."""
    indices: list[int] = []
    for i in arch.indices:
        valid = np.flatnonzero(space.valid_choices(indices))
        keep = i in valid and rng.random() >= prob
        indices.append(int(i) if keep else int(rng.choice(valid)))
    return space.arch(indices)


def _breeder(space: SearchSpace, parents: list[Architecture], mutation: bool, prob: float,
             rng: np.random.Generator) -> Callable[[], Architecture]:
    """A draw of one child: a mutant of a random parent, or a crossover of two."""

    def draw() -> Architecture:
        if mutation:
            return _mutate(space, parents[rng.integers(len(parents))], prob, rng)
        i, j = rng.integers(len(parents), size=2)
        return crossover(space, parents[i], parents[j], rng)

    return draw


class SPOS(Searcher):
    """Uniform single-path supernet training, then evolution on the frozen supernet, then the top-k stand-alone.

    Raises:
        ConfigError: A hyperparameter out of range; at ``search``, an env
            that does not score with the supernet.
    """

    name = "spos"
    Settings = SPOSSettings

    def search(self, run: SearchRun) -> None:
        """Score a random population, breed generations from the best until the budget is spent, retrain the top-k."""
        cfg = self.settings
        supernet_of(run, self.name).use_mode("pretrained")
        space, rng = run.space, run.rng
        scored: dict[str, tuple[Architecture, float]] = {}

        def key(arch: Architecture) -> str:
            return str(space.canonical(arch))

        def fresh(draw, planned: set[str]) -> Architecture:
            # Frozen weights score an architecture the same every time: never spend budget on a repeat.
            arch = draw_until(draw, lambda a: key(a) not in scored and key(a) not in planned, cfg.max_redraws)
            planned.add(key(arch))
            return arch

        def evaluate(archs: list[Architecture]) -> None:
            for arch, info in zip(archs, run.evaluate_many(archs), strict=False):
                scored[key(arch)] = (arch, float(info["reward"]))

        planned: set[str] = set()
        evaluate([fresh(lambda: space.sample(rng), planned) for _ in range(min(cfg.population_size, run.remaining))])
        while not run.done:
            parents = [a for a, _ in sorted(scored.values(), key=lambda m: m[1], reverse=True)[: cfg.parents]]

            n = min(cfg.mutations + cfg.crossovers, run.remaining)
            planned = set()
            children = [fresh(_breeder(space, parents, c < cfg.mutations, cfg.mutation_prob, rng), planned)
                        for c in range(n)]
            if not children:
                break
            evaluate(children)
        retrain_top_k(run, cfg.top_k)
