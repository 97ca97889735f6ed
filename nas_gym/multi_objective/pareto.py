"""Pareto fronts and hypervolume: the multi-objective view of evaluations.

Objectives are read from each evaluation (its ``info`` or history record),
whatever the scalar reward was: :data:`OBJECTIVES` says which way each one
is better, and :func:`objective_matrix` turns records into rows in which
larger is better in every column (validation accuracy, and latency, params
and FLOPs negated). On those rows, :func:`non_dominated`,
:func:`non_dominated_sort` and :func:`crowding_distance` serve
multi-objective methods; :func:`pareto_front` and :func:`hypervolume` are
the two-objective (latency, accuracy) forms the env, the run folder and the
benchmark report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from nas_gym.error import ConfigError

#: Objectives an evaluation reports, and their sense: +1 maximise, -1 minimise.
OBJECTIVES: dict[str, int] = {"val_accuracy": 1, "latency_ms": -1, "params": -1, "flops": -1}
#: The objectives of the classic hardware-aware trade-off.
ACCURACY_LATENCY = ("val_accuracy", "latency_ms")


def latency_fix(parts: Any) -> str:
    """How to give an env a latency, for messages: the argument to pass, given its parts (``run.parts``)."""
    table = parts.table
    if table is not None:
        columns = [c for c in table.columns if "lat" in c.lower()]
        named = f" (this table has {', '.join(map(repr, columns))})" if columns else ""
        return f"pass latency_column='<column of latency in ms>' naming the table's latency column{named}"
    return "pass latency='measured' or latency='op_table'"


def require_objectives(info: Mapping[str, Any], names: Sequence[str], who: str, parts: Any) -> dict[str, float]:
    """The ``names`` objectives of one evaluation's ``info``, for a multi-objective method named ``who``.

    Raises:
        ConfigError: The evaluation lacks one (e.g. the env has no latency model); the message names the fix.
    """
    missing = [n for n in names if info.get(n) is None]
    if missing:
        fix = latency_fix(parts) if "latency_ms" in missing else "choose objectives the env reports"
        raise ConfigError(f"{who} needs {', '.join(missing)} from every evaluation, but this env reports none: "
                          f"{fix}.")
    return {n: float(info[n]) for n in names}


def check_accuracy_latency(who: str, names: Sequence[str]) -> None:
    """Objectives of a Pareto method: validation accuracy and latency, optionally params and FLOPs, each once.

    Raises:
        ConfigError: ``names`` lacks val_accuracy or latency_ms, or repeats one.
    """
    if len(set(names)) < len(names) or not set(ACCURACY_LATENCY) <= set(names):
        raise ConfigError(
            f"{who} objectives must hold val_accuracy and latency_ms, each objective once "
            f"(optionally also params, flops), got {list(names)!r}."
        )


def objective_matrix(records: Iterable[Mapping[str, Any]], names: Sequence[str] = ACCURACY_LATENCY) -> np.ndarray:
    """Rows of the ``names`` objectives of each record, signed so that larger is better in every column.

    Raises:
        KeyError: A name is not in :data:`OBJECTIVES`.
        ValueError: A record has None for one of the objectives (e.g. no latency model).
    """
    signs = np.array([OBJECTIVES[n] for n in names], dtype=float)
    rows = []
    for r in records:
        values = [r[n] for n in names]
        if any(v is None for v in values):
            missing = [n for n, v in zip(names, values, strict=True) if v is None]
            raise ValueError(f"An evaluation of {r.get('arch')!r} has no {', '.join(missing)}.")
        rows.append(values)
    return np.asarray(rows, dtype=float).reshape(-1, len(names)) * signs


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows no other row dominates (larger is better; equal rows all kept).

    >>> non_dominated(np.array([[1, 1], [2, 0], [0, 2], [0, 0], [1, 1]])).tolist()
    [True, True, True, False, True]
    """
    points = np.asarray(points, dtype=float)
    geq = (points[:, None, :] >= points[None, :, :]).all(-1)
    gt = (points[:, None, :] > points[None, :, :]).any(-1)
    dominated_by = geq & gt  # [i, j]: row i dominates row j
    return ~dominated_by.any(0)


def pareto_indices(points: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows (larger is better), for many rows: a table's thousands.

    :func:`non_dominated` compares every pair; this sweeps the rows in
    decreasing order of the first column and compares each with the front
    found so far, which stays small. Of equal rows only the first is kept.

    >>> pareto_indices(np.array([[1, 1], [2, 0], [0, 2], [0, 0], [1, 1]])).tolist()
    [0, 1, 2]
    """
    points = np.asarray(points, dtype=float)
    order = np.lexsort(tuple(-points[:, j] for j in reversed(range(points.shape[1]))))
    front: list[int] = []
    for i in order:
        p = points[i]
        if front and (points[front] >= p).all(1).any():
            continue  # dominated by, or equal to, a row already on the front
        front.append(int(i))
    return np.sort(np.asarray(front, dtype=int))


def non_dominated_sort(points: np.ndarray) -> list[np.ndarray]:
    """Fronts of non-dominated sorting (Deb et al. 2002): indices of front 0, then front 1, ...

    >>> [f.tolist() for f in non_dominated_sort(np.array([[1, 1], [2, 0], [0, 0], [0, 2]]))]
    [[0, 1, 3], [2]]
    """
    points = np.asarray(points, dtype=float)
    left = np.arange(len(points))
    fronts = []
    while len(left):
        mask = non_dominated(points[left])
        fronts.append(left[mask])
        left = left[~mask]
    return fronts


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within its set: infinite at the extremes of every objective.

    >>> crowding_distance(np.array([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]])).tolist()
    [inf, 2.0, inf]
    """
    points = np.asarray(points, dtype=float)
    n, k = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for j in range(k):
        order = np.argsort(points[:, j], kind="stable")
        span = points[order[-1], j] - points[order[0], j]
        distance[order[0]] = distance[order[-1]] = math.inf
        if span > 0:
            distance[order[1:-1]] += (points[order[2:], j] - points[order[:-2], j]) / span
    return distance


def pareto_front(latency_ms: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (minimise latency, maximise accuracy), by latency.

    Of points with equal coordinates only the first is kept.

    >>> pareto_front([1.0, 2.0, 2.0, 3.0, 4.0], [0.5, 0.7, 0.6, 0.65, 0.9]).tolist()
    [0, 1, 4]
    """
    latency_ms, accuracy = np.asarray(latency_ms, float), np.asarray(accuracy, float)
    order = np.lexsort((-accuracy, latency_ms))  # latency ascending, then accuracy descending
    front, best = [], -math.inf
    for i in order:
        if accuracy[i] > best:
            front.append(int(i))
            best = accuracy[i]
    return np.asarray(front, dtype=int)


def hypervolume(
    latency_ms: np.ndarray, accuracy: np.ndarray, ref_latency_ms: float, ref_accuracy: float = 0.0
) -> float:
    """Area dominated by the points up to the reference point (minimise latency, maximise accuracy).

    Points beyond the reference latency or below the reference accuracy add nothing.

    >>> round(hypervolume([1.0, 2.0, 4.0], [0.5, 0.7, 0.9], 5.0), 6)  # [1,2]x0.5 + [2,4]x0.7 + [4,5]x0.9
    2.8
    """
    latency_ms, accuracy = np.asarray(latency_ms, float), np.asarray(accuracy, float)
    keep = (latency_ms < ref_latency_ms) & (accuracy > ref_accuracy)
    latency_ms, accuracy = latency_ms[keep], accuracy[keep]
    if len(latency_ms) == 0:
        return 0.0
    idx = pareto_front(latency_ms, accuracy)
    lat, acc = latency_ms[idx], accuracy[idx]
    # On the front accuracy rises with latency, so between consecutive points
    # the dominated height is the accuracy of the faster one.
    widths = np.diff(np.append(lat, ref_latency_ms))
    return float(np.sum(widths * (acc - ref_accuracy)))
