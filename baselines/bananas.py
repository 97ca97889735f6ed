"""BANANAS: Bayesian optimisation with a neural-network ensemble and the path encoding (White et al. 2021).

White, Neiswanger and Savani, "BANANAS: Bayesian Optimization with Neural
Architectures for Neural Architecture Search", AAAI 2021. A predictor
ensemble stands in for the Gaussian process of Bayesian optimisation: its
mean and spread over candidates feed an acquisition function, and the
candidates come from mutating the best architectures found so far rather
than from optimising the acquisition over the whole space.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from nas_gym.predictors import PREDICTORS, make_predictor
from nas_gym.predictors.encodings import ENCODINGS
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings
from nas_gym.spaces import Architecture
from nas_gym.utils.hparams import integer, non_negative_int, one_of, optional, positive_int, setting, string

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BananasSettings(SearcherSettings):
    """Hyperparameters of :class:`Bananas` (naszilla's defaults, see its docstring)."""

    owner = "Bananas"

    num_init: int = setting(10, integer(2), hint="naszilla uses 10.")
    """Random architectures evaluated before the first predictor is fit (≥ 2)."""
    batch_size: int = setting(10, positive_int, hint="naszilla evaluates k = 10 per iteration.")
    """Architectures evaluated per iteration, the top of the acquisition (evaluated run.workers at a time)."""
    predictor: str = setting("mlp_ensemble", string)
    """Predictor name in nas_gym.predictors.PREDICTORS (mlp_ensemble, gbdt)."""
    encoding: str | None = setting(None, optional(one_of(*ENCODINGS), "the space's default: path on nb201"))
    """Feature encoding of the predictor."""
    num_members: int = setting(5, positive_int, hint="naszilla uses an ensemble of 5.")
    """Predictor ensemble size."""
    acquisition: str = setting("its", one_of("its", "ei"))
    """its: independent Thompson sampling, one draw from N(mean, std) per candidate; ei: expected improvement."""
    num_parents: int = setting(10, positive_int)
    """Best evaluated architectures whose mutations are candidates."""
    mutations_per_parent: int = setting(10, positive_int)
    """Mutations drawn per parent."""
    num_random: int = setting(10, non_negative_int)
    """Uniformly sampled candidates added to the mutations."""

    def validate(self) -> None:
        """The predictor must be a registered one.

        Raises:
            ConfigError: Unknown predictor name (with a did-you-mean).
        """
        PREDICTORS.entry(self.predictor)


class Bananas(Searcher):
    """BANANAS: fit a predictor ensemble, mutate the best, evaluate the top of an acquisition.

    1. Evaluate ``num_init`` architectures sampled uniformly (distinct up to
       canonical form).
    2. Until the budget is spent: fit the predictor (``mlp_ensemble`` with
       the path encoding on nb201, by default) on every evaluation so far;
       draw ``mutations_per_parent`` one-decision mutations
       (``space.mutate``) of each of the ``num_parents`` best and
       ``num_random`` uniform samples; drop candidates whose canonical form
       was already evaluated or is already a candidate; score them with the
       acquisition and evaluate the ``batch_size`` best through
       :meth:`SearchRun.evaluate_many`.

    The predictor learns the env's ``reward``, not the validation accuracy,
    so a latency penalty or constraint the env applies counts as it does
    for every other method (with ``latency_weight=0`` the two are equal).

    Acquisition: ``its`` (default, the paper's choice) is independent
    Thompson sampling: each candidate's score is one draw from
    ``N(mean, std)`` of the ensemble; ``ei`` is expected improvement over
    the best reward so far under the same Gaussian.

    Defaults are naszilla's (the authors' code): 10 initial architectures,
    5 members, 10 evaluations per iteration. naszilla mutates the single
    best architecture into 100 candidates; here the ten best give ten
    mutations each (so one lucky evaluation does not own every candidate)
    and ten random samples keep some exploration. The predictor is seeded
    from ``run.rng`` at every fit, and candidate draws come from it too, so
    a run is deterministic for its seed and resumes by replay.

    The hyperparameters are the fields of :class:`BananasSettings`, given
    as keyword arguments.

    Raises:
        ConfigError: For an unknown hyperparameter or one out of range.
    """

    name = "bananas"
    Settings = BananasSettings

    settings: BananasSettings

    def search(self, run: SearchRun) -> None:
        """Run BANANAS until ``run.done``."""
        cfg = self.settings
        space = run.space
        archs: list[Architecture] = []
        rewards: list[float] = []
        seen: set[Architecture] = set()

        def evaluate(batch: list[Architecture]) -> None:
            for arch, info in zip(batch, run.evaluate_many(batch), strict=False):
                archs.append(arch)
                rewards.append(float(info["reward"]))

        def random_fresh(count: int, taken: set[Architecture]) -> list[Architecture]:
            """Up to ``count`` uniform samples unseen up to canonical form (a bounded number of draws)."""
            out: list[Architecture] = []
            for _ in range(20 * count):
                if len(out) == count:
                    break
                arch = space.sample(run.rng)
                key = space.canonical(arch)
                if key not in taken:
                    taken.add(key)
                    out.append(arch)
            return out

        evaluate(random_fresh(cfg.num_init, seen))
        while not run.done:
            candidates = self._candidates(run, archs, rewards, seen)
            if not candidates:
                # Every candidate was evaluated (a tiny space): take random architectures, repeats allowed.
                batch = [space.sample(run.rng) for _ in range(cfg.batch_size)]
            else:
                batch = self._pick(run, archs, rewards, candidates)
            for arch in batch:
                seen.add(space.canonical(arch))
            evaluate(batch)
        logger.info("BANANAS evaluated %d architectures (%d distinct up to canonical form).",
                    run.num_evaluated, len(seen))

    def _candidates(
        self, run: SearchRun, archs: list[Architecture], rewards: list[float], seen: set[Architecture]
    ) -> list[Architecture]:
        """Mutations of the best evaluated architectures plus random ones, new up to canonical form."""
        cfg, space = self.settings, run.space
        order = sorted(range(len(archs)), key=lambda i: -rewards[i])  # stable: ties keep evaluation order
        parents: list[Architecture] = []
        taken: set[Architecture] = set()
        for i in order:
            key = space.canonical(archs[i])
            if key not in taken:
                taken.add(key)
                parents.append(archs[i])
            if len(parents) == cfg.num_parents:
                break
        out: list[Architecture] = []
        keys = set(seen)
        for parent in parents:
            for _ in range(cfg.mutations_per_parent):
                child = space.mutate(parent, run.rng)
                key = space.canonical(child)
                if key not in keys:
                    keys.add(key)
                    out.append(child)
        for _ in range(cfg.num_random):
            arch = space.sample(run.rng)
            key = space.canonical(arch)
            if key not in keys:
                keys.add(key)
                out.append(arch)
        return out

    def _pick(
        self, run: SearchRun, archs: list[Architecture], rewards: list[float], candidates: list[Architecture]
    ) -> list[Architecture]:
        """The ``batch_size`` candidates with the highest acquisition value."""
        cfg = self.settings
        seed = int(run.rng.integers(2**31 - 1))
        kwargs: dict[str, Any] = {"seed": seed, "num_members": cfg.num_members}
        if cfg.encoding is not None:
            kwargs["encoding"] = cfg.encoding
        predictor = make_predictor(cfg.predictor, run.space, **kwargs).fit(archs, rewards)
        mean, std = predictor.predict(candidates)
        if cfg.acquisition == "its":
            score = run.rng.normal(mean, std)
        else:
            score = expected_improvement(mean, std, max(rewards))
        # Stable sort on the negated score: ties go to the earlier candidate, so picks are reproducible.
        top = np.argsort(-score, kind="stable")[: cfg.batch_size]
        return [candidates[int(i)] for i in top]


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """Expected improvement over ``best`` of ``N(mean, std)`` per candidate; ``max(mean - best, 0)`` where std is 0.

    >>> [round(float(v), 4) for v in expected_improvement(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.5)]
    [0.5, 0.1978]
    """
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    gain = mean - best
    safe = np.where(std > 0, std, 1.0)
    z = gain / safe
    cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in z.ravel()]).reshape(z.shape))
    pdf = np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
    ei = gain * cdf + safe * pdf
    return np.where(std > 0, ei, np.maximum(gain, 0.0))
