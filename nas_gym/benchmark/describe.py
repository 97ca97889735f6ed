"""What a benchmark's env is, in words and ranges: its title, what its accuracy is, and what its reward can be.

The report titles its figures by the search space and the data the
architectures are scored on (:func:`env_title`, e.g. "NAS-Bench-201 ·
CIFAR-100" or "layers · digits"), not by the env id, which names only the
defaults; labels the accuracy axis by what the env's accuracy is
(:func:`is_regression`: R² on a regression task, a classification accuracy
otherwise); and clips confidence intervals to what a figure can take
(:func:`reward_range`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nas_gym.env.parts import EnvParts
    from nas_gym.evaluators.table import TabularBenchmark

#: Readable names of spaces where the registry's name is an abbreviation.
SPACE_TITLES = {"nb201": "NAS-Bench-201"}
#: Readable names of the registered tasks (the others keep their registry name).
TASK_TITLES = {
    "mnist1d": "MNIST-1D", "mackey_glass": "Mackey-Glass", "breast_cancer": "breast cancer",
    "adding": "adding problem",
}
#: The datasets a table column or file name can name, as ``(pattern, title)``; the first that matches wins.
#: NAS-Bench-201's own releases name columns ``c10_*``/``c100_*`` or ``cifar10-valid``, ``ImageNet16-120``.
_DATASET_PATTERNS = (
    (re.compile(r"(^|[^a-z0-9])(c100|cifar-?100)([^a-z0-9]|$)", re.I), "CIFAR-100"),
    (re.compile(r"(^|[^a-z0-9])(c10|cifar-?10)([^a-z0-9]|$)", re.I), "CIFAR-10"),
    (re.compile(r"imagenet|(^|[^a-z0-9])(in16|im16)([^a-z0-9]|$)", re.I), "ImageNet16-120"),
    (re.compile(r"mnist-?1d", re.I), "MNIST-1D"),
)
#: What each reward of :mod:`nas_gym.rewards` can be, for a validation accuracy in [0, 1] and a latency
#: weight > 0: hinge and linear subtract a penalty without bound; MnasNet's soft reward multiplies by
#: ``(l / T) ** (-0.07 w)``, above 1 under target; the hard one only shrinks the accuracy over target.
REWARD_BOUNDS = {
    "hinge": (-math.inf, 1.0),
    "linear": (-math.inf, 1.0),
    "mnasnet": (0.0, math.inf),
    "mnasnet_hard": (0.0, 1.0),
}


def _dataset_in(text: str) -> str | None:
    for pattern, title in _DATASET_PATTERNS:
        if pattern.search(text):
            return title
    return None


def table_dataset(table: TabularBenchmark) -> str:
    """The data a table's accuracies are measured on: named by its accuracy columns, else by its file.

    >>> from types import SimpleNamespace
    >>> table_dataset(SimpleNamespace(roles={"val": "c100_valid", "test": "c100_test"}, path=Path("nb201.csv")))
    'CIFAR-100'
    >>> table_dataset(SimpleNamespace(roles={"val": "acc", "test": None}, path=Path("/x/my_runs.csv.gz")))
    'my_runs'
    """
    for role in ("val", "test"):
        name = table.roles.get(role)
        found = name and _dataset_in(name)
        if found:
            return found
    stem = Path(table.path).name.split(".")[0]
    return _dataset_in(stem) or stem


def _packaged_title(table: TabularBenchmark) -> str | None:
    """The title of the packaged table ``table`` is read as (file and validation column), if it is one."""
    from nas_gym.data import NB201_DATASETS

    path = Path(table.path).resolve()
    for packaged in NB201_DATASETS.values():
        if packaged.path.resolve() == path and packaged.val_column == table.roles.get("val"):
            return packaged.title
    return None


def _task_title(parts: EnvParts) -> str:
    if parts.task_name == "npz" and parts.task_kwargs.get("path"):
        return f"npz:{Path(parts.task_kwargs['path']).name}"
    return TASK_TITLES.get(parts.task_name, parts.task_name)


def _reads_accuracies(parts: EnvParts) -> bool:
    """Whether the env's scores are looked up (a table) or predicted (the surrogate), not measured on its task."""
    from nas_gym.evaluators.table import TableEvaluator

    if isinstance(parts.evaluator, TableEvaluator):
        return True
    from nas_gym.evaluators.surrogate import SurrogateEvaluator  # loads torch: past the table case

    return isinstance(parts.evaluator, SurrogateEvaluator)


def env_title(parts: EnvParts) -> str:
    """A readable title for an env: its search space and the data its architectures are scored on.

    A table env is named by its table's dataset (a packaged table by its own
    title, e.g. "NAS-Bench-201 · MNIST-1D (embedded)"), any other by its task;
    scores that are not measured accuracies say so ("surrogate", "zero-cost
    proxy", "supernet").

    Args:
        parts: The env's parts (``env.unwrapped.parts``).

    Returns:
        E.g. "NAS-Bench-201 · CIFAR-100", "layers · digits", "rnn_cell · Mackey-Glass".
    """
    from nas_gym.evaluators.table import TableEvaluator

    space = SPACE_TITLES.get(parts.space.name, parts.space.name)
    evaluator = parts.evaluator
    if isinstance(evaluator, TableEvaluator):
        return _packaged_title(parts.table) or f"{space} · {table_dataset(parts.table)}"
    # Imported past the table case: these evaluators load torch, which a table benchmark never needs.
    from nas_gym.evaluators.supernet import SupernetEvaluator
    from nas_gym.evaluators.surrogate import SurrogateEvaluator
    from nas_gym.evaluators.zero_cost import ZeroCostEvaluator

    title = f"{space} · {_task_title(parts)}"
    for kind, label in ((SurrogateEvaluator, "surrogate"), (ZeroCostEvaluator, "zero-cost proxy"),
                        (SupernetEvaluator, "supernet")):
        if isinstance(evaluator, kind):
            return f"{title} ({label})"
    return title


def is_regression(parts: EnvParts) -> bool:
    """Whether the env's accuracy is a regression task's validation R² (see :attr:`nas_gym.tasks.base.Task.kind`).

    Tables and the surrogate hold classification accuracies; every other
    evaluator scores on the env's task, which says what it is.
    """
    return not _reads_accuracies(parts) and parts.task.is_regression


def reward_range(parts: EnvParts) -> tuple[float, float]:
    """What the env's reward can be, as ``(low, high)`` (infinite where unbounded or unknown).

    The reward's accuracy is in [0, 1] (an R² is clipped at 0). Without a
    latency in the reward the reward is that accuracy; with one, the reward's
    shape bounds it (:data:`REWARD_BOUNDS`; a reward registered elsewhere is
    unbounded here); over a latency or parameter limit it is ``min(reward, 0)``
    less the violation, unbounded below.

    Args:
        parts: The env's parts (``env.unwrapped.parts``).
    """
    reward = parts.reward
    table_latency = parts.table is not None and parts.table.roles.get("latency") is not None
    has_latency = parts.latency_model is not None or table_latency
    if reward.latency_weight == 0 or not has_latency:
        low, high = 0.0, 1.0
    else:
        low, high = REWARD_BOUNDS.get(reward.name, (-math.inf, math.inf))
    if parts.latency_limit_ms is not None or parts.params_limit is not None:
        low = -math.inf
    return low, high
