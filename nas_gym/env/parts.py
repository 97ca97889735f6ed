"""``EnvParts``: what a :class:`~nas_gym.env.nas_env.NASEnv` is made of, built from plain-data arguments.

The env's string arguments name parts in the registries — spaces
(:data:`nas_gym.spaces.SPACES`), tasks (:data:`nas_gym.tasks.base.TASKS`),
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

from nas_gym.error import ConfigError, unknown_name
from nas_gym.rewards import Reward
from nas_gym.spaces import SPACES

if TYPE_CHECKING:
    from nas_gym.evaluators.base import Evaluator
    from nas_gym.evaluators.table import TabularBenchmark
    from nas_gym.latency import LatencyModel
    from nas_gym.spaces import SearchSpace
    from nas_gym.storage.cache import EvalCache
    from nas_gym.tasks.base import Task

#: Latency target when none is given and latency is not a table column: about the median
#: single-thread batch-1 latency of default-space networks on digits on a laptop-class CPU.
DEFAULT_LATENCY_TARGET_MS = 0.25
#: Weight of the latency term when none is given and the env has latency (0 when it has none).
DEFAULT_LATENCY_WEIGHT = 0.1
#: Evaluators that score an architecture otherwise but read the env's table (the embedded one on ``nb201``) as the
#: stand-alone reference: its test accuracy and latency fill their metrics.
TABLE_REFERENCE_EVALUATORS = ("zero_cost", "supernet")
#: Latency modes resolved here rather than registered: which latency model they mean depends on the env.
LATENCY_MODES = ("auto", "requested")

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
            ``onnxruntime``, ``op_table``, ``table`` or ``none``; never ``auto``).
        latency_limit_ms: Hard latency limit, or None.
        params_limit: Hard limit on trainable parameters, or None.
        objectives: The metrics of a vector reward (MO-Gymnasium's convention), or None for a scalar reward.
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
    latency_limit_ms: float | None = field(init=False, default=None)
    params_limit: int | None = field(init=False, default=None)
    objectives: tuple[str, ...] | None = field(init=False, default=None)
    _task: Task | None = field(init=False, default=None, repr=False)

    @property
    def task(self) -> Task:
        """The task (dataset), loaded on first use so that table envs never load one.

        Raises:
            ConfigError: The space cannot build for the task (``SearchSpace.check_task``).
        """
        if self._task is None:
            from nas_gym.tasks.base import make_task

            task = make_task(self.task_name, **self.task_kwargs)
            # Space and task are checked together here, where the task is first loaded, rather than in
            # build_parts: a part that trains or times networks loads it while the env is made (so a
            # convolutional space on a vector task fails at gym.make), and a table env never loads one.
            self.space.check_task(task)
            self._task = task
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
    from nas_gym.storage.cache import EvalCache

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
    latency_weight: float | None,
    latency_target_ms: float | None,
    cache: bool | str,
    latency_limit_ms: float | None = None,
    params_limit: int | None = None,
    objectives: tuple[str, ...] | None = None,
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
    from nas_gym.tasks.base import TASKS

    Reward(reward, latency_weight or 0.0, 1.0 if latency_target_ms is None else latency_target_ms)  # fail fast
    _check_objectives(objectives)
    # What asks for latency: the reward's weight, a limit, or an objective. Where nothing does, the
    # "requested" mode (NAS-Bench-201-v0's) leaves the embedded table's latency column unused.
    asks = [name for name, on in (("latency_weight", bool(latency_weight)),
                                  ("latency_limit_ms", latency_limit_ms is not None),
                                  ("objectives", "latency_ms" in (objectives or ()))) if on]
    the_space = SPACES.make(space, space_kwargs, what=f"Space {space!r}")
    if task == "npz" or task_kwargs:
        TASKS.check(task, task_kwargs, what="task_kwargs")
    # Evaluators that score otherwise but keep a table as the stand-alone reference (test accuracy, latency).
    keeps_table = evaluator in TABLE_REFERENCE_EVALUATORS
    on_table = evaluator == "table" or (table is not None and not keeps_table)
    wants_table = on_table or keeps_table and (table is not None or the_space.name == "nb201")
    if wants_table and table is None and the_space.name == "nb201" and embedded_table is not None:
        # The table this project built (see nas_gym/data/nb201_mnist1d.md): works offline.
        table = str(embedded_table)
        val_column = val_column or "val_accuracy"
        test_column = test_column or "test_accuracy"
        if latency_column is None and (latency == "auto" or (latency == "requested" and asks)):
            latency_column = "latency_ms"
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
    if wants_table and table is not None:
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
    if latency in LATENCY_MODES:
        # An evaluator that predicts latency itself (the surrogate) names the model that means "its own figure".
        own = getattr(parts.evaluator, "own_latency", None)
        latency = "table" if latency_column else ("none" if parts.table is not None else own or "measured")
    parts.latency = latency
    parts.latency_model = LATENCY_MODELS.make(latency, latency_kwargs, parts, what="latency_kwargs")
    if latency == "none" and asks:
        raise ConfigError(
            f"{asks[0]} needs latency, but this env has no latency model: "
            + ("pass latency_column='<column of latency in ms>' naming the table's latency column"
               if parts.table is not None else "pass latency='measured' or latency='op_table'")
            + f", or drop {asks[0]}."
        )
    if params_limit is not None and parts.table is not None and "params" not in parts.table.columns:
        raise ConfigError(
            f"params_limit={params_limit!r} needs parameter counts, but table {parts.table.path.name} has no "
            "'params' column: add one, or drop params_limit."
        )
    if latency_weight is None:
        latency_weight = DEFAULT_LATENCY_WEIGHT if latency != "none" else 0.0
    if latency_target_ms is None:
        latency_target_ms = DEFAULT_LATENCY_TARGET_MS
        if latency == "table":
            latency_target_ms = float(np.median(parts.table.column(latency_column)))
    parts.reward = Reward(reward, latency_weight, latency_target_ms)
    parts.latency_limit_ms = None if latency_limit_ms is None else float(latency_limit_ms)
    parts.params_limit = None if params_limit is None else int(params_limit)
    parts.objectives = None if objectives is None else tuple(objectives)
    return parts


def _check_objectives(objectives: tuple[str, ...] | None) -> None:
    """Refuse objectives that are not metrics of an evaluation, or repeated ones."""
    from nas_gym.multi_objective.pareto import OBJECTIVES

    if objectives is None:
        return
    if (not isinstance(objectives, (list, tuple)) or not objectives
            or not all(isinstance(o, str) for o in objectives)):
        raise ConfigError(f"objectives must be a list of metric names such as ['val_accuracy', 'latency_ms'], "
                          f"got {objectives!r}.")
    for name in objectives:
        if name not in OBJECTIVES:
            raise unknown_name("objective", name, OBJECTIVES)
    if len(set(objectives)) != len(objectives):
        raise ConfigError(f"objectives must not repeat a metric, got {list(objectives)}.")
