"""ASHA and BOHB through Optuna's pruners: asynchronous multi-fidelity search on the env API.

- ``asha``: Li et al., "A System for Massively Parallel Hyperparameter
  Tuning", MLSys 2020 — random sampling with Optuna's
  ``SuccessiveHalvingPruner`` (asynchronous successive halving).
- ``bohb``: Falkner, Klein and Hutter, "BOHB: Robust and Efficient
  Hyperparameter Optimization at Scale", ICML 2018 — Optuna's
  ``TPESampler`` with its ``HyperbandPruner``, the combination Optuna
  documents as BOHB-like (TPE is fitted per Hyperband bracket, and a pruned
  trial counts with its last reported value).

Each Optuna trial is one architecture. Instead of a training loop that
calls ``trial.report`` every epoch, the trial is evaluated through the env
at each rung's fidelity (``run.submit(arch, epochs=r)``, i.e.
``env.reset(options={"epochs": r})``), continuing from its checkpoint, and
the reward is reported at step ``r``; ``trial.should_prune()`` decides
whether it goes on to the next rung. Up to ``run.workers`` evaluations are
in flight; whenever one comes back the trial is promoted or stopped and the
free slot takes the next rung or a new trial, so no worker waits for a rung
to fill (the point of ASHA).

The synchronous algorithms, ``successive_halving`` and ``hyperband``, are
in :mod:`baselines.hyperband`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from typing import Any

import optuna

from nas_gym.error import ConfigError
from nas_gym.search.optuna_space import suggest_indices
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings
from nas_gym.spaces import Architecture
from nas_gym.utils.hparams import boolean, integer, non_negative_int, positive_int, setting

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ASHASettings(SearcherSettings):
    """Hyperparameters of :class:`ASHA`."""

    owner = "ASHA"

    reduction_factor: int = setting(3, integer(2), hint="Li et al. use 3 or 4; Optuna's default is 4.")
    """eta: a rung promotes its best 1/eta, trained eta times longer."""
    min_epochs: int = setting(1, positive_int)
    """Epochs of the first rung (Optuna's ``min_resource``)."""
    min_early_stopping_rate: int = setting(0, non_negative_int, hint="Optuna's and Li et al.'s default is 0.")
    """s: the first rung is at min_epochs * eta**s."""


@dataclasses.dataclass(frozen=True)
class BOHBSettings(ASHASettings):
    """Hyperparameters of :class:`BOHB` (TPE's settings as in :mod:`baselines.tpe`)."""

    owner = "BOHB"

    n_startup_trials: int = setting(10, positive_int, hint="Optuna's default is 10.")
    """Random trials (per bracket) before TPE takes over."""
    multivariate: bool = setting(True, boolean)
    """Use the multivariate TPE (Falkner et al.'s model is multivariate)."""


class ASHA(Searcher):
    """Asynchronous successive halving over architectures, through Optuna's ask-and-tell and pruner.

    Rungs are at ``min_epochs * eta**k`` epochs below the env's full budget
    (``evaluator_kwargs["epochs"]``), and the full budget last. A trial
    that reaches the full budget is told complete with its reward; one the
    pruner stops is told pruned. The study's name is fixed by the seed
    (Optuna's Hyperband assigns brackets by a hash of it), and results come
    back in submission order, so a run with a given number of workers
    repeats exactly on a table or a cached env, and resumes by replay.

    Defaults: ``reduction_factor=3`` (Li et al.; Optuna's default is 4),
    ``min_epochs=1``, ``min_early_stopping_rate=0``.

    Raises:
        ConfigError: In :meth:`search`, when the env does not train (no
            fidelities) or ``min_epochs`` is above its full budget.
    """

    name = "asha"
    Settings = ASHASettings

    settings: ASHASettings

    def rungs(self, max_epochs: int) -> list[int]:
        """The fidelities a trial is evaluated at, in order: the pruner's rungs, then the full budget."""
        cfg = self.settings
        if cfg.min_epochs > max_epochs:
            raise ConfigError(f"min_epochs={cfg.min_epochs} is above the env's full budget of {max_epochs} epochs "
                              "(evaluator_kwargs['epochs']).")
        rungs, r = [], cfg.min_epochs * cfg.reduction_factor**cfg.min_early_stopping_rate
        while r < max_epochs:
            rungs.append(r)
            r *= cfg.reduction_factor
        return [*rungs, max_epochs]

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """Uniform random architectures."""
        return optuna.samplers.RandomSampler(seed=seed)

    def make_pruner(self, max_epochs: int) -> optuna.pruners.BasePruner:
        """Optuna's asynchronous successive halving."""
        cfg = self.settings
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=cfg.min_epochs, reduction_factor=cfg.reduction_factor,
            min_early_stopping_rate=cfg.min_early_stopping_rate,
        )

    def search(self, run: SearchRun) -> None:
        """Keep ``run.workers`` rung evaluations in flight; promote or prune each as it comes back."""
        if run.max_epochs is None:
            raise ConfigError(
                f"{type(self).__name__} trains architectures at several fidelities (epochs), so it needs an env "
                f"that trains (evaluator='train', e.g. NAS-v0); {run.env_id}'s "
                f"{run.env.unwrapped.evaluator.name} evaluator has none."
            )
        rungs = self.rungs(run.max_epochs)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            study_name=f"nas_gym-{self.name}-seed{run.seed}", direction="maximize",
            sampler=self.make_sampler(run.seed), pruner=self.make_pruner(run.max_epochs),
        )
        # (trial, arch, rung index) of each submitted evaluation, oldest first: results come back in this order.
        in_flight: deque[tuple[optuna.Trial, Architecture, int]] = deque()
        promoted: deque[tuple[optuna.Trial, Architecture, int]] = deque()
        while not run.done:
            while run.pending < min(run.workers, run.remaining):
                if promoted:
                    trial, arch, rung = promoted.popleft()
                else:
                    trial = study.ask()
                    arch, rung = run.space.arch(suggest_indices(trial, run.space)), 0
                run.submit(arch, epochs=rungs[rung])
                in_flight.append((trial, arch, rung))
            before = run.num_evaluated
            info = run.result()
            trial, arch, rung = in_flight.popleft()
            if run.num_evaluated == before:
                break  # collected after the budget was spent: not recorded
            self._tell(study, trial, arch, rung, rungs, info, promoted)
        logger.info("%s: %d trials, %d complete, %d pruned.", self.name, len(study.trials),
                    sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials),
                    sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials))

    @staticmethod
    def _tell(study: optuna.Study, trial: optuna.Trial, arch: Architecture, rung: int, rungs: list[int],
              info: dict[str, Any], promoted: deque[tuple[optuna.Trial, Architecture, int]]) -> None:
        """Report the rung's reward; finish, prune, or queue the trial's next rung (first, ahead of new trials)."""
        value = float(info["reward"])
        if rung == len(rungs) - 1:
            study.tell(trial, value)
            return
        trial.report(value, step=rungs[rung])
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            promoted.append((trial, arch, rung + 1))


class BOHB(ASHA):
    """BOHB: TPE proposes the architectures, Hyperband brackets of asynchronous successive halving prune them.

    As :class:`ASHA`, with Optuna's ``TPESampler`` (seeded by the run,
    multivariate, ``n_startup_trials=10``) and ``HyperbandPruner``
    (``min_resource=min_epochs``, ``max_resource`` the env's full budget,
    ``reduction_factor=3``). Each bracket's TPE learns from that bracket's
    trials, pruned ones by their last reported reward.
    """

    name = "bohb"
    Settings = BOHBSettings

    settings: BOHBSettings

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """TPE (multivariate, as Falkner et al.'s kernel density model)."""
        import warnings

        cfg = self.settings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=cfg.n_startup_trials, multivariate=cfg.multivariate,
            )

    def make_pruner(self, max_epochs: int) -> optuna.pruners.BasePruner:
        """Optuna's Hyperband over asynchronous successive-halving brackets."""
        cfg = self.settings
        return optuna.pruners.HyperbandPruner(
            min_resource=cfg.min_epochs, max_resource=max_epochs, reduction_factor=cfg.reduction_factor,
        )
