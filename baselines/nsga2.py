"""NSGA-II (Deb et al. 2002) through Optuna's NSGAIISampler: a Pareto search for accurate, fast networks.

Deb, Pratap, Agarwal and Meyarivan, "A Fast and Elitist Multiobjective
Genetic Algorithm: NSGA-II", IEEE Transactions on Evolutionary Computation
6(2), 2002. Optuna's sampler does the genetics (non-dominated sorting,
crowding distance, binary tournaments, uniform crossover, mutation by
resampling, constrained domination); this module drives it through
ask-and-tell, as :mod:`baselines.tpe` drives TPE, and tells it the
objectives each evaluation reports, whatever the scalar reward is.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import optuna

from nas_gym.optuna_space import CONSTRAINT, constraint_violation, has_limits, suggest_indices
from nas_gym.pareto import ACCURACY_LATENCY, OBJECTIVES, check_accuracy_latency, require_objectives
from nas_gym.search import SearchRun
from nas_gym.searcher import Searcher, SearcherSettings
from nas_gym.settings import boolean, in_range, integer, non_negative_int, one_of, optional, sequence_of, setting
from nas_gym.spaces import Architecture

logger = logging.getLogger(__name__)

#: The study direction of each objective an evaluation reports.
DIRECTIONS = {name: "maximize" if sign > 0 else "minimize" for name, sign in OBJECTIVES.items()}


@dataclasses.dataclass(frozen=True)
class NSGA2Settings(SearcherSettings):
    """Hyperparameters of :class:`NSGA2Search` (defaults and why in its docstring)."""

    owner = "NSGA-II"

    population_size: int = setting(
        16, integer(2), hint="Optuna's default is 50; on NAS-Bench-201 10-20 did best at 300 evaluations, 16 at 100."
    )
    """Trials per generation (N), ≥ 2."""
    objectives: tuple[str, ...] = setting(
        ACCURACY_LATENCY, sequence_of(one_of(*OBJECTIVES)),
        hint="E.g. ['val_accuracy', 'latency_ms', 'params'].",
    )
    """Objectives of the study: val_accuracy (maximised) and latency_ms, optionally params and flops (minimised)."""
    crossover_prob: float = setting(0.9, in_range(0, 1), hint="Optuna's and Deb et al.'s default is 0.9.")
    """Probability that a child is a uniform crossover of two parents (else a copy of one)."""
    mutation_prob: float | None = setting(
        0.05, optional(in_range(0, 1), "1 / number of decisions"),
        hint="Optuna's default is None (1 / number of decisions); 0.05 did best on NAS-Bench-201 at 300 evaluations.",
    )
    """Probability that each decision of a child is resampled uniformly (None: 1 / number of decisions)."""
    dedup: bool = setting(True, boolean)
    """Ask again for a child whose canonical form was already evaluated (the repeat is told as failed)."""
    max_redraws: int = setting(100, non_negative_int)
    """Redraws per evaluation before a repeat is evaluated anyway (a converged population may breed no new child)."""

    def validate(self) -> None:
        """The objectives are accuracy and latency, plus optionally params and FLOPs, each once.

        Raises:
            ConfigError: ``objectives`` lacks val_accuracy or latency_ms, or names one twice.
        """
        check_accuracy_latency("NSGA-II", self.objectives)


class NSGA2Search(Searcher):
    """NSGA-II over one categorical parameter per decision, via ``study.ask()``/``study.tell()``.

    A multi-objective Optuna study maximises ``val_accuracy`` and minimises
    ``latency_ms`` (and ``params``/``flops`` if ``objectives`` says so),
    read from each evaluation's final ``info``; the env's scalar reward is
    not used. The first generation is uniform random; each later one is bred
    from the elite of the previous generation and its parents (the μ + λ
    selection of Deb et al.: non-dominated rank, then crowding distance).
    Trials are asked in batches of ``run.workers`` and told in the order
    asked, as in :class:`baselines.tpe.TPESearch`. The sampler is seeded from
    ``run.seed``, so a run on a table repeats exactly, and on NAS-Bench-201
    (whose parameters are the same for every architecture) the history is
    the same with any number of workers that divides ``population_size``.

    When the env has hard limits (``latency_limit_ms``, ``params_limit``),
    each trial carries the evaluation's ``constraint_violation`` as an Optuna
    constraint (``trial.set_constraint``, which replaced the sampler's
    ``constraints_func`` in Optuna 5), and the sampler uses Deb's constrained
    domination: feasible before infeasible, infeasible by violation.

    Defaults: ``population_size=16``. Optuna's default of 50 leaves six
    generations in a budget of 300. On NAS-Bench-201 (CIFAR-100, FPGA
    latency; the hypervolume fraction of ``scripts/bench_pareto.py``,
    measured on seeds 100-119 and 200-229, not the script's 0-9) 50 reached
    0.87 at 300 evaluations and 10, 12, 16 and 20 were level at 0.92-0.93;
    at a budget of 100, 16 did best (0.80, against 0.76-0.78 for 10, 12 and
    20). 16 is also divisible by 2, 4 and 8 workers. ``crossover_prob=0.9``
    is Optuna's default and Deb et al.'s setting. ``mutation_prob=0.05`` is
    lower than their 1 / number of decisions (1/6 on NAS-Bench-201): on seeds
    100-299 (200 runs, budget 300) it reached 0.929 against 0.918, and 0.928
    against 0.916 on seeds 300-499 (0.1:
    0.927; 0.3 0.91 and 0.02 0.93 on seeds 100-139; 0 left populations that
    breed only known cells); with six decisions and crossover already
    mixing parents, a resampled decision in about one child in four is enough.
    ``dedup`` (on) is an addition of
    ours, as in :class:`baselines.evolution.RegularizedEvolution`: a child
    whose canonical form (``space.canonical``) was already evaluated in this
    run is told to Optuna as a failed trial, which NSGA-II ignores, and
    Optuna is asked again, up to ``max_redraws`` times, so the budget is not
    spent on known networks once the population converges (without it: 0.91
    instead of 0.93 on seeds 100-119).

    The hyperparameters are the fields of :class:`NSGA2Settings`, given as
    keyword arguments.

    Raises:
        ConfigError: For an unknown hyperparameter or one out of range, and
            in :meth:`search` when the env reports no latency.
    """

    name = "nsga2"
    Settings = NSGA2Settings

    settings: NSGA2Settings

    def make_study(self, seed: int) -> optuna.Study:
        """Create an in-memory multi-objective study with an NSGA-II sampler seeded by ``seed``."""
        cfg = self.settings
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.NSGAIISampler(
            population_size=cfg.population_size, crossover_prob=cfg.crossover_prob,
            mutation_prob=cfg.mutation_prob, seed=seed,
        )
        return optuna.create_study(directions=[DIRECTIONS[n] for n in cfg.objectives], sampler=sampler)

    def search(self, run: SearchRun) -> None:
        """Ask, evaluate through the env, tell the objectives; until ``run.done``."""
        if run.parts.latency == "none":  # refuse before spending any budget
            require_objectives({}, ("latency_ms",), "NSGA-II", run.parts)
        study = self.make_study(run.seed)
        limited = has_limits(run.parts)
        seen: set[Architecture] = set()
        while not run.done:
            # Batched ask/tell: one trial per worker, evaluated at once, told in the order asked.
            trials, archs = [], []
            for _ in range(min(run.workers, run.remaining)):
                trial, arch = self._ask(study, run, seen)
                trials.append(trial)
                archs.append(arch)
            infos: list[dict[str, Any]] = run.evaluate_many(archs)
            for trial, info in zip(trials, infos, strict=True):
                values = list(require_objectives(info, self.settings.objectives, "NSGA-II", run.parts).values())
                if limited:
                    trial.set_constraint(CONSTRAINT, constraint_violation(info))
                study.tell(trial, values)
        done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
        logger.info("NSGA-II evaluated %d trials (%d asked), %d distinct up to canonical form.",
                    done, len(study.trials), len(seen))

    def _ask(self, study: optuna.Study, run: SearchRun, seen: set[Architecture]) -> tuple[optuna.Trial, Architecture]:
        """A trial and its architecture; with ``dedup``, redrawn while its canonical form was seen."""
        cfg = self.settings
        for _ in range(cfg.max_redraws if cfg.dedup else 0):
            trial = study.ask()
            arch = run.space.arch(suggest_indices(trial, run.space))
            if run.space.canonical(arch) not in seen:
                break
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # a known network: NSGA-II ignores failed trials
        else:
            trial = study.ask()  # no dedup, or every redraw was a repeat: evaluate what comes
            arch = run.space.arch(suggest_indices(trial, run.space))
        seen.add(run.space.canonical(arch))
        return trial, arch
