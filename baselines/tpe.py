"""Bayesian optimisation with the Tree-structured Parzen Estimator (Optuna's TPESampler).

Bergstra, Bardenet, Bengio and Kégl, "Algorithms for Hyper-Parameter
Optimization", NeurIPS 2011; multivariate TPE as in Falkner et al., BOHB,
ICML 2018. Optuna drives the search through its ask-and-tell interface, and
every architecture it asks for is replayed through the env, which pays the
reward that is told back.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import optuna

from nas_gym.error import ConfigError
from nas_gym.search.optuna_space import CONSTRAINT, constraint_violation, has_limits, suggest_indices
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings
from nas_gym.utils.hparams import boolean, positive_int, setting

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TPESettings(SearcherSettings):
    """Hyperparameters of :class:`TPESearch` (Optuna's defaults, see its docstring)."""

    owner = "TPE"

    n_startup_trials: int = setting(10, positive_int, hint="Optuna's default is 10.")
    """Random trials before TPE takes over."""
    n_ei_candidates: int = setting(24, positive_int, hint="Optuna's default is 24.")
    """Candidates scored by expected improvement per parameter."""
    multivariate: bool = setting(True, boolean)
    """Use the multivariate TPE."""
    group: bool = setting(True, boolean)
    """Decompose conditional parameters into groups (needs ``multivariate``)."""

    def validate(self) -> None:
        """``group`` needs ``multivariate``.

        Raises:
            ConfigError: ``group`` without ``multivariate``.
        """
        if self.group and not self.multivariate:
            raise ConfigError("TPE group=true needs multivariate=true; set multivariate true or group false.")


class TPESearch(Searcher):
    """TPE over one categorical parameter per decision, via ``study.ask()``/``study.tell()``.

    The sampler is seeded from ``run.seed``, so a run on a deterministic env
    (a table) repeats exactly. Optuna's own INFO log lines (one per trial)
    are silenced to WARNING.

    Defaults: ``n_startup_trials=10`` random trials before the model is used
    (Optuna's default); ``multivariate=True`` models the decisions jointly
    (Optuna's default for one objective since v5, and better on cell spaces,
    whose edges interact); ``group=True`` lets multivariate TPE handle the
    conditional parameters of masked spaces (see :func:`suggest_indices`);
    Optuna marks ``group`` experimental, and its warning is silenced.
    ``n_ei_candidates=24`` is Optuna's default.

    When the env has hard limits (``latency_limit_ms``, ``params_limit``),
    each trial carries the evaluation's ``constraint_violation`` as an Optuna
    constraint (``trial.set_constraint``, which replaced the sampler's
    ``constraints_func`` in Optuna 5): Optuna's constrained TPE then ranks
    every infeasible trial after the feasible ones, by its violation, when it
    splits the trials into good and bad. Without limits no constraint is set
    and the study is the plain one.

    The hyperparameters are the fields of :class:`TPESettings`, given as
    keyword arguments.

    Raises:
        ConfigError: For an unknown hyperparameter, one out of range, or ``group`` without ``multivariate``.
    """

    name = "tpe"
    Settings = TPESettings

    settings: TPESettings

    def make_study(self, seed: int) -> optuna.Study:
        """Create an in-memory study that maximises reward, with a TPE sampler seeded by ``seed``."""
        cfg = self.settings
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                n_startup_trials=cfg.n_startup_trials, n_ei_candidates=cfg.n_ei_candidates,
                multivariate=cfg.multivariate, group=cfg.group, seed=seed,
            )
        return optuna.create_study(direction="maximize", sampler=sampler)

    def search(self, run: SearchRun) -> None:
        """Ask, evaluate through the env, tell; until ``run.done``."""
        study = self.make_study(run.seed)
        limited = has_limits(run.parts)
        while not run.done:
            # Batched ask/tell: one trial per worker, evaluated at once, told in the order asked.
            trials = [study.ask() for _ in range(min(run.workers, run.remaining))]
            infos: list[dict[str, Any]] = run.evaluate_many([suggest_indices(t, run.space) for t in trials])
            for trial, info in zip(trials, infos, strict=True):
                if limited:
                    trial.set_constraint(CONSTRAINT, constraint_violation(info))
                study.tell(trial, float(info["reward"]))
        # Not study.best_value: in a constrained study it raises when no trial was feasible.
        best = max(t.value for t in study.trials)
        logger.info("TPE finished %d trials; best reward %.4f.", len(study.trials), best)
