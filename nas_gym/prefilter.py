"""A zero-cost pre-filter any method can use: keep the best of many candidates by a proxy, before evaluating.

A method that starts from random architectures (evolution's initial
population, a warm-up) can instead draw ``factor`` times as many, score each
with a zero-cost proxy (:mod:`nas_gym.zero_cost`) and evaluate only the best.
The scores come from an env too: a second env of the run's id and arguments
with ``evaluator="zero_cost"`` (no latency, no cache), played through
``reset``/``step`` like every evaluation, so a user's own proxy registered in
:data:`~nas_gym.zero_cost.ZERO_COST_PROXIES` works here unchanged. Those
scores are not evaluations of the run: they are not in its history and cost
none of its budget, but their seconds are added to its search cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from nas_gym.parallel import play

if TYPE_CHECKING:
    from nas_gym.search import SearchRun
    from nas_gym.spaces import Architecture

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


def proxy_scores(run: SearchRun, archs: Sequence[Architecture], proxy: str, task: str | None = None) -> list[float]:
    """``proxy``'s score of each architecture, through a zero-cost env of the run's id; its seconds join the run's cost.

    Raises:
        ConfigError: An unknown proxy or task (from the env).
    """
    start = time.perf_counter()
    env = gym.make(run.env_id, **proxy_env_kwargs(run.env_kwargs, proxy, task))
    try:
        scores = [float(play(env.unwrapped, arch.indices)["zero_cost_score"]) for arch in archs]
    finally:
        env.close()
    seconds = time.perf_counter() - start
    run.add_search_cost(seconds)
    logger.info("Pre-filter: %d architectures scored by %s in %.1f s.", len(archs), proxy, seconds)
    return scores


def best_by_proxy(
    run: SearchRun, candidates: Sequence[Architecture], keep: int, proxy: str, task: str | None = None
) -> list[Architecture]:
    """The ``keep`` candidates with the highest ``proxy`` scores, in their original order (ties: earlier first)."""
    scores = np.asarray(proxy_scores(run, candidates, proxy, task))
    # -inf (e.g. NASWOT's singular kernel) sorts last; a stable sort keeps earlier candidates on ties.
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")[:keep]
    return [candidates[i] for i in sorted(order)]
