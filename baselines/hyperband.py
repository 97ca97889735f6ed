"""Successive halving and Hyperband (Jamieson & Talwalkar 2016; Li et al. 2018), synchronous, on the env API.

Li, Jamieson, DeSalvo, Rostamizadeh and Talwalkar, "Hyperband: A Novel
Bandit-Based Approach to Hyperparameter Optimization", JMLR 18(185), 2018,
Algorithm 1. The resource is epochs of training: each architecture is
evaluated through the env at a fidelity (``run.evaluate(arch, epochs=r)``,
i.e. ``env.reset(options={"epochs": r})``), the best ``1/eta`` of a rung are
promoted to ``eta`` times the epochs, and a promoted architecture continues
from its checkpoint, so it trains only the extra epochs.

Written here, not taken from Optuna: Optuna's ``SuccessiveHalvingPruner``
and ``HyperbandPruner`` are the *asynchronous* variants (a trial is promoted
as soon as it is in the top ``1/eta`` of those that reached its rung so
far), which :mod:`baselines.optuna_pruning` uses for ``asha`` and ``bohb``.
The synchronous algorithm waits for a whole rung and keeps exactly its best
``n_i / eta``; no well-kept library offers it over an ask-and-tell interface
(HpBandSter needs its own server and workers), and it is a few lines.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from typing import Any

from nas_gym.error import ConfigError
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings, draw_until
from nas_gym.spaces import Architecture
from nas_gym.utils.hparams import boolean, integer, optional, positive_int, setting

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class HyperbandSettings(SearcherSettings):
    """Hyperparameters of :class:`Hyperband` (Li et al.'s defaults: ``eta=3``)."""

    owner = "Hyperband"

    eta: int = setting(3, integer(2), hint="Li et al. use 3 (and note 3 or 4 work well).")
    """Reduction factor: a rung keeps its best 1/eta and trains them eta times longer."""
    min_epochs: int = setting(1, positive_int)
    """Fewest epochs an architecture is trained (the smallest rung); at most the env's full budget."""
    dedup: bool = setting(True, boolean)
    """Redraw a new architecture whose canonical form this run already evaluated."""


@dataclasses.dataclass(frozen=True)
class SuccessiveHalvingSettings(HyperbandSettings):
    """Hyperparameters of :class:`SuccessiveHalving`."""

    owner = "successive halving"

    n_configs: int | None = setting(None, optional(integer(2), "eta ** s_max, Hyperband's most aggressive bracket"))
    """Architectures in each bracket's first rung."""


def rung_epochs(eta: int, min_epochs: int, max_epochs: int) -> tuple[int, list[int]]:
    """``s_max`` and the epochs of each rung of the most aggressive bracket, ``max_epochs * eta**-s`` rounded.

    >>> rung_epochs(3, 1, 9)
    (2, [1, 3, 9])
    >>> rung_epochs(3, 1, 6)
    (1, [2, 6])
    """
    if min_epochs > max_epochs:
        raise ConfigError(f"min_epochs={min_epochs} is above the env's full budget of {max_epochs} epochs "
                          "(evaluator_kwargs['epochs']).")
    s_max = int(math.floor(math.log(max_epochs / min_epochs, eta) + 1e-9))
    return s_max, [max(min_epochs, round(max_epochs * eta ** (i - s_max))) for i in range(s_max + 1)]


class Hyperband(Searcher):
    """Hyperband: brackets of successive halving from aggressive to none, repeated until the budget is spent.

    With ``R`` the env's full budget of epochs (``evaluator_kwargs["epochs"]``,
    its largest fidelity) and ``s_max = floor(log_eta(R / min_epochs))``,
    bracket ``s`` (from ``s_max`` down to 0) draws
    ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` architectures uniformly, trains
    them ``r = R * eta**-s`` epochs, and ``s`` times keeps the best
    ``floor(n_i / eta)`` by reward and trains them ``eta`` times longer; the
    last rung is the full budget. A rung is evaluated as one batch
    (``run.submit``/``run.result``, so ``--workers`` evaluate it in
    parallel), and ties keep the earlier architecture. The env pays every
    reward; the run counts each evaluation's epochs as only what it added
    (``run.epochs_trained``), so ``--budget-epochs`` compares it with
    full-fidelity methods at equal training.

    Defaults: ``eta=3`` and ``min_epochs=1`` (Li et al.); ``dedup`` redraws
    an architecture already evaluated (up to canonical form), as the other
    sampling methods here do.

    Raises:
        ConfigError: In :meth:`search`, when the env does not train (no fidelities), or
            ``min_epochs`` is above its full budget.
    """

    name = "hyperband"
    Settings = HyperbandSettings

    settings: HyperbandSettings

    def brackets(self, max_epochs: int) -> list[tuple[int, list[int]]]:
        """One round of brackets: for each, its first rung's size and the epochs of its rungs."""
        cfg = self.settings
        s_max, rungs = rung_epochs(cfg.eta, cfg.min_epochs, max_epochs)
        return [(math.ceil((s_max + 1) / (s + 1) * cfg.eta**s), rungs[s_max - s:]) for s in range(s_max, -1, -1)]

    def search(self, run: SearchRun) -> None:
        """Run rounds of brackets until ``run.done``."""
        max_epochs = _require_fidelities(run, type(self).__name__)
        brackets = self.brackets(max_epochs)
        logger.info("%s brackets (first-rung size, rung epochs): %s", self.name, brackets)
        seen: set[Architecture] = set()
        while not run.done:
            for n, rungs in brackets:
                if run.done:
                    return
                self.successive_halving(run, n, rungs, seen)

    def successive_halving(self, run: SearchRun, n: int, rungs: list[int], seen: set[Architecture]) -> None:
        """One bracket: ``n`` new architectures through ``rungs``, keeping the best ``1/eta`` at each."""
        eta = self.settings.eta
        alive = [self._draw(run, seen) for _ in range(n)]
        for i, epochs in enumerate(rungs):
            infos = _evaluate_batch(run, alive, epochs)
            if len(infos) < len(alive) or i == len(rungs) - 1:
                return  # the budget ran out mid-rung, or the bracket is done
            keep = max(1, len(alive) // eta)
            # Stable: among equal rewards the earlier architecture is kept.
            order = sorted(range(len(alive)), key=lambda j: -infos[j]["reward"])
            alive = [alive[j] for j in sorted(order[:keep])]
            logger.debug("%s rung %d (%d epochs): kept %d of %d", self.name, i, epochs, keep, len(infos))

    def _draw(self, run: SearchRun, seen: set[Architecture]) -> Architecture:
        space = run.space
        redraws = 100 if self.settings.dedup else 0
        arch = draw_until(lambda: space.sample(run.rng), lambda a: space.canonical(a) not in seen, redraws)
        seen.add(space.canonical(arch))
        return arch


class SuccessiveHalving(Hyperband):
    """Successive halving: Hyperband's most aggressive bracket only, repeated until the budget is spent.

    Each round draws ``n_configs`` architectures (default ``eta**s_max``,
    the bracket Hyperband starts with), trains them at the smallest rung and
    keeps the best ``1/eta`` of each rung for the next, up to the env's full
    budget. See :class:`Hyperband` for the rungs and the accounting.
    """

    name = "successive_halving"
    Settings = SuccessiveHalvingSettings

    settings: SuccessiveHalvingSettings

    def brackets(self, max_epochs: int) -> list[tuple[int, list[int]]]:
        """One bracket: ``n_configs`` (or ``eta**s_max``) architectures through every rung."""
        cfg = self.settings
        s_max, rungs = rung_epochs(cfg.eta, cfg.min_epochs, max_epochs)
        return [(cfg.n_configs or cfg.eta**s_max, rungs)]


def _require_fidelities(run: SearchRun, method: str) -> int:
    """The env's full budget in epochs; a ConfigError where the env has no fidelities."""
    if run.max_epochs is None:
        raise ConfigError(
            f"{method} trains architectures at several fidelities (epochs), so it needs an env that trains "
            f"(evaluator='train', e.g. NAS-v0); {run.env_id}'s {run.env.unwrapped.evaluator.name} evaluator has none."
        )
    return run.max_epochs


def _evaluate_batch(run: SearchRun, archs: list[Architecture], epochs: int) -> list[dict[str, Any]]:
    """Evaluate ``archs`` at ``epochs``, up to ``run.workers`` at once; fewer infos when the budget runs out."""
    infos: list[dict[str, Any]] = []
    queue = deque(archs)
    while not run.done and (queue or run.pending):
        while queue and run.pending < min(run.workers, run.remaining):
            run.submit(queue.popleft(), epochs=epochs)
        if not run.pending:
            break
        before = run.num_evaluated
        info = run.result()
        if run.num_evaluated > before:  # not one collected after the budget was spent (it is not recorded)
            infos.append(info)
    return infos
