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
    dataset: str | None = None,
) -> EnvParts:
    """Build an env's parts from its arguments (see the ``NASEnv`` docstring for each one).

    Each step is a function below that states its rule. The steps run in this order, which is
    also the order in which arguments that do not fit are refused (cheap checks before the
    cache, the table and the evaluator are made).

    Args:
        dataset: The packaged NAS-Bench-201 table an ``nb201`` env reads when
            no ``table`` is given (:data:`nas_gym.data.NB201_DATASETS`); None
            means the default, the embedded MNIST-1D one.

    Raises:
        ConfigError: An unknown name or argument, or arguments that do not fit together.
    """
    from nas_gym.evaluators import EVALUATORS
    from nas_gym.latency import LATENCY_MODELS

    _check_reward(reward, latency_weight, latency_target_ms)
    _check_objectives(objectives)
    asks = _latency_askers(latency_weight, latency_limit_ms, objectives)
    the_space = _resolve_space(space, space_kwargs, task, task_kwargs)
    evaluator = _choose_evaluator(evaluator, table)
    given = _TableArgs(table, arch_column, val_column, test_column, latency_column)
    columns = _resolve_table(evaluator, the_space, given, latency, asks, dataset)
    if evaluator == "table":
        _check_table_evaluator(columns, evaluator_kwargs, the_space)
    parts = EnvParts(the_space, make_cache(cache), None, task, task_kwargs)
    evaluator_kwargs = _supernet_reference_kwargs(evaluator, evaluator_kwargs)
    EVALUATORS.check(evaluator, evaluator_kwargs, what="evaluator_kwargs")
    parts.table = _load_table(columns, the_space)
    parts.evaluator = EVALUATORS.make(evaluator, evaluator_kwargs, parts, what="evaluator_kwargs")
    _check_columns(columns, latency, parts.table)
    parts.latency = _resolve_latency(latency, columns.latency_column, parts)
    parts.latency_model = LATENCY_MODELS.make(parts.latency, latency_kwargs, parts, what="latency_kwargs")
    _check_measurable(parts, asks, params_limit)
    parts.reward = _make_reward(reward, latency_weight, latency_target_ms, parts, columns.latency_column)
    parts.latency_limit_ms = None if latency_limit_ms is None else float(latency_limit_ms)
    parts.params_limit = None if params_limit is None else int(params_limit)
    parts.objectives = None if objectives is None else tuple(objectives)
    return parts


@dataclass(frozen=True)
class _TableArgs:
    """The env's table arguments: the table file and which of its columns hold what.

    Attributes:
        path: The table file (``table``), or None.
        arch_column: The column of architecture strings.
        val_column: The column of validation accuracy, or None.
        test_column: The column of test accuracy, or None.
        latency_column: The column of latency in milliseconds, or None.
    """

    path: str | os.PathLike | None
    arch_column: str
    val_column: str | None
    test_column: str | None
    latency_column: str | None


def _check_reward(reward: str, latency_weight: float | None, latency_target_ms: float | None) -> None:
    """Refuse an unknown reward or a bad weight or target before anything slow is built.

    The defaults of the weight and the target depend on the latency model, so they are filled in
    last (:func:`_make_reward`); here an unset weight counts as 0 and an unset target as 1 ms.
    """
    Reward(reward, latency_weight or 0.0, 1.0 if latency_target_ms is None else latency_target_ms)


def _latency_askers(
    latency_weight: float | None, latency_limit_ms: float | None, objectives: tuple[str, ...] | None
) -> list[str]:
    """The arguments that ask for latency: a nonzero weight, a limit, or a ``latency_ms`` objective.

    An env where one asks must have a latency model (:func:`_check_measurable`); where none does,
    the ``requested`` latency mode (NAS-Bench-201-v0's) leaves the embedded table's latency column
    unused (:func:`_resolve_table`).
    """
    return [name for name, on in (("latency_weight", bool(latency_weight)),
                                  ("latency_limit_ms", latency_limit_ms is not None),
                                  ("objectives", "latency_ms" in (objectives or ()))) if on]


def _resolve_space(space: str, space_kwargs: dict[str, Any], task: str, task_kwargs: dict[str, Any]) -> SearchSpace:
    """The search space named ``space``; then the task's arguments are checked.

    They are checked when given, and always for ``npz`` (which needs a path); the task itself loads
    on first use (:attr:`EnvParts.task`), so a table env never loads one.
    """
    from nas_gym.tasks.base import TASKS

    the_space = SPACES.make(space, space_kwargs, what=f"Space {space!r}")
    if task == "npz" or task_kwargs:
        TASKS.check(task, task_kwargs, what="task_kwargs")
    return the_space


def _supernet_reference_kwargs(evaluator: str, evaluator_kwargs: dict[str, Any]) -> dict[str, Any]:
    """An env's training settings become its supernet's stand-alone reference settings.

    An env registered with training settings (``NAS-RNN-v0``, ``NAS-LM-v0``: ``steps``, ``epochs``, ...)
    keeps them under ``gym.make(..., evaluator="supernet")``: they are not the supernet's, so they become its
    ``standalone_kwargs``, how a weight-sharing method retrains its top architectures
    (:mod:`nas_gym.search.weight_sharing`), as the env itself trains. Only where every key is a training
    argument and one at least is not the supernet's; anything else is the supernet's to check.
    """
    from nas_gym.evaluators import EVALUATORS

    if evaluator != "supernet" or not evaluator_kwargs:
        return evaluator_kwargs
    try:
        EVALUATORS.check("supernet", evaluator_kwargs)
        return evaluator_kwargs
    except ConfigError:
        pass
    try:
        EVALUATORS.check("train", evaluator_kwargs)
    except ConfigError:
        return evaluator_kwargs  # the supernet's own check names the key it does not take
    return {"standalone_kwargs": dict(evaluator_kwargs)}


def _choose_evaluator(evaluator: str, table: str | os.PathLike | None) -> str:
    """The evaluator's name: ``table`` when asked for or given a table, else ``evaluator``.

    A table given to one of :data:`TABLE_REFERENCE_EVALUATORS` does not make it ``table``: it keeps
    the table as the stand-alone reference.
    """
    if evaluator == "table" or (table is not None and evaluator not in TABLE_REFERENCE_EVALUATORS):
        return "table"
    return evaluator


def _resolve_table(
    evaluator: str,
    space: SearchSpace,
    columns: _TableArgs,
    latency: str,
    asks: list[str],
    dataset: str | None,
) -> _TableArgs:
    """The table the env reads: the given one, or on ``nb201`` a packaged one (``dataset``).

    An ``nb201`` env whose evaluator reads a table (``table``, or one of
    :data:`TABLE_REFERENCE_EVALUATORS`) and that names none reads the packaged table of ``dataset``
    (:data:`nas_gym.data.NB201_DATASETS`; the embedded MNIST-1D one by default), with that table's
    validation and test columns where none are named. Its latency column becomes the latency
    column where none is named and the latency mode is ``auto``, or ``requested`` and something
    asks for latency (``asks``). ``dataset`` with a ``table``, on another space or with an
    evaluator that reads no table is refused: it would select nothing.
    """
    from nas_gym.data import DEFAULT_NB201_DATASET, nb201_dataset

    reads_table = evaluator == "table" or evaluator in TABLE_REFERENCE_EVALUATORS
    if dataset is not None:
        packaged = nb201_dataset(dataset)  # an unknown name fails first, with the known ones
        if space.name != "nb201":
            raise ConfigError(f"dataset={dataset!r} selects a packaged NAS-Bench-201 table; space {space.name!r} "
                              "has none (give task=... to choose what a trained network learns).")
        if columns.path is not None:
            raise ConfigError(f"Pass either dataset={dataset!r} (a packaged table) or table={str(columns.path)!r}, "
                              "not both.")
        if not reads_table:
            raise ConfigError(f"dataset={dataset!r} selects a table, but evaluator={evaluator!r} reads none: use "
                              f"evaluator='table' (or one of {', '.join(TABLE_REFERENCE_EVALUATORS)}).")
    if not (reads_table and columns.path is None and space.name == "nb201"):
        return columns
    packaged = nb201_dataset(dataset or DEFAULT_NB201_DATASET)
    if not packaged.path.is_file():
        return columns  # an install without package data: the table evaluator's check says what to pass
    latency_column = columns.latency_column
    if latency_column is None and (latency == "auto" or (latency == "requested" and asks)):
        latency_column = packaged.latency_column
    return _TableArgs(str(packaged.path), columns.arch_column, columns.val_column or packaged.val_column,
                      columns.test_column or packaged.test_column, latency_column)


def _check_table_evaluator(columns: _TableArgs, evaluator_kwargs: dict[str, Any], space: SearchSpace) -> None:
    """Refuse a ``table`` evaluator without a table or a validation column, or with ``evaluator_kwargs``."""
    if columns.path is None:
        raise ConfigError(NB201_TABLE_HELP if space.name == "nb201" else
                          "evaluator='table' needs table='/path/to/table.csv' and val_column=...")
    if columns.val_column is None:
        raise ConfigError(f"A table needs val_column='<column of validation accuracy>' (table {columns.path!r}).")
    if evaluator_kwargs:
        raise ConfigError(
            f"evaluator_kwargs {sorted(evaluator_kwargs)} apply to evaluator='train' only; a table takes none."
        )


def _load_table(columns: _TableArgs, space: SearchSpace) -> TabularBenchmark | None:
    """The table named by ``columns`` (checked against the space), or None where there is none."""
    if columns.path is None:
        return None
    from nas_gym.evaluators.table import TabularBenchmark

    return TabularBenchmark.load(
        columns.path, space=space, arch_column=columns.arch_column, val_column=columns.val_column,
        test_column=columns.test_column, latency_column=columns.latency_column,
    )


def _check_columns(columns: _TableArgs, latency: str, table: TabularBenchmark | None) -> None:
    """Refuse ``latency='table'`` without a latency column, and column names without a table."""
    if latency == "table" and columns.latency_column is None:
        raise ConfigError("latency='table' needs latency_column='<column of latency in ms>' and a table.")
    if table is None:
        given = {k: v for k, v in (("val_column", columns.val_column), ("test_column", columns.test_column),
                                   ("latency_column", columns.latency_column)) if v is not None}
        if given:
            raise ConfigError(
                f"{', '.join(f'{k}={v!r}' for k, v in given.items())} name columns of a table, but no table "
                "was given: pass table='/path/to/table.csv' (evaluator='table'), or drop them to train."
            )


def _resolve_latency(latency: str, latency_column: str | None, parts: EnvParts) -> str:
    """The latency model's name: ``latency`` itself, unless it is one of :data:`LATENCY_MODES`.

    ``auto`` and ``requested`` (whose difference is only which latency column the embedded table
    gives, :func:`_resolve_table`) mean ``table`` where a latency column is named; ``none`` on a
    table without one; else the evaluator's own latency figure where it has one (the surrogate's
    ``own_latency``), or ``measured``.
    """
    if latency not in LATENCY_MODES:
        return latency
    own = getattr(parts.evaluator, "own_latency", None)
    return "table" if latency_column else ("none" if parts.table is not None else own or "measured")


def _check_measurable(parts: EnvParts, asks: list[str], params_limit: int | None) -> None:
    """Refuse what asks for a figure the env cannot give.

    Latency needs a latency model; a ``params_limit`` on a table needs its ``params`` column.
    """
    if parts.latency == "none" and asks:
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


def _make_reward(
    reward: str, latency_weight: float | None, latency_target_ms: float | None, parts: EnvParts,
    latency_column: str | None,
) -> Reward:
    """The reward, with the defaults of what is not given.

    The latency weight defaults to :data:`DEFAULT_LATENCY_WEIGHT` where the env has latency and to 0
    where it has none; the target to the median of the table's latency column when latency is a table
    column, else :data:`DEFAULT_LATENCY_TARGET_MS`.
    """
    if latency_weight is None:
        latency_weight = DEFAULT_LATENCY_WEIGHT if parts.latency != "none" else 0.0
    if latency_target_ms is None:
        latency_target_ms = DEFAULT_LATENCY_TARGET_MS
        if parts.latency == "table":
            latency_target_ms = float(np.median(parts.table.column(latency_column)))
    return Reward(reward, latency_weight, latency_target_ms)


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
