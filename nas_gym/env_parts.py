"""``EnvParts``: what a :class:`~nas_gym.nas_env.NASEnv` is made of, built from plain-data arguments.

The env's string arguments name parts in the registries — spaces
(:data:`nas_gym.spaces.SPACES`), tasks (:data:`nas_gym.tasks.TASKS`),
evaluators (:data:`nas_gym.evaluators.EVALUATORS`), latency models
(:data:`nas_gym.latency.LATENCY_MODELS`) and rewards
(:data:`nas_gym.rewards.REWARDS`) — and :func:`build_parts` asks each
registry for its part. The env holds the result and hands it out as
``env.unwrapped.parts``, which is how a method that needs more than
``reset``/``step`` (DARTS trains a supernet on the env's task, with its
latency and reward settings) reads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ConfigError
from nas_gym.rewards import Reward
from nas_gym.spaces import SPACES

if TYPE_CHECKING:
    from nas_gym.evaluators.base import Evaluator
    from nas_gym.evaluators.cache import EvalCache
    from nas_gym.evaluators.table import TabularBenchmark
    from nas_gym.latency import LatencyModel
    from nas_gym.spaces import SearchSpace
    from nas_gym.tasks import Task

#: Latency target when none is given and latency is not a table column: about the median
#: single-thread batch-1 latency of default-space networks on digits on a laptop-class CPU.
DEFAULT_LATENCY_TARGET_MS = 0.25

NB201_TABLE_HELP = (
    "NAS-Bench-201-v0 needs a tabular benchmark: pass table='/path/to/table.csv' with "
    "val_column=... and test_column=... (and optionally latency_column=...). "
    "A CSV of all 15,625 NAS-Bench-201 cells with an 'arch_str' column works, e.g. the "
    "NAS-Bench-201 results joined with HW-NAS-Bench latencies."
)


@dataclass
class EnvParts:
    """The parts of one env.

    Attributes:
        space: The search space.
        evaluator: Scores a complete architecture (``evaluate(arch) -> Metrics``).
        latency_model: Adds ``latency_ms`` where the evaluator reports none;
            None when latency comes from the evaluator (a table column) or
            there is none.
        reward: The reward function with its latency weight and target.
        cache: The persistent evaluation cache, or None.
        table: The tabular benchmark the env reads, or None.
        latency: The resolved name of the latency model (``measured``,
            ``op_table``, ``table`` or ``none``; never ``auto``).
    """

    space: SearchSpace
    cache: EvalCache | None
    table: TabularBenchmark | None
    task_name: str
    task_kwargs: dict[str, Any]
    evaluator: Evaluator = field(init=False)
    latency_model: LatencyModel | None = field(init=False, default=None)
    reward: Reward = field(init=False)
    latency: str = field(init=False, default="none")
    _task: Task | None = field(init=False, default=None, repr=False)

    @property
    def task(self) -> Task:
        """The task (dataset), loaded on first use so that table envs never load one."""
        if self._task is None:
            from nas_gym.tasks import make_task

            self._task = make_task(self.task_name, **self.task_kwargs)
        return self._task

    def close(self) -> None:
        """Close the evaluation cache connection."""
        if self.cache is not None:
            self.cache.close()


def make_cache(cache: bool | str | os.PathLike | None) -> EvalCache | None:
    """The env's ``cache`` argument as a cache: True = the user cache dir, a path = that file, False = none.

    Raises:
        ConfigError: Any other value.
    """
    if cache is False or cache is None:
        return None
    from nas_gym.evaluators.cache import EvalCache

    if cache is True:
        return EvalCache()
    if isinstance(cache, (str, os.PathLike)):
        return EvalCache(os.fspath(cache))
    raise ConfigError(f"cache must be True, False or a file path, got {cache!r}.")


def build_parts(  # noqa: D417  (the arguments are NASEnv's, documented in its docstring)
    *,
    space: str,
    space_kwargs: dict[str, Any],
    task: str,
    task_kwargs: dict[str, Any],
    evaluator: str,
    evaluator_kwargs: dict[str, Any],
    table: str | os.PathLike | None,
    arch_column: str,
    val_column: str | None,
    test_column: str | None,
    latency_column: str | None,
    latency: str,
    latency_kwargs: dict[str, Any],
    reward: str,
    latency_weight: float,
    latency_target_ms: float | None,
    cache: bool | str,
    embedded_table: Path | None = None,
) -> EnvParts:
    """Build an env's parts from its arguments (see the ``NASEnv`` docstring for each one).

    Args:
        embedded_table: The table a ``nb201`` space reads when no ``table``
            is given (the one shipped in the package), if present.

    Raises:
        ConfigError: An unknown name or argument, or arguments that do not fit together.
    """
    from nas_gym.evaluators import EVALUATORS
    from nas_gym.latency import LATENCY_MODELS
    from nas_gym.tasks import TASKS

    Reward(reward, latency_weight, 1.0 if latency_target_ms is None else latency_target_ms)  # fail fast
    the_space = SPACES.make(space, space_kwargs, what=f"Space {space!r}")
    if task == "npz" or task_kwargs:
        TASKS.check(task, task_kwargs, what="task_kwargs")
    on_table = evaluator == "table" or table is not None
    if on_table and table is None and the_space.name == "nb201" and embedded_table is not None:
        # The table this project built (see nas_gym/data/nb201_mnist1d.md): works offline.
        table = str(embedded_table)
        val_column = val_column or "val_accuracy"
        test_column = test_column or "test_accuracy"
    if on_table:
        evaluator = "table"
        if table is None:
            raise ConfigError(NB201_TABLE_HELP if the_space.name == "nb201" else
                              "evaluator='table' needs table='/path/to/table.csv' and val_column=...")
        if val_column is None:
            raise ConfigError(f"A table needs val_column='<column of validation accuracy>' (table {table!r}).")
        if evaluator_kwargs:
            raise ConfigError(
                f"evaluator_kwargs {sorted(evaluator_kwargs)} apply to evaluator='train' only; a table takes none."
            )
    parts = EnvParts(the_space, make_cache(cache), None, task, task_kwargs)
    EVALUATORS.check(evaluator, evaluator_kwargs, what="evaluator_kwargs")
    if on_table:
        from nas_gym.evaluators.table import TabularBenchmark

        parts.table = TabularBenchmark.load(
            table, space=the_space, arch_column=arch_column, val_column=val_column,
            test_column=test_column, latency_column=latency_column,
        )
    parts.evaluator = EVALUATORS.make(evaluator, evaluator_kwargs, parts, what="evaluator_kwargs")
    if latency == "table" and latency_column is None:
        raise ConfigError("latency='table' needs latency_column='<column of latency in ms>' and a table.")
    if parts.table is None:
        given = {k: v for k, v in (("val_column", val_column), ("test_column", test_column),
                                   ("latency_column", latency_column)) if v is not None}
        if given:
            raise ConfigError(
                f"{', '.join(f'{k}={v!r}' for k, v in given.items())} name columns of a table, but no table "
                "was given: pass table='/path/to/table.csv' (evaluator='table'), or drop them to train."
            )
    if latency == "auto":
        latency = "table" if latency_column else ("none" if parts.table is not None else "measured")
    parts.latency = latency
    parts.latency_model = LATENCY_MODELS.make(latency, latency_kwargs, parts, what="latency_kwargs")
    if latency_target_ms is None:
        latency_target_ms = DEFAULT_LATENCY_TARGET_MS
        if latency == "table":
            latency_target_ms = float(np.median(parts.table.column(latency_column)))
    parts.reward = Reward(reward, latency_weight, latency_target_ms)
    return parts
