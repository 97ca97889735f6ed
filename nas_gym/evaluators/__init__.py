"""Evaluators: real training, tabular lookup, and the persistent cache that wraps them.

:data:`EVALUATORS` holds them by the names of the env's ``evaluator``
argument. A factory takes what it reads of the env being built
(:class:`EvaluatorInputs`: space, task, cache, table) and the user's
``evaluator_kwargs``; a new
evaluator is an :class:`~nas_gym.evaluators.base.Evaluator` subclass and one
``EVALUATORS.register`` line, and every method, the CLI and the benchmark
pick it up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from nas_gym.error import ConfigError
from nas_gym.registry import Registry

if TYPE_CHECKING:
    from nas_gym.evaluators.base import Evaluator
    from nas_gym.evaluators.table import TabularBenchmark
    from nas_gym.spaces.base import SearchSpace
    from nas_gym.storage.cache import EvalCache
    from nas_gym.tasks.base import Task


class EvaluatorInputs(Protocol):
    """What an evaluator's factory reads of the env being built (:class:`~nas_gym.env.parts.EnvParts` is one).

    Factories take this, not the env's whole bundle of parts, so that no part imports the env.
    """

    space: SearchSpace
    cache: EvalCache | None
    table: TabularBenchmark | None

    @property
    def task(self) -> Task:
        """The env's task, loaded on first use."""
        ...


EVALUATORS: Registry[Evaluator] = Registry("evaluator", group="nas_gym.evaluators")


# Factories import their evaluator when called: training imports torch's optimizers.
@EVALUATORS.register("train", takes="nas_gym.evaluators.training:TrainingEvaluator", fixed=("task",))
def _train(parts: EvaluatorInputs, /, **kwargs: Any) -> Evaluator:
    """Real training on the env's task, behind the persistent cache."""
    from nas_gym.evaluators.cached import CachedEvaluator
    from nas_gym.evaluators.training import TrainingEvaluator
    from nas_gym.storage.checkpoints import CheckpointStore

    evaluator = TrainingEvaluator(parts.task, **kwargs)
    if parts.cache is not None:
        # Low-fidelity trainings' states, beside the cache that records their results (nas_gym.storage.checkpoints).
        evaluator.checkpoints = CheckpointStore(parts.cache.path + ".checkpoints")
    return CachedEvaluator(evaluator, parts.cache)


@EVALUATORS.register("table")
def _table(parts: EvaluatorInputs, /) -> Evaluator:
    """Lookup in the env's table (a lookup is cheaper than a cache read: not cached)."""
    from nas_gym.evaluators.table import TableEvaluator

    if parts.table is None:
        raise ConfigError("evaluator='table' needs table='/path/to/table.csv' and val_column=...")
    return TableEvaluator(parts.table)


@EVALUATORS.register("surrogate", takes="nas_gym.evaluators.surrogate:SurrogateEvaluator", fixed=("space",))
def _surrogate(parts: EvaluatorInputs, /, **kwargs: Any) -> Evaluator:
    """A fitted model's prediction (NAS-Surrogate-v0's): instant and deterministic, so not cached."""
    from nas_gym.evaluators.surrogate import SurrogateEvaluator

    return SurrogateEvaluator(parts.space, **kwargs)


@EVALUATORS.register("zero_cost", takes="nas_gym.evaluators.zero_cost:ZeroCostEvaluator", fixed=("task", "table"))
def _zero_cost(parts: EvaluatorInputs, /, **kwargs: Any) -> Evaluator:
    """A zero-cost proxy on one batch of the env's task; a table, if any, stays the stand-alone reference."""
    from nas_gym.evaluators.zero_cost import ZeroCostEvaluator

    return ZeroCostEvaluator(parts.task, table=parts.table, **kwargs)


@EVALUATORS.register("supernet", takes="nas_gym.evaluators.supernet:SupernetEvaluator",
                     fixed=("task", "space", "table"))
def _supernet(parts: EvaluatorInputs, /, **kwargs: Any) -> Evaluator:
    """A single path of one weight-sharing supernet trained on the env's task; never cached (its state moves)."""
    from nas_gym.evaluators.supernet import SupernetEvaluator

    return SupernetEvaluator(parts.task, space=parts.space, table=parts.table, **kwargs)
