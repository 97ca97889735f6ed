"""The zero-cost evaluator: a training-free proxy score of the network at initialisation (``evaluator="zero_cost"``)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from nas_gym.error import ConfigError
from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.evaluators.table import TabularBenchmark
from nas_gym.predictors.zero_cost import ZERO_COST_PROXIES, squash
from nas_gym.spaces.base import Architecture
from nas_gym.tasks.base import Task
from nas_gym.utils.counting import count_flops, count_params
from nas_gym.utils.device import fork_rng, torch_threads

# Bump when a proxy's definition changes results (part of settings(), so of any cache key).
# 2: the network scored is the architecture's canonical form (dead and duplicate edges dropped).
PROXY_VERSION = 2
_CPU = torch.device("cpu")


class ZeroCostEvaluator(Evaluator):
    """Scores an architecture by a zero-cost proxy (:mod:`nas_gym.predictors.zero_cost`) on one batch of the task.

    The network scored is the architecture's canonical form
    (``space.canonical``): on ``nb201`` that drops the operations that cannot
    reach the output and merges isomorphic cells, so the proxy sees the
    network a table trains for the cell (the embedded table trained each
    class's canonical representative) and ``params``/``flops`` equal the
    table's own columns. It also makes a score independent of the cache,
    whose keys are canonical: a cell and its isomorphic twin get one score
    whichever was evaluated first. Before this (version 1) the proxies saw
    the cell as written, dead convolutions included; on 1,000 cells of the
    embedded table that cost ``params`` 0.48 → 0.57 and NASWOT 0.44 → 0.48
    in Spearman ρ.

    The network is built with the space's own initialisation under
    ``torch.manual_seed(seed)`` (the caller's torch RNG is left alone), and
    the batch is the first ``batch_size`` training samples of a permutation
    drawn with ``seed``, so a score is deterministic for a seed. It takes
    milliseconds on one thread.

    What the metrics hold: ``extra["zero_cost_score"]`` is the proxy's score
    (its scale is in the table of :mod:`nas_gym.predictors.zero_cost`; the final step's
    ``info`` carries it as ``zero_cost_score``), and ``val_accuracy`` is
    that score mapped onto [0, 1] by the strictly increasing
    :func:`~nas_gym.predictors.zero_cost.squash`, so the env's reward (with
    ``latency_weight=0``) orders architectures exactly as the proxy does. It
    is not an accuracy. On a table env the table stays the stand-alone
    reference: ``test_accuracy`` (and latency, when the table's latency
    column is on) come from the architecture's row, so a search's result is
    reported in real accuracy; without a table ``test_accuracy`` is NaN.

    Args:
        task: The task whose batch the proxy sees.
        proxy: A name in :data:`~nas_gym.predictors.zero_cost.ZERO_COST_PROXIES`.
        batch_size: Samples in the batch.
        seed: Seed of the initialisation and of the batch.
        num_threads: Torch intra-op threads while scoring.
        table: The env's table, for stand-alone test accuracy and latency; or None.

    Raises:
        ConfigError: An unknown proxy, or a setting out of range.
    """

    def __init__(
        self,
        task: Task,
        *,
        proxy: str = "synflow",
        batch_size: int = 64,
        seed: int = 0,
        num_threads: int = 1,
        table: TabularBenchmark | None = None,
    ):
        score = ZERO_COST_PROXIES.entry(proxy).factory  # an unknown name raises with a did-you-mean
        if int(batch_size) < 2 or int(num_threads) < 1:
            raise ConfigError(f"zero_cost needs batch_size ≥ 2 and num_threads ≥ 1, got {batch_size!r}, "
                              f"{num_threads!r}.")
        if task.is_regression:
            # The proxies' gradients come from a cross-entropy loss on class labels.
            raise ConfigError(f"zero_cost proxies score classifiers; task {task.name!r} is a regression task. "
                              "Use evaluator='train' for it.")
        self.task = task
        self.proxy = proxy
        self.batch_size = min(int(batch_size), len(task.x_train))
        self.seed = int(seed)
        self.num_threads = int(num_threads)
        self.table = table
        rows = np.random.default_rng(self.seed).permutation(len(task.x_train))[: self.batch_size]
        self._x = torch.from_numpy(task.x_train[rows])
        self._y = torch.from_numpy(task.y_train[rows])
        self._score = score

    def evaluate(self, arch: Architecture) -> Metrics:
        """The proxy's score of ``arch`` at initialisation (plus the table's stand-alone figures, if any)."""
        start = time.perf_counter()
        with torch_threads(self.num_threads):
            with fork_rng(_CPU):
                torch.manual_seed(self.seed)
                model = arch.space.build(arch.space.canonical(arch), self.task)
            params, flops = count_params(model), count_flops(model, self.task.input_shape)
            with fork_rng(_CPU):  # a proxy that samples (none here does) must not move the caller's RNG
                score = float(self._score(model, self._x, self._y))
        if math.isnan(score):
            score = -math.inf  # e.g. a gradient that vanished into 0/0: no evidence for the network
        test, latency = (math.nan, None) if self.table is None else self.table.reference(arch)
        return Metrics(
            val_accuracy=squash(score), test_accuracy=test, latency_ms=latency, params=params, flops=flops,
            cost_s=time.perf_counter() - start, extra={"zero_cost_score": score, "proxy": self.proxy},
        )

    def settings(self) -> dict[str, Any]:
        """What changes a score: the proxy and its version, the batch, the seed and the task's data."""
        return {"proxy": self.proxy, "version": PROXY_VERSION, "batch_size": self.batch_size, "seed": self.seed,
                "task": self.task.fingerprint}
