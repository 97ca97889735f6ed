"""A zero-cost pre-filter any method can use: keep the best of many candidates by a proxy, before evaluating.

A method that starts from random architectures (evolution's initial
population, a warm-up) can instead draw ``factor`` times as many, score each
with a zero-cost proxy (:mod:`nas_gym.predictors.zero_cost`) and evaluate only the best.
The scores come from an env too: a second env of the run's id and arguments
with ``evaluator="zero_cost"`` (no latency, no cache), played through
``reset``/``step`` like every evaluation, so a user's own proxy registered in
:data:`~nas_gym.predictors.zero_cost.ZERO_COST_PROXIES` works here unchanged. Those
scores are not evaluations of the run: they are not in its history and cost
none of its budget, but their seconds are added to its search cost.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from nas_gym.search.pools import play

if TYPE_CHECKING:
    from nas_gym.search.run import SearchRun
    from nas_gym.spaces import Architecture

    Key = Architecture | tuple[int, ...]

logger = logging.getLogger(__name__)

#: Env arguments the proxy env drops: it scores, so it needs no latency, limits, objectives or cache.
_DROPPED = ("evaluator", "evaluator_kwargs", "latency", "latency_kwargs", "latency_weight", "latency_target_ms",
            "latency_limit_ms", "params_limit", "objectives", "cache", "reward")


def proxy_env_kwargs(env_kwargs: dict[str, Any], proxy: str, task: str | None = None) -> dict[str, Any]:
    """The run's env arguments turned into those of an env that pays ``proxy``'s score (on ``task`` if given)."""
    kwargs = {k: v for k, v in env_kwargs.items() if k not in _DROPPED}
    kwargs.update(evaluator="zero_cost", evaluator_kwargs={"proxy": proxy}, latency="none", cache=False)
    if task is not None:
        kwargs["task"] = task
    return kwargs


@contextlib.contextmanager
def proxy_scorer(
    run: SearchRun, proxy: str, task: str | None = None
) -> Iterator[Callable[[Sequence[Key]], list[float]]]:
    """A function scoring architectures (or their index tuples) by ``proxy``, through one zero-cost env.

    For methods that score in rounds (a controller's warm-up); the env is
    made once and closed on exit, when the seconds spent join the run's
    search cost.

    Raises:
        ConfigError: An unknown proxy or task (from the env).
    """
    env = gym.make(run.env_id, **proxy_env_kwargs(run.env_kwargs, proxy, task))
    spent, count = 0.0, 0

    def score(archs: Sequence[Key]) -> list[float]:
        nonlocal spent, count
        start = time.perf_counter()
        scores = [float(play(env.unwrapped, getattr(a, "indices", a))["zero_cost_score"]) for a in archs]
        spent += time.perf_counter() - start
        count += len(archs)
        return scores

    try:
        yield score
    finally:
        env.close()
        run.add_search_cost(spent)
        logger.info("Pre-filter: %d architectures scored by %s in %.1f s.", count, proxy, spent)


def proxy_scores(run: SearchRun, archs: Sequence[Architecture], proxy: str, task: str | None = None) -> list[float]:
    """``proxy``'s score of each architecture, through a zero-cost env of the run's id; its seconds join the run's cost.

    Raises:
        ConfigError: An unknown proxy or task (from the env).
    """
    with proxy_scorer(run, proxy, task) as score:
        return score(archs)


def highest(candidates: Sequence[Any], scores: Sequence[float], keep: int) -> list[Any]:
    """The ``keep`` candidates with the highest scores, in their original order (ties: earlier first)."""
    # nan (e.g. NASWOT's singular kernel) sorts last; a stable sort keeps earlier candidates on ties.
    order = np.argsort(-np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf), kind="stable")[:keep]
    return [candidates[i] for i in sorted(order)]


def best_by_proxy(
    run: SearchRun, candidates: Sequence[Architecture], keep: int, proxy: str, task: str | None = None
) -> list[Architecture]:
    """The ``keep`` candidates with the highest ``proxy`` scores, in their original order (ties: earlier first)."""
    return highest(candidates, proxy_scores(run, candidates, proxy, task), keep)
