"""Aggregate figures over a suite of envs, as Agarwal et al. (2021) recommend, with stratified-bootstrap intervals.

"Deep Reinforcement Learning at the Edge of the Statistical Precipice"
(NeurIPS 2021) and its library ``rliable`` report an agent's normalised scores
over a suite of tasks by

- the **interquartile mean** (IQM: the mean of the middle 50 % of all
  ``runs x tasks`` scores, :func:`iqm`), the **mean**, the **median** (of the
  tasks' mean scores) and the **optimality gap** (how far the scores fall short of 1, :func:`optimality_gap`);
- **95 % stratified-bootstrap confidence intervals** (:func:`bootstrap_ci`):
  each replicate resamples the runs of every task with replacement, task by
  task, and the interval is the 2.5th and 97.5th percentile of the replicates;
- **performance profiles** (:func:`performance_profile`): the fraction of runs
  whose score exceeds each threshold tau, with bootstrap bands;
- the **probability of improvement** (:func:`probability_of_improvement`):
  ``P(X > Y)`` of a run of agent X over one of agent Y on the same task
  (the Mann-Whitney U statistic over ``n_x x n_y`` pairs, ties counting half),
  averaged over tasks.

rliable itself does not import with pandas 3 and arch 8 (the versions this
project installs), so the same definitions are computed here with numpy; the
tests check them against rliable's on fixed inputs. The bootstrap draws the
run indices exactly as rliable's ``StratifiedBootstrap`` does
(``RandomState.choice(n_runs, (n_runs, n_tasks))`` per replicate, one task's
column of indices per stratum), so with the same seed the intervals agree
to the last digit, not only within Monte-Carlo error.

A score matrix is ``(runs, tasks)``: ``scores[n, m]`` is run ``n`` on task ``m``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

#: rliable's replicate counts: 50,000 for aggregate intervals, 2,000 for profile bands.
REPS = 50_000
PROFILE_REPS = 2_000
#: Replicates drawn at once: bounds the memory of one chunk to ~reps x runs x tasks x 8 bytes.
_CHUNK = 5_000

#: An aggregate: a ``(runs, tasks)`` matrix (or a stack of them, ``(reps, runs, tasks)``) to one number each.
Aggregate = Callable[[np.ndarray], np.ndarray]


def _flat(scores: np.ndarray) -> np.ndarray:
    """``(..., runs, tasks)`` to ``(..., runs * tasks)``."""
    return scores.reshape(*scores.shape[:-2], -1)


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean: the mean of the scores left after cutting 25 % at each end (``scipy.stats.trim_mean``).

    >>> float(iqm(np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 100.0]])))
    2.5
    """
    from scipy import stats

    return np.asarray(stats.trim_mean(_flat(scores), 0.25, axis=-1))


def mean(scores: np.ndarray) -> np.ndarray:
    """Mean over all runs and tasks."""
    return _flat(scores).mean(axis=-1)


def median(scores: np.ndarray) -> np.ndarray:
    """Median over tasks of each task's mean score (rliable's: a task counts once, however many runs it has).

    >>> float(median(np.array([[0.0, 1.0, 5.0], [2.0, 3.0, 5.0]])))
    2.0
    """
    return np.median(scores.mean(axis=-2), axis=-1)


def optimality_gap(scores: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """How far the scores fall short of ``gamma`` on average, scores above it counting as ``gamma``.

    >>> float(optimality_gap(np.array([[0.5, 1.2]])))
    0.25
    """
    return gamma - np.minimum(_flat(scores), gamma).mean(axis=-1)


#: The four aggregates of a leaderboard, in the order they are reported.
AGGREGATES: dict[str, Aggregate] = {"IQM": iqm, "mean": mean, "median": median, "optimality_gap": optimality_gap}


def _replicates(scores: np.ndarray, func: Aggregate, reps: int, seed: int) -> np.ndarray:
    """``func`` of ``reps`` stratified resamples: the runs of each task drawn with replacement, task by task."""
    runs, tasks = scores.shape
    rng = np.random.RandomState(seed)
    out = np.empty(reps)
    columns = np.arange(tasks)
    for start in range(0, reps, _CHUNK):
        n = min(_CHUNK, reps - start)
        # One RandomState stream in replicate order, as rliable draws them one replicate at a time.
        rows = rng.choice(runs, (n, runs, tasks), replace=True)
        out[start:start + n] = func(scores[rows, columns])
    return out


def bootstrap_ci(
    scores: np.ndarray, func: Aggregate, *, reps: int = REPS, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """``func(scores)`` and its stratified-bootstrap percentile interval.

    Args:
        scores: ``(runs, tasks)`` normalised scores.
        func: An aggregate of :data:`AGGREGATES` (or any function of a stack of matrices).
        reps: Bootstrap replicates.
        seed: Seed of the resampling (a ``RandomState``, as rliable's).
        level: Coverage of the interval.

    Returns:
        ``(point, low, high)``. With one run per task every replicate is the
        data itself, so the interval is the point: no uncertainty can be read
        from one run.

    >>> point, low, high = bootstrap_ci(np.array([[0.2], [0.4], [0.9]]), mean, reps=2000)
    >>> round(point, 3), low < point < high, 0.2 <= low and high <= 0.9
    (0.5, True, True)
    """
    scores = np.asarray(scores, dtype=float)
    point = float(func(scores))
    values = _replicates(scores, func, reps, seed)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return point, float(low), float(high)


def performance_profile(
    scores: np.ndarray, taus: Sequence[float], *, reps: int = PROFILE_REPS, seed: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fraction of runs scoring above each ``tau`` (rliable's score distribution), with bootstrap bands.

    Returns:
        ``(fraction, low, high)``, one value per tau.
    """
    scores = np.asarray(scores, dtype=float)
    taus = np.asarray(taus, dtype=float)

    def profile(stack: np.ndarray) -> np.ndarray:
        flat = _flat(stack)
        return (flat[..., None] > taus).mean(axis=-2)

    point = profile(scores)
    runs, tasks = scores.shape
    rng = np.random.RandomState(seed)
    values = np.empty((reps, len(taus)))
    for start in range(0, reps, _CHUNK):
        n = min(_CHUNK, reps - start)
        rows = rng.choice(runs, (n, runs, tasks), replace=True)
        values[start:start + n] = profile(scores[rows, np.arange(tasks)])
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail], axis=0)
    return point, low, high


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``P(X > Y)`` per task, ties counting half, averaged over tasks; ``x``/``y`` stacks ``(..., runs, tasks)``."""
    greater = (x[..., :, None, :] > y[..., None, :, :]).mean(axis=(-3, -2))
    ties = (x[..., :, None, :] == y[..., None, :, :]).mean(axis=(-3, -2))
    return (greater + 0.5 * ties).mean(axis=-1)


def probability_of_improvement(
    x: np.ndarray, y: np.ndarray, *, reps: int = PROFILE_REPS, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """``P(X > Y)``: a run of X beats a run of Y on the same task (ties half), averaged over tasks, with its interval.

    The runs of X and of Y are resampled independently, each task by task
    (rliable's ``StratifiedIndependentBootstrap``). rliable scores a task
    where X's and Y's scores are identical arrays as exactly 0.5, which the
    ties-count-half rule gives too.

    Returns:
        ``(point, low, high)``.

    >>> round(probability_of_improvement(np.array([[1.0], [2.0]]), np.array([[0.0], [2.0]]), reps=10)[0], 3)
    0.625
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    point = float(_improvement(x, y))
    rng = np.random.RandomState(seed)
    values = np.empty(reps)
    columns_x, columns_y = np.arange(x.shape[1]), np.arange(y.shape[1])
    if x.shape == y.shape:
        # X's indices, then Y's, replicate by replicate: one draw of (n, 2, runs, tasks) is that stream.
        chunk = max(1, _CHUNK // 10)
        for start in range(0, reps, chunk):
            n = min(chunk, reps - start)
            rows = rng.choice(x.shape[0], (n, 2, *x.shape), replace=True)
            values[start:start + n] = _improvement(x[rows[:, 0], columns_x], y[rows[:, 1], columns_y])
    else:
        for i in range(reps):
            rows_x = rng.choice(x.shape[0], x.shape, replace=True)
            rows_y = rng.choice(y.shape[0], y.shape, replace=True)
            values[i] = _improvement(x[rows_x, columns_x], y[rows_y, columns_y])
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return point, float(low), float(high)


def aggregate_table(
    score_dict: Mapping[str, np.ndarray], *, reps: int = REPS, seed: int = 0
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Every aggregate of :data:`AGGREGATES` with its interval, per agent: ``{agent: {name: (point, low, high)}}``."""
    return {
        agent: {name: bootstrap_ci(scores, func, reps=reps, seed=seed) for name, func in AGGREGATES.items()}
        for agent, scores in score_dict.items()
    }
