"""What the weight-sharing methods (ENAS, SPOS, RSPS) share: the env's supernet, and retraining their top-k alone.

A weight-sharing search ranks architectures by shared-weight scores, which
are cheap but only loosely track what an architecture reaches trained on its
own. So at the end each method retrains its ``k`` best distinct
architectures (by the env's reward under shared weights) with the env's
*stand-alone* evaluator — a table lookup where the env has a table (the
embedded NB201 table on ``NAS-Bench-201-v0``), else real training on the
env's task with ``evaluator="train"`` and the supernet evaluator's
``standalone_kwargs`` (through the env's evaluation cache, under the
training evaluator's own keys) — and the env scores each
(``NASEnv.score``: latency, reward, limits). ``summary.json`` gets

- ``standalone``: the evaluator, ``k``, the retraining seconds, and per
  architecture its shared-weight score and reward beside its stand-alone
  metrics and reward;
- ``result``: the best of them by stand-alone reward (feasible first): the
  run's result, which ``nas-gym search`` prints (with its supernet score
  beside it, labelled as such) and ``nas-gym train`` trains
  (:func:`nas_gym.search.summary.run_result`). ``best`` stays the best by
  shared-weight score, the supernet's favourite (its ``score_source`` is
  ``"supernet"``): no stand-alone accuracy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from nas_gym.env.evaluation import Evaluation
from nas_gym.error import ConfigError

if TYPE_CHECKING:
    from nas_gym.env.parts import EnvParts
    from nas_gym.evaluators.base import Evaluator
    from nas_gym.evaluators.supernet import SupernetEvaluator
    from nas_gym.search.run import SearchRun

#: Architectures a weight-sharing method retrains stand-alone at the end, by default.
DEFAULT_TOP_K = 5


def supernet_of(run: SearchRun, method: str) -> SupernetEvaluator:
    """The env's supernet evaluator, for the weight-sharing method ``method``.

    Raises:
        ConfigError: The env scores otherwise; the message says how to make it score with shared weights.
    """
    from nas_gym.evaluators.supernet import SupernetEvaluator

    evaluator = run.env.unwrapped.evaluator
    if not isinstance(evaluator, SupernetEvaluator):
        task = ', "task": "mnist1d"' if run.space.name == "nb201" else ""
        raise ConfigError(
            f"--agent {method} searches with shared weights, but this env scores with the {evaluator.name}: make "
            f"it with evaluator='supernet' (--env-kwargs '{{\"evaluator\": \"supernet\"{task}}}')."
        )
    return evaluator


def standalone_evaluator(parts: EnvParts) -> Evaluator:
    """The env's stand-alone reference: its table where it has one, else real training (cached)."""
    from nas_gym.evaluators import EVALUATORS
    from nas_gym.evaluators.table import TableEvaluator

    if parts.table is not None:
        return TableEvaluator(parts.table)
    kwargs = getattr(parts.evaluator, "standalone_kwargs", {})
    return EVALUATORS.make("train", kwargs, parts, what="supernet standalone_kwargs")


def top_architectures(run: SearchRun, k: int) -> list[Evaluation]:
    """The ``k`` best distinct architectures of the run (feasible first, then reward; ties: the earlier one)."""
    best: dict[str, Evaluation] = {}
    for e in run.evaluations:
        key = str(run.space.canonical(run.space.from_string(e.arch)))
        if key not in best or (e.feasible, e.reward) > (best[key].feasible, best[key].reward):
            best[key] = e
    order = sorted(best.values(), key=lambda e: (e.feasible, e.reward), reverse=True)
    return order[:k]


def retrain_top_k(run: SearchRun, k: int = DEFAULT_TOP_K) -> dict[str, Any] | None:
    """Score the run's ``k`` best architectures stand-alone, and write them to its summary (see the module docstring).

    Returns:
        The ``standalone`` record, or None when the run evaluated nothing.
    """
    top = top_architectures(run, k)
    if not top:
        return None
    evaluator = standalone_evaluator(run.parts)
    entries, cost = [], 0.0
    for e in tqdm(top, desc="stand-alone retraining", unit="arch", leave=False, disable=None):
        arch = run.space.from_string(e.arch)
        scored = run.env.unwrapped.score(arch, evaluator.evaluate(arch))
        if not scored.cached:
            cost += scored.cost_s
        entries.append({
            "arch": e.arch,
            "supernet": {"val_accuracy": e.val_accuracy, "reward": e.reward, "feasible": e.feasible},
            "standalone": scored.summary(),
        })
    best = max(entries, key=lambda x: (x["standalone"]["feasible"], x["standalone"]["reward"]))
    record = {"evaluator": evaluator.name, "top_k": k, "cost_s": cost, "architectures": entries}
    run.add_to_summary("standalone", record)
    run.add_to_summary("result", best["standalone"])
    run.log_scalar("weight_sharing/standalone_best_reward", best["standalone"]["reward"])
    run.log_scalar("weight_sharing/standalone_cost_s", cost)
    return record
