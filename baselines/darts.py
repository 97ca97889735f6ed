"""DARTS: differentiable architecture search (Liu, Simonyan and Yang, ICLR 2019).

DARTS relaxes every searched decision into a softmax-weighted mixture of its
choices (a supernet, :mod:`nas_gym.supernets`), trains the operation
weights ``w`` and the architecture parameters ``alpha`` by alternating
gradient steps, and derives a discrete architecture from ``alpha``. The
derived architecture is then scored by the environment (``run.evaluate``),
so its reward is the env's like every other method's.

Bilevel optimisation, per step (the order of the DARTS code):

1. ``alpha`` step on a batch of the *arch half* of the training split:
   first order (``order=1``, "DARTS (first order)") takes the gradient of the
   arch loss at the current ``w``; second order (``order=2``) takes it at the
   unrolled ``w' = w - xi * grad_w L_train`` (``xi`` = current weight lr,
   with the optimiser's momentum and weight decay, as the paper's code), with
   the Hessian-vector product by central finite differences,
   ``eps = 0.01 / ||grad_w' L_arch||``.
2. ``w`` step on a batch of the *weight half*: SGD with momentum, cosine
   learning rate, gradient clipping.

Data: the task's training split is shuffled with ``run.rng`` and cut into a
weight half and an arch half (``train_portion=0.5``, the paper's CIFAR-10
setting). The task's validation split is never seen during search: on
``NAS-v0`` it is what the env's reward measures.

Latency (optional, as FBNet/ProxylessNAS): the arch loss adds
``latency_weight * f(E[latency] / latency_target_ms)`` with ``E[latency]`` the
expected latency of the derived network under ``softmax(alpha)``, a sum of
per-operation latencies measured on this host
(:class:`nas_gym.latency.OpTableLatency`); ``f`` is the env reward's shape
(``hinge``: ``max(0, r - 1)``; ``linear``: ``r``) unless ``latency_loss`` says
otherwise. By default weight and target follow the env's reward
(``run.parts.reward``) where the env scores latency on this host, and the term
is off on table envs, whose latency column (a device) has no per-operation
breakdown.

Derivation: the architecture with the largest probability under the
per-decision softmaxes, which is the argmax of ``alpha`` per decision
(non-searched decisions take the supernet's fixed choices; ``space.repair``
makes it respect the masks). As the DARTS paper's rule, ``none`` is excluded
on NB201 edges (``exclude_none=False`` takes the plain argmax, as the
NAS-Bench-201 reference code does). With ``max_skip`` it is the most probable
architecture with at most that many parameter-free skip choices
(P-DARTS's constraint). With a budget above 1 the remaining evaluations go to
the next most probable architectures, best first, under the same rules, one
per equivalence class (``space.canonical``).

Collapse: DARTS is known to collapse to parameter-free skip connections.
When the unconstrained derivation picks ``skip_connect`` (NB201) or
``identity`` (layers) on at least :data:`COLLAPSE_SKIPS` decisions, a warning
is logged and ``darts.json`` records it. Remedies from P-DARTS (Chen et al.
2019): ``max_skip`` (derivation constraint) and ``skip_dropout``
(operation-level dropout on skip outputs during search: the full rate in the
first epoch, decaying linearly over the epochs as in P-DARTS).

Recurrent cells (``rnn_cell``, :mod:`nas_gym.supernets.rnn_cell`): per node a
softmax over its input nodes and one over its activations, the recurrent
relaxation of the DARTS paper, trained with Adam (``weight_optimizer``):
under the paper's SGD the relaxed cell did not learn at all here (training
MSE stayed at the targets' variance), so alpha was learnt from noise.
``cell_output`` says what the relaxed cell
outputs. ``"mean"`` is the mean of all its nodes, as in the DARTS code, but
the space's discrete cell averages only its loose ends, so the network DARTS
trains is not the one it derives. ``"loose_ends"``, the default, weights each
node by the probability that it is a loose end, which at one-hot alphas is
the derived cell itself. The README's NAS-RNN-v0 comparison has before/after
figures. The space has no per-operation latencies, so the arch loss has no
latency term there.

Decoder-only transformers (``transformer``, :mod:`nas_gym.supernets.transformer`):
only the per-layer choices are relaxed -- heads (no attention is a zero op
and the skip choice that ``max_skip`` caps and the collapse report counts),
feed-forward ratio and activation, each mixture the exact expectation of the
layer's sub-block output over its softmax -- at a fixed width and depth
(``width``, default the lower median of the space's widths; ``depth``,
default the largest), which the derived architectures keep: leading slices
of several widths or depths have no clean mixture. The loss is the
cross-entropy of the next character at every position of a window, and the
arch accuracy counts positions. The expected latency sums the op table's
blocks. The weights train with Adam (``weight_optimizer``): under the
paper's SGD one epoch left the supernet no better than character
frequencies.

Selection (``select``): by default the derived architecture is the most
probable one. ``select="path_accuracy"`` works at selection time instead of
by constraint: the ``select_candidates`` most probable architectures (under
the same rules) are re-ranked by their single-path accuracy on the trained
supernet (:mod:`nas_gym.supernets`'s single-path mode, batch-norm statistics
recomputed per path) on the arch half of the training split, and the best
is evaluated first. ``darts.json`` records the path accuracies.

Device: the supernet, its ``alpha`` and the training split go to ``device``
(``"auto"``: a CUDA GPU if torch sees one, else MPS, else the CPU; see
:mod:`nas_gym.utils.device`), trained at ``precision`` (``"fp32"``, or mixed
``"bf16"``/``"fp16"`` through autocast, with a gradient scaler for
``"fp16"``; second order takes ``"fp32"`` or ``"bf16"``). The supernet is
built and initialised on the CPU and shuffling draws from a CPU generator,
so every device starts from the same weights and sees the same batches. The
derived architectures are still scored by the env, whose training evaluator
has its own ``evaluator_kwargs={"device": ...}``.

Reproducibility: on one machine a seed gives one history in any process
(``nas-gym search``, a benchmark's worker, a caller on any torch thread
count): the supernet trains on its own ``num_threads`` (1 by default), its
weights and batches drawn from the run seed. Beyond that the training is
chaotic: a last-bit difference of the arithmetic grows into another trained
supernet within the first epoch (seed 0 of the embedded benchmark, torch's
and oneDNN's AVX2 kernels against their AVX-512 ones on one machine: alpha's
softmaxes 2e-4 apart after one epoch, 5e-3 after ten, another derived cell).
Such differences come from another thread count for the supernet
(``num_threads``; None takes the caller's, which differs between ``nas-gym
search`` and a benchmark worker), another CPU family (torch's vector
kernels, oneDNN and MKL pick code by instruction set) or another torch
build. So DARTS's figures reproduce exactly on the same kind of CPU and
torch build only; ``darts.json`` records torch's version, CPU capability and
threads (``numerics``) to tell such runs apart. The other methods turn their
floats into discrete draws, which a last-bit difference almost never moves.

Table envs: ``NAS-Bench-201-v0`` scores by lookup, so there is nothing to
train on; pass ``proxy_task`` (``"digits"`` or ``"mnist1d"``) to train the
supernet on that offline task and evaluate the derived cell in the table.

Outputs: ``darts/*`` TensorBoard scalars per epoch (x = epoch),
``darts/search_cost_s`` (supernet search seconds) and ``darts.json`` in the run
folder (alphas' softmaxes per epoch, losses, search cost, derived and
evaluated architectures, collapse report). The same record is
:attr:`DARTS.result`.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import json
import logging
import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from nas_gym.error import ConfigError
from nas_gym.latency import OpTableLatency
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings
from nas_gym.spaces import Architecture, SearchSpace
from nas_gym.supernets import Supernet, make_supernet
from nas_gym.tasks.base import Task, make_task
from nas_gym.tasks.loss import task_loss, task_score
from nas_gym.utils.device import (
    PRECISIONS,
    autocast,
    check_precision,
    fork_rng,
    grad_scaler,
    quiet_skipped_steps,
    resolve_device,
)
from nas_gym.utils.hparams import (
    boolean,
    in_range,
    integer,
    non_negative,
    non_negative_int,
    one_of,
    optional,
    positive,
    positive_int,
    sequence_of,
    setting,
    string,
)

if TYPE_CHECKING:
    from nas_gym.env.parts import EnvParts

logger = logging.getLogger(__name__)

#: The derived cell counts as collapsed when this many decisions pick a parameter-free skip.
COLLAPSE_SKIPS = 2

TABLE_ENV_HELP = (
    'DARTS trains a supernet; NAS-Bench-201-v0 scores by table lookup, so pass agent kwargs {"proxy_task": "digits"} '
    "(or mnist1d) to train the supernet on a real offline task and evaluate the derived cell in the table."
)

# A hard cap on architectures the ranking visits, so a constraint that
# almost nothing satisfies cannot make it walk a huge space.
_MAX_RANKED_VISITS = 200_000


@dataclasses.dataclass(frozen=True)
class DARTSSettings(SearcherSettings):
    """Hyperparameters of :class:`DARTS` (the paper's values, and why three differ, in its docstring)."""

    owner = "DARTS"

    epochs: int = setting(10, positive_int, hint="The paper uses 50.")
    """Passes over the weight half of the training split."""
    order: int = setting(1, integer(1, 2), expected="1 (first order) or 2 (second order, unrolled)")
    """1 for first-order DARTS, 2 for second order (unrolled)."""
    batch_size: int = setting(32, integer(2), hint="The paper uses 64.")
    """Examples per weight step and per arch step."""
    lr: float = setting(0.1, positive, hint="The paper uses 0.025.")
    """Initial (peak) SGD learning rate of the weights."""
    weight_optimizer: str | None = setting(None, optional(one_of("sgd", "adam"), "by space"))
    """Optimiser of the weights: ``"sgd"`` (momentum, the paper's) or ``"adam"``; None: Adam on rnn_cell and
    transformer, else SGD."""
    adam_lr: float = setting(3e-3, positive)
    """Peak learning rate of the weights under Adam (the NAS-RNN-v0 training evaluator's rate)."""
    lr_min: float = setting(0.001, non_negative)
    """Final learning rate of the per-step cosine schedule."""
    momentum: float = setting(0.9, non_negative)
    """SGD momentum."""
    weight_decay: float = setting(3e-4, non_negative)
    """SGD weight decay."""
    grad_clip: float = setting(5.0, non_negative)
    """Max gradient norm of the weights."""
    arch_lr: float = setting(3e-4, positive)
    """Adam learning rate of alpha."""
    arch_betas: tuple[float, float] = setting((0.5, 0.999), sequence_of(in_range(0, 1, hi_open=True), length=2))
    """Adam betas of alpha."""
    arch_weight_decay: float = setting(1e-3, non_negative)
    """Adam weight decay of alpha."""
    train_portion: float = setting(0.5, in_range(0, 1, lo_open=True, hi_open=True))
    """Fraction of the training split for the weights; the rest trains alpha."""
    latency_weight: float | None = setting(None, optional(non_negative, "follow the env's reward"))
    """Weight of the latency term; None follows the env's reward (0 on table envs)."""
    latency_target_ms: float | None = setting(None, optional(positive, "the env's target"))
    """Latency target; None takes the env reward's."""
    latency_loss: str | None = setting(None, optional(one_of("hinge", "linear"), "follow the env's reward"))
    """``"hinge"`` or ``"linear"``; None follows the env's reward (hinge for ``hinge``, linear otherwise)."""
    proxy_task: str | None = setting(None, optional(string, "the env's task"), hint="E.g. 'digits' or 'mnist1d'.")
    """Task to train the supernet on (``"digits"``, ``"mnist1d"``); needed on table envs; None uses the env's task."""
    filters: int | None = setting(None, optional(positive_int, "the largest choice"))
    """Layers space only: the fixed width of every convolution (None: the space's largest)."""
    width: int | None = setting(None, optional(positive_int, "the lower median of the space's widths"))
    """Transformer space only: the model width DARTS searches at and derives (None: the lower median, 64 of 32..128)."""
    depth: int | None = setting(None, optional(positive_int, "the largest choice"))
    """Transformer space only: the number of layers DARTS searches at and derives (None: the most, 4)."""
    exclude_none: bool = setting(True, boolean)
    """NB201 only: derivation never picks ``none`` (the DARTS paper's rule)."""
    cell_output: str = setting("loose_ends", one_of("loose_ends", "mean"))
    """rnn_cell only: the relaxed cell's output, the mean of the expected loose ends, or of all nodes (DARTS's)."""
    max_skip: int | None = setting(None, optional(non_negative_int, "no limit"), hint="P-DARTS uses 2.")
    """At most this many parameter-free skip choices in derived architectures; None for no limit."""
    skip_dropout: float = setting(0.0, in_range(0, 1, hi_open=True))
    """Dropout rate on skip outputs in the first search epoch (P-DARTS), decaying linearly; 0 disables it."""
    select: str = setting("argmax", one_of("argmax", "path_accuracy"))
    """``"argmax"``: evaluate in order of probability; ``"path_accuracy"``: re-rank the most probable by their paths."""
    select_candidates: int = setting(20, positive_int)
    """With ``select="path_accuracy"``: how many of the most probable architectures are re-ranked."""
    num_threads: int | None = setting(1, optional(positive_int, "torch's current setting"))
    """torch intra-op threads while training the supernet (restored afterwards); None keeps torch's setting."""
    device: str = setting("auto", string, hint="E.g. 'auto', 'cpu', 'cuda' or 'cuda:0'.")
    """Where the supernet trains: ``"auto"`` (CUDA, else MPS, else CPU), ``"cpu"``, ``"cuda[:N]"`` or ``"mps"``."""
    precision: str = setting("fp32", one_of(*PRECISIONS))
    """``"fp32"``, or mixed precision ``"bf16"`` or ``"fp16"`` (a GPU only) for the supernet's forward passes."""

    def validate(self) -> None:
        """Refuse a device this machine lacks, a precision it cannot run, and second order at fp16.

        Raises:
            ConfigError: With the reason (see :func:`nas_gym.utils.device.resolve_device`).
        """
        try:
            check_precision(self.precision, resolve_device(self.device))
        except ConfigError as e:
            raise ConfigError(f"{self.label()}: {e}") from None
        if self.order == 2 and self.precision == "fp16":
            raise ConfigError(
                f"{self.label()} order=2 cannot take precision='fp16' (its finite-difference Hessian step is not "
                "loss-scaled); use precision='bf16' or 'fp32', or order=1."
            )


class DARTS(Searcher):
    """Differentiable architecture search on a softmax-relaxed supernet of the env's space.

    Defaults are the DARTS paper's CIFAR-10 search settings (SGD momentum
    0.9, weight decay 3e-4, cosine to 0.001, gradient clip 5; Adam 3e-4 with
    betas (0.5, 0.999) and weight decay 1e-3 for alpha; train/arch split 0.5)
    except three, cut for CPU runs on small tasks: ``epochs`` 10 (paper 50),
    ``batch_size`` 32 (paper 64) and ``lr`` 0.1 (paper 0.025). The paper's
    schedule has ~20k weight steps; on digits (539 weight examples) it has
    ~90, after which the default NAS-v0 supernet still had a training loss
    of 1.83 (chance: 2.30) with batch 64 and lr 0.025, against 0.06 with
    batch 32 and lr 0.1.

    Hyperparameters: the fields of :class:`DARTSSettings`, given as keyword
    arguments. ``skip_dropout`` is P-DARTS's operation-level dropout (epoch
    ``e`` of ``E`` uses ``skip_dropout * (E - e) / E``). ``num_threads``
    defaults to 1, as the env's training evaluator: on a busy 2-core host, 2
    threads made a supernet step about 12x slower than 1. It is part of the
    result, not only of the speed: another count sums the weight gradients in
    another order, and the supernet trains to another one (the module
    docstring's "Reproducibility").

    Raises:
        ConfigError: An unknown hyperparameter or one out of range.
    """

    name = "darts"
    Settings = DARTSSettings

    settings: DARTSSettings

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self._result: dict[str, Any] = {}
        self._supernet: Supernet | None = None

    @property
    def supernet(self) -> Supernet | None:
        """The supernet of the last search (its ``alphas`` and weights), or None before one."""
        return self._supernet

    @property
    def result(self) -> dict[str, Any]:
        """What the last search recorded (the content of ``darts.json``)."""
        return self._result

    # -- setup ---------------------------------------------------------------------
    def _task(self, parts: EnvParts) -> tuple[Task, bool]:
        """Return the task to train the supernet on, and whether the env is a table."""
        on_table = parts.table is not None
        if self.proxy_task is not None:
            return make_task(self.proxy_task), on_table
        if on_table:
            raise ConfigError(TABLE_ENV_HELP)
        return parts.task, on_table

    def _latency_settings(self, parts: EnvParts, on_table: bool, space: SearchSpace,
                          task: Task) -> tuple[float, float, str]:
        """Return the latency weight, target in ms and loss shape of the arch loss.

        Raises:
            ConfigError: ``latency_weight > 0`` for a space without per-operation latencies.
        """
        reward = parts.reward
        weight = self.latency_weight
        per_op = _has_per_op_latency(space, task)
        if weight is not None and weight > 0 and not per_op:
            raise ConfigError(f"{self.settings.label()}: space {space.name!r} has no per-operation latencies, so the "
                              "supernet has no expected latency; use latency_weight=0.")
        if weight is None:
            host_latency = not on_table and parts.latency_model is not None
            weight = reward.latency_weight if host_latency and per_op else 0.0
            if host_latency and not per_op and reward.latency_weight > 0:
                logger.info("DARTS: space %r has no per-operation latencies; the arch loss has no latency term "
                            "(the env's reward still pays latency).", space.name)
        target = self.latency_target_ms if self.latency_target_ms is not None else reward.latency_target_ms
        shape = self.latency_loss or ("hinge" if reward.name == "hinge" else "linear")
        if weight > 0 and on_table:
            logger.warning(
                "DARTS latency term on a table env uses per-op latencies measured on this host for the proxy "
                "task, not the table's latency column."
            )
        return float(weight), float(target), shape

    # -- search --------------------------------------------------------------------
    def search(self, run: SearchRun) -> None:
        """Train the supernet, derive the architecture, evaluate it and the next best until the budget is spent.

        Raises:
            ConfigError: On a table env without ``proxy_task`` (see the module docstring); on ``transformer``, a
                ``width`` or ``depth`` that is not the space's.
        """
        start = time.perf_counter()
        space = run.space
        task, on_table = self._task(run.parts)
        weight, target, shape = self._latency_settings(run.parts, on_table, space, task)
        latency = OpTableLatency(space, task) if weight > 0 else None

        order = run.rng.permutation(len(task.x_train))
        device = resolve_device(self.device)
        threads = torch.get_num_threads()
        try:
            if self.num_threads is not None:
                torch.set_num_threads(self.num_threads)
            # What the supernet's arithmetic depends on beyond the seed (see "Reproducibility" above).
            numerics = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                        "threads": torch.get_num_threads()}
            # fork_rng: weight init and skip dropout draw from torch's global RNGs,
            # seeded here from the run, and the caller's streams stay untouched. The
            # supernet is built on the CPU, so its initial weights are the same on every device.
            with fork_rng(device):
                torch.manual_seed(run.seed)
                generator = torch.Generator().manual_seed(run.seed)
                net = make_supernet(space, task, generator, filters=self.filters, exclude_none=self.exclude_none,
                                    cell_output=self.cell_output, mixed=True, width=self.width, depth=self.depth)
                net.to(device)
                epochs = self._train(net, task, order, generator, run, latency, weight, target, shape)
        finally:
            torch.set_num_threads(threads)
        search_s = time.perf_counter() - start
        self._supernet = net
        run.log_scalar("darts/search_cost_s", search_s)
        run.add_search_cost(search_s)  # the supernet is this search's cost, as much as the evaluations

        names = [d.name for d in space.decisions]
        unconstrained = next(ranked_architectures(net, max_skip=None))
        collapse = self._collapse_report(net, unconstrained)
        self._result = {
            "space": space.name,
            "task": task.name,
            "proxy_task": self.proxy_task,
            "searched": [names[k] for k in net.searched],
            "fixed": {names[k]: space.decisions[k].choices[c] for k, c in net.fixed.items()},
            "latency": {"weight": weight, "target_ms": target, "loss": shape},
            "device": str(device),
            "precision": self.precision,
            "numerics": numerics,
            "weight_optimizer": self._weight_optimizer(net),
            "epochs": epochs,
            "search_cost_s": search_s,
            "argmax": str(unconstrained),
            "collapse": collapse,
            "derived": None,
            "evaluated": [],
            "select": self.select,
        }
        if latency is not None:
            with torch.no_grad():
                self._result["expected_latency_ms"] = float(net.expected_latency_ms(latency))
        # The derived architecture, then the next most likely ones while budget is left. The ranking does not
        # depend on any result, so they stream to the run's workers (several at once with --workers N).
        if self.select == "path_accuracy":
            ranked = self._rerank_by_paths(net, task, order, run)
        else:
            ranked = list(itertools.islice(ranked_architectures(net, max_skip=self.max_skip), run.remaining))
        if ranked:
            self._result["derived"] = str(ranked[0])
        if self.select == "path_accuracy":
            self._result["path_accuracy"] = self._path_scores
        for rank, info in enumerate(run.evaluate_stream(ranked)):
            self._result["evaluated"].append(
                {"rank": rank, "arch": info["arch"], "log_prob": arch_log_prob(net, ranked[rank]),
                 "reward": info["reward"], "val_accuracy": info["val_accuracy"]}
            )
        self._write(run)

    def _rerank_by_paths(self, net: Supernet, task: Task, order: np.ndarray, run: SearchRun) -> list[Architecture]:
        """The ``select_candidates`` most probable architectures, best path accuracy first (ties: more probable first).

        A selection-time remedy for collapse (in the spirit of DARTS-PT, Wang et al. 2021, which also judges
        operations by the trained supernet's accuracy rather than by alpha): each candidate's single path runs
        on the supernet's trained weights, with batch-norm statistics recomputed for it on the weight half,
        and is scored on the *arch half* of the training split, which the weights never trained on. The env's
        validation split stays unseen. Then the rest of the ranking follows, while budget lasts.
        """
        ranking = ranked_architectures(net, max_skip=self.max_skip)
        candidates = list(itertools.islice(ranking, max(self.select_candidates, 1)))
        x = torch.from_numpy(np.ascontiguousarray(task.x_train)).to(net.device)
        y = torch.from_numpy(np.ascontiguousarray(task.y_train)).to(net.device)
        w_idx, a_idx = self._halves(order)
        calibration = list(x[w_idx[: 8 * self.batch_size]].split(self.batch_size))
        scores = []
        with torch.no_grad():
            for arch in candidates:
                net.recalibrate(arch, calibration)
                out = torch.cat([net(xb, path=arch) for xb in x[a_idx].split(1024)])
                scores.append(task_score(task, out, y[a_idx])[0])
        self._path_scores = {str(a): sc for a, sc in zip(candidates, scores, strict=True)}
        best_first = [candidates[i] for i in sorted(range(len(candidates)), key=lambda i: (-scores[i], i))]
        rest = list(itertools.islice(ranking, max(0, run.remaining - len(best_first))))
        return (best_first + rest)[: run.remaining]

    def _halves(self, order: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight half and the arch half of the shuffled training split (``train_portion``), as indices."""
        n_w = min(len(order) - 2, max(2, int(round(self.train_portion * len(order)))))
        return torch.from_numpy(order[:n_w]), torch.from_numpy(order[n_w:])

    def _collapse_report(self, net: Supernet, arch: Architecture) -> dict[str, Any]:
        """Count skip picks and skip softmax mass of the unconstrained derivation; warn on collapse."""
        picks = sum(1 for k, c in net.skip_choices.items() if arch.indices[k] == c)
        with torch.no_grad():
            probs = net.probs()
        mass = [float(probs[k][c]) for k, c in net.skip_choices.items()]
        report = {
            "detected": picks >= COLLAPSE_SKIPS,
            "skip_picks": picks,
            "skip_decisions": len(net.skip_choices),
            "threshold": COLLAPSE_SKIPS,
            "mean_skip_weight": float(np.mean(mass)) if mass else 0.0,
        }
        if report["detected"]:
            logger.warning(
                "DARTS collapse: %d of %d op decisions pick a parameter-free skip (threshold %d) in %s. "
                "Remedies: agent kwargs max_skip (e.g. 2) and/or skip_dropout (e.g. 0.4).",
                picks, len(net.skip_choices), COLLAPSE_SKIPS, arch,
            )
        return report

    def _write(self, run: SearchRun) -> None:
        if run.out_dir is not None:
            run.out_dir.mkdir(parents=True, exist_ok=True)
            (run.out_dir / "darts.json").write_text(json.dumps(self._result, indent=1))

    # -- bilevel optimisation -------------------------------------------------------
    def _train(
        self,
        net: Supernet,
        task: Task,
        order: np.ndarray,
        generator: torch.Generator,
        run: SearchRun,
        latency: OpTableLatency | None,
        weight: float,
        target: float,
        shape: str,
    ) -> list[dict[str, Any]]:
        """Alternate arch and weight steps for ``epochs``; return one record per epoch."""
        from tqdm.auto import tqdm

        device, precision = net.device, self.precision
        x = torch.from_numpy(np.ascontiguousarray(task.x_train)).to(device)
        y = torch.from_numpy(np.ascontiguousarray(task.y_train)).to(device)
        w_idx, a_idx = self._halves(order)
        steps = math.ceil(len(w_idx) / self.batch_size)
        # Cross-entropy, or the MSE on a regression task (nas_gym.tasks.loss), for every loss below.
        self._loss = functools.partial(task_loss, task)
        y_var = float(y[a_idx].float().var(unbiased=False)) if task.is_regression else 1.0

        if self._weight_optimizer(net) == "adam":
            w_opt: torch.optim.Optimizer = torch.optim.Adam(net.weight_parameters(), lr=self.adam_lr,
                                                            weight_decay=self.weight_decay)
            lr_min = self.lr_min * self.adam_lr / self.lr  # the same fraction of the peak as under SGD
        else:
            w_opt = torch.optim.SGD(net.weight_parameters(), lr=self.lr, momentum=self.momentum,
                                    weight_decay=self.weight_decay)
            lr_min = self.lr_min
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=self.epochs * steps, eta_min=lr_min)
        a_opt = torch.optim.Adam(net.alphas.parameters(), lr=self.arch_lr, betas=self.arch_betas,
                                 weight_decay=self.arch_weight_decay)
        # One scaler for both optimisers (torch's recipe for several); a pass-through below fp16.
        scaler = grad_scaler(device, precision)
        names = [d.name for d in net.space.decisions]

        def latency_term() -> torch.Tensor:
            if latency is None:
                return torch.zeros((), device=device)
            ratio = net.expected_latency_ms(latency) / target
            return weight * (F.relu(ratio - 1) if shape == "hinge" else ratio)

        records = []
        net.train()
        for epoch in tqdm(range(self.epochs), desc="DARTS supernet", unit="epoch"):
            # P-DARTS decays the skip dropout rate linearly over the epochs; starting
            # at the full rate keeps it in effect in short (even 1-epoch) searches.
            skip_drop = self.skip_dropout * (self.epochs - epoch) / self.epochs
            w_perm = w_idx[torch.randperm(len(w_idx), generator=generator)]
            a_perm = a_idx[torch.randperm(len(a_idx), generator=generator)]
            w_loss_sum = a_loss_sum = 0.0
            correct = seen = scored = 0
            for s in range(steps):
                wb = w_perm[s * self.batch_size : (s + 1) * self.batch_size]
                if len(wb) < 2:  # batch norm needs two examples
                    continue
                # The arch half is read cyclically, so it serves every step even when it is the smaller one.
                ab = a_perm[(s * self.batch_size + torch.arange(len(wb))) % len(a_perm)]
                wb, ab = wb.to(device), ab.to(device)
                xw, yw, xa, ya = x[wb], y[wb], x[ab], y[ab]
                lr = w_opt.param_groups[0]["lr"]

                a_opt.zero_grad(set_to_none=True)
                if self.order == 1:
                    with autocast(device, precision):
                        logits = net(xa, skip_drop)
                        a_loss = self._loss(logits, ya)
                    grads = torch.autograd.grad(scaler.scale(a_loss + latency_term()), list(net.alphas))
                else:
                    a_loss, logits, grads = self._unrolled_grads(net, w_opt, lr, xw, yw, xa, ya, skip_drop,
                                                                 latency_term)
                for a, g in zip(net.alphas, grads, strict=True):
                    a.grad = g
                scaler.step(a_opt)

                w_opt.zero_grad(set_to_none=True)
                with autocast(device, precision):
                    w_loss = self._loss(net(xw, skip_drop), yw)
                w_params = list(net.weight_parameters())
                w_grads = torch.autograd.grad(scaler.scale(w_loss), w_params, allow_unused=True)
                for p, g in zip(w_params, w_grads, strict=True):
                    p.grad = g
                scaler.unscale_(w_opt)  # clip the true gradients, not the scaled ones
                torch.nn.utils.clip_grad_norm_(w_params, self.grad_clip)
                scaler.step(w_opt)
                scaler.update()
                with quiet_skipped_steps(precision):
                    schedule.step()

                w_loss_sum += w_loss.item() * len(wb)
                a_loss_sum += a_loss.item() * len(ab)
                if task.is_regression:  # "accuracy" is R² on the arch half: 1 - sum of squares / variance
                    correct += float(((logits.detach().float().squeeze(-1) - ya) ** 2).sum() / y_var)
                else:
                    correct += int((logits.argmax(-1) == ya).sum())
                seen += len(ab)
                # A language model predicts every position of a window: its accuracy counts positions.
                scored += ya.numel() if task.is_language_model else len(ab)

            with torch.no_grad():
                probs = net.probs()
            record = {
                "epoch": epoch + 1,
                "lr": lr,
                "skip_dropout": skip_drop,
                "train_loss": w_loss_sum / max(1, len(w_idx)),
                "arch_loss": a_loss_sum / max(1, seen),
                "arch_accuracy": 1.0 - correct / max(1, seen) if task.is_regression else correct / max(1, scored),
                "probs": {names[k]: [round(float(v), 6) for v in p] for k, p in probs.items()},
            }
            if latency is not None:
                with torch.no_grad():
                    record["expected_latency_ms"] = float(net.expected_latency_ms(latency))
            records.append(record)
            self._log_epoch(run, record, net)
        return records

    def _weight_optimizer(self, net: Supernet) -> str:
        """``weight_optimizer``, or by space: Adam for the recurrent cell and the transformer, which SGD trains poorly.

        On NAS-RNN-v0 the relaxed cell's training loss after 160 steps was 0.98 under the paper's SGD (lr 0.1;
        1.29 at lr 1.0), the variance of the standardised targets, so alpha learnt from a network that predicts
        the mean; under Adam at 3e-3 it was 0.056. On NAS-LM-v0 (width 64, depth 4) one epoch left a training
        loss of 3.30 nats under SGD, no better than character frequencies (3.24), and 3.12 under Adam at 3e-3 (the
        env's own training uses AdamW at that rate).
        """
        if self.weight_optimizer is not None:
            return self.weight_optimizer
        return "adam" if net.space.name in ("rnn_cell", "transformer") else "sgd"

    def _unrolled_grads(self, net, w_opt, lr, xw, yw, xa, ya, skip_drop, latency_term):
        """Second-order arch gradient (DARTS eq. 7-8) with the finite-difference Hessian-vector product.

        Forward passes run under autocast at ``precision`` (never ``"fp16"``:
        the settings refuse it), gradients are taken in the weights' float32.
        """
        device, precision = net.device, self.precision
        params = net.named_weight_parameters()
        names, ws = list(params), list(params.values())
        alphas = list(net.alphas)
        with autocast(device, precision):
            train_loss = self._loss(net(xw, skip_drop), yw)
        gw = torch.autograd.grad(train_loss, ws, allow_unused=True)
        unrolled = {}
        for n, w, g in zip(names, ws, gw, strict=True):
            g = torch.zeros_like(w) if g is None else g
            buf = w_opt.state.get(w, {}).get("momentum_buffer")
            moment = self.momentum * buf if buf is not None else torch.zeros_like(w)
            # w' = w - xi * (momentum * buffer + grad + weight_decay * w), as the paper's code (under Adam, which
            # keeps no momentum buffer, a plain gradient step at its learning rate).
            unrolled[n] = (w - lr * (moment + g + self.weight_decay * w)).detach().requires_grad_(True)
        with autocast(device, precision):
            logits = functional_call(net, unrolled, (xa, skip_drop))
            a_loss = self._loss(logits, ya)
        grads = torch.autograd.grad(a_loss + latency_term(), alphas + list(unrolled.values()), allow_unused=True)
        d_alpha = [torch.zeros_like(a) if g is None else g for g, a in zip(grads[: len(alphas)], alphas, strict=True)]
        d_w = [torch.zeros_like(w) if g is None else g for g, w in zip(grads[len(alphas) :], ws, strict=True)]
        eps = 0.01 / (torch.cat([g.flatten() for g in d_w]).norm() + 1e-12)

        def alpha_grad(sign: float) -> list[torch.Tensor]:
            shifted = {n: (w + sign * eps * g).detach() for n, w, g in zip(names, ws, d_w, strict=True)}
            with autocast(device, precision):
                loss = self._loss(functional_call(net, shifted, (xw, skip_drop)), yw)
            out = torch.autograd.grad(loss, alphas, allow_unused=True)
            return [torch.zeros_like(a) if g is None else g for g, a in zip(out, alphas, strict=True)]

        plus, minus = alpha_grad(1.0), alpha_grad(-1.0)
        grads = [da - lr * (p - m) / (2 * eps) for da, p, m in zip(d_alpha, plus, minus, strict=True)]
        return a_loss.detach(), logits.detach(), grads

    def _log_epoch(self, run: SearchRun, record: dict[str, Any], net: Supernet) -> None:
        skip = [record["probs"][net.space.decisions[k].name][c] for k, c in net.skip_choices.items()]
        logger.info("DARTS epoch %d: train loss %.4f, arch loss %.4f", record["epoch"], record["train_loss"],
                    record["arch_loss"])
        if run.logger is None:
            return
        scalars = {
            "darts/train_loss": record["train_loss"],
            "darts/arch_loss": record["arch_loss"],
            "darts/arch_accuracy": record["arch_accuracy"],
            "darts/lr": record["lr"],
            "darts/mean_skip_weight": float(np.mean(skip)) if skip else 0.0,
        }
        if "expected_latency_ms" in record:
            scalars["darts/expected_latency_ms"] = record["expected_latency_ms"]
        for tag, value in scalars.items():
            run.logger.log_scalar(tag, value, record["epoch"])


def _has_per_op_latency(space: SearchSpace, task: Task) -> bool:
    """Whether ``space`` breaks its networks into per-operation keys (what the expected latency sums)."""
    try:
        space.op_keys(space.sample(np.random.default_rng(0)), task)
    except NotImplementedError:
        return False
    return True


def arch_log_prob(net: Supernet, arch: Architecture) -> float:
    """Return the log-probability of ``arch``'s searched choices under the per-decision softmaxes."""
    log_probs = net.log_probs()
    return float(sum(log_probs[k][arch.indices[k]] for k in net.searched))


def ranked_architectures(net: Supernet, *, max_skip: int | None) -> Iterator[Architecture]:
    """Architectures in decreasing probability under the per-decision softmaxes, one per equivalence class.

    Searched decisions range over their non-excluded choices; the others keep
    ``net.fixed``. Each combination is repaired to respect the space's masks
    (``space.repair``); combinations with more than ``max_skip`` skip
    choices are skipped. The first one is the DARTS derivation (argmax per
    decision). Best-first enumeration of the k best combinations with a heap.

    Args:
        net: The trained supernet.
        max_skip: Most skip choices allowed; None for no limit.
    """
    space: SearchSpace = net.space
    log_probs = net.log_probs()
    options = []
    for k in net.searched:
        allowed = [c for c in range(space.decisions[k].n) if c not in net.excluded[k]]
        options.append(sorted(allowed, key=lambda c, k=k: (-log_probs[k][c], c)))

    def score(ranks: tuple[int, ...]) -> float:
        return float(sum(log_probs[k][opts[r]] for k, opts, r in zip(net.searched, options, ranks, strict=True)))

    first = (0,) * len(options)
    heap = [(-score(first), first)]
    visited = {first}
    seen: set[str] = set()
    while heap and len(visited) < _MAX_RANKED_VISITS:
        _, ranks = heapq.heappop(heap)
        for i in range(len(ranks)):
            if ranks[i] + 1 < len(options[i]):
                nxt = ranks[:i] + (ranks[i] + 1,) + ranks[i + 1 :]
                if nxt not in visited:
                    visited.add(nxt)
                    heapq.heappush(heap, (-score(nxt), nxt))
        choice = dict(net.fixed)
        choice.update({k: opts[r] for k, opts, r in zip(net.searched, options, ranks, strict=True)})
        arch = space.arch(space.repair([choice[k] for k in range(space.num_decisions)]))
        skips = sum(1 for k, c in net.skip_choices.items() if arch.indices[k] == c)
        if max_skip is not None and skips > max_skip:
            continue
        key = str(space.canonical(arch))
        if key in seen:
            continue
        seen.add(key)
        yield arch
