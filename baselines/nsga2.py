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
from collections.abc import Callable
from typing import Any

import optuna

from nas_gym.multi_objective.pareto import ACCURACY_LATENCY, OBJECTIVES, check_accuracy_latency, require_objectives
from nas_gym.multi_objective.screen import ACQUISITIONS, ParetoScreen, ScreenSettings
from nas_gym.search.optuna_space import CONSTRAINT, constraint_violation, has_limits, suggest_indices
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher
from nas_gym.spaces import Architecture
from nas_gym.utils.hparams import (
    boolean,
    in_range,
    integer,
    non_negative_int,
    one_of,
    optional,
    positive_int,
    sequence_of,
    setting,
)

logger = logging.getLogger(__name__)

#: The study direction of each objective an evaluation reports.
DIRECTIONS = {name: "maximize" if sign > 0 else "minimize" for name, sign in OBJECTIVES.items()}


@dataclasses.dataclass(frozen=True)
class NSGA2Settings(ScreenSettings):
    """Hyperparameters of :class:`NSGA2Search` (defaults and why in its docstring)."""

    owner = "NSGA-II"

    screen_size: int = setting(
        10, positive_int, hint="1 turns the screen off; 10 did best on NAS-Bench-201 at 300 evaluations (20: less)."
    )
    """Distinct unseen children asked of the sampler per evaluation, of which the one predicted furthest beyond
    the front is evaluated and the others told as failed (nas_gym.multi_objective.screen); 1 evaluates every child."""
    screen_acquisition: str = setting("its", one_of(*ACQUISITIONS), hint="its did better than mean for NSGA-II.")
    """How the screen reads its predictors: mean, or its (one Thompson draw from the ensemble's mean and spread)."""

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

    ``screen_size=10`` is a second addition of ours (the pre-selection of
    surrogate-assisted evolutionary algorithms; :mod:`nas_gym.multi_objective.screen`):
    once ten evaluations are in, each evaluation asks the sampler for 10
    distinct unseen children, predicts their objectives with one MLP
    ensemble per objective fit on every evaluation of the run (one-hot
    encoding, refit every 10 evaluations; each child's objectives one
    Thompson draw from the ensemble's mean and spread,
    ``screen_acquisition="its"``) and evaluates the child predicted
    furthest beyond the front so far (additive epsilon indicator; under
    hard limits, children predicted within them first); the other nine
    are told as failed, which NSGA-II ignores. Optuna still breeds every
    child; the screen only chooses among them. The predictors, their front
    and their scale change only every 10 evaluations, so the history is
    still the same with any number of workers that divides both 10 and
    ``population_size``. Chosen on seeds 100-119 and 200-229 (budget 300):
    with the predictors' mean, 0.966 and 0.946, against about 0.92 (0.921
    on 200-229) with ``screen_size=1``; 20 children measured 0.955 on seeds
    100-119; then the Thompson draw, 0.968 on seeds 100-119 and 0.960 on
    200-219, with worst runs of 0.93 and 0.92 (0.88 and 0.84 with the mean).
    Then, on seeds 300-319, these defaults measured 0.952 and every change
    tried measured less: 15 children 0.948, ``mutation_prob`` 0.1 0.948,
    0.25 0.940 and 1/6 0.938, ``population_size`` 10 0.918, 24 0.943 and
    32 0.941, ``screen_refit_every=5`` 0.942. The runs that fall short
    (0.83 on seed 305) converge on a cell motif one point of accuracy below
    the best (there, a skip connection on edge 1→3 instead of 0→3) at
    every latency level of the front, which neither more mutation nor a
    larger population undid. The screen makes a run of 300 on a table
    take about 26 s, half of it the predictors' fits and half Optuna's
    ``ask`` (which slows as failed trials accumulate), nothing beside a
    training.

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
        cfg = self.settings
        seen: set[Architecture] = set()
        screen = cfg.make_screen(run, cfg.objectives, limited)
        while not run.done:
            # Batched ask/tell: one trial per worker, evaluated at once, told in the order asked.
            trials, archs = [], []
            for _ in range(min(run.workers, run.remaining)):
                trial, arch = self._screened_ask(study, run, seen, screen)
                trials.append(trial)
                archs.append(arch)
            infos: list[dict[str, Any]] = run.evaluate_many(archs)
            for trial, arch, info in zip(trials, archs, infos, strict=True):
                objectives = require_objectives(info, cfg.objectives, "NSGA-II", run.parts)
                violation = constraint_violation(info) if limited else 0.0
                if limited:
                    trial.set_constraint(CONSTRAINT, violation)
                study.tell(trial, list(objectives.values()))
                if screen is not None:
                    screen.observe(arch, objectives, violation)
        if logger.isEnabledFor(logging.INFO):  # study.trials deep-copies every trial: seconds after a screened run
            done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
            logger.info("NSGA-II evaluated %d trials (%d asked), %d distinct up to canonical form.",
                        done, len(study.get_trials(deepcopy=False)), len(seen))

    def _screened_ask(self, study: optuna.Study, run: SearchRun, seen: set[Architecture],
                      screen: ParetoScreen | None) -> tuple[optuna.Trial, Architecture]:
        """A trial to evaluate: with a ready screen, its pick of ``screen_size`` new children, the rest told failed.

        The architecture's canonical form joins ``seen``; those of the children not picked do not (they were not
        evaluated, and may be bred again).
        """
        canonical = run.space.canonical
        if screen is None or not screen.ready:
            trial, arch = self._ask(study, run, lambda a: canonical(a) not in seen)
            seen.add(canonical(arch))
            return trial, arch
        asked: list[tuple[optuna.Trial, Architecture]] = []
        keys: set[Architecture] = set()
        for _ in range(self.settings.screen_size):
            trial, arch = self._ask(study, run, lambda a: canonical(a) not in seen and canonical(a) not in keys)
            key = canonical(arch)
            if asked and (key in seen or key in keys):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)  # no new child came: screen those there are
                break
            asked.append((trial, arch))
            keys.add(key)
        chosen = screen.pick([arch for _, arch in asked])
        for i, (trial, _) in enumerate(asked):
            if i != chosen:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)  # not evaluated: NSGA-II ignores it
        seen.add(canonical(asked[chosen][1]))
        return asked[chosen]

    def _ask(self, study: optuna.Study, run: SearchRun,
             is_new: Callable[[Architecture], bool]) -> tuple[optuna.Trial, Architecture]:
        """A trial and its architecture; with ``dedup``, redrawn until ``is_new`` (up to ``max_redraws`` times)."""
        cfg = self.settings
        for _ in range(cfg.max_redraws if cfg.dedup else 0):
            trial = study.ask()
            arch = run.space.arch(suggest_indices(trial, run.space))
            if is_new(arch):
                return trial, arch
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # a known network: NSGA-II ignores failed trials
        trial = study.ask()  # no dedup, or every redraw was a repeat: evaluate what comes
        return trial, run.space.arch(suggest_indices(trial, run.space))
