"""The benchmark scripts' job map: in this process for one worker, else in spawned worker processes.

With ``--workers 1`` a pool would only add a process start (a fresh interpreter that imports torch and
the package again, about 2-3 s) in front of the same jobs run one after another; the docs' tests run
every script that way. Each job is a seeded search or scoring, so where it runs does not change its result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any


def map_jobs(fn: Callable[[Any], Any], jobs: Iterable[Any], workers: int) -> Iterator[Any]:
    """``fn`` over ``jobs`` in order: here when ``workers`` is 1, else in ``workers`` spawned processes."""
    if workers <= 1:
        yield from map(fn, jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        yield from pool.map(fn, jobs)
