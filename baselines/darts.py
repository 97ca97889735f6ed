"""DARTS: differentiable architecture search (Liu, Simonyan and Yang, ICLR 2019).

DARTS relaxes every searched decision into a softmax-weighted mixture of its
choices (a supernet, :mod:`baselines.darts_supernet`), trains the operation
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
(``env.reward_fn``) where the env scores latency on this host, and the term
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

import heapq
import itertools
import json
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from baselines.darts_supernet import Supernet, make_supernet
from nas_gym.error import ConfigError
from nas_gym.latency import OpTableLatency
from nas_gym.search import Searcher, SearchRun
from nas_gym.spaces import Architecture, SearchSpace
from nas_gym.tasks import Task, make_task

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


def _check(name: str, ok: bool, expected: str, given: Any) -> None:
    if not ok:
        raise ConfigError(f"DARTS {name} must be {expected}, got {given!r}.")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


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

    Args:
        epochs: Passes over the weight half of the training split.
        order: 1 for first-order DARTS, 2 for second order (unrolled).
        batch_size: Examples per weight step and per arch step.
        lr: Initial (peak) SGD learning rate of the weights.
        lr_min: Final learning rate of the per-step cosine schedule.
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        grad_clip: Max gradient norm of the weights.
        arch_lr: Adam learning rate of alpha.
        arch_betas: Adam betas of alpha.
        arch_weight_decay: Adam weight decay of alpha.
        train_portion: Fraction of the training split for the weights; the
            rest trains alpha.
        latency_weight: Weight of the latency term; None follows the env's
            reward (0 on table envs).
        latency_target_ms: Latency target; None takes the env reward's.
        latency_loss: ``"hinge"`` or ``"linear"``; None follows the env's
            reward (hinge for ``hinge``, linear otherwise).
        proxy_task: Task to train the supernet on (``"digits"``,
            ``"mnist1d"``); needed on table envs; None uses the env's task.
        filters: Layers space only: the fixed width of every convolution
            (None: the space's largest).
        exclude_none: NB201 only: derivation never picks ``none`` (the DARTS
            paper's rule).
        max_skip: At most this many parameter-free skip choices in derived
            architectures (P-DARTS uses 2); None for no limit.
        skip_dropout: Dropout rate on skip outputs in the first search epoch
            (P-DARTS), decaying linearly (epoch ``e`` of ``E`` uses
            ``skip_dropout * (E - e) / E``); 0 disables it.
        num_threads: torch intra-op threads while training the supernet
            (restored afterwards); None keeps torch's current setting. 1, as
            the env's training evaluator: on a busy 2-core host, 2 threads made
            a supernet step about 12x slower than 1.
    """

    name = "darts"

    def __init__(
        self,
        *,
        epochs: int = 10,
        order: int = 1,
        batch_size: int = 32,
        lr: float = 0.1,
        lr_min: float = 0.001,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        grad_clip: float = 5.0,
        arch_lr: float = 3e-4,
        arch_betas: tuple[float, float] = (0.5, 0.999),
        arch_weight_decay: float = 1e-3,
        train_portion: float = 0.5,
        latency_weight: float | None = None,
        latency_target_ms: float | None = None,
        latency_loss: str | None = None,
        proxy_task: str | None = None,
        filters: int | None = None,
        exclude_none: bool = True,
        max_skip: int | None = None,
        skip_dropout: float = 0.0,
        num_threads: int | None = 1,
    ) -> None:
        _check("epochs", _is_int(epochs) and epochs >= 1, "an integer >= 1", epochs)
        _check("order", order in (1, 2) and _is_int(order), "1 (first order) or 2 (second order, unrolled)", order)
        _check("batch_size", _is_int(batch_size) and batch_size >= 2, "an integer >= 2", batch_size)
        for name, value in (("lr", lr), ("arch_lr", arch_lr)):
            _check(name, _is_num(value) and value > 0, "a finite number > 0", value)
        for name, value in (("lr_min", lr_min), ("momentum", momentum), ("weight_decay", weight_decay),
                            ("grad_clip", grad_clip), ("arch_weight_decay", arch_weight_decay)):
            _check(name, _is_num(value) and value >= 0, "a finite number >= 0", value)
        _check("arch_betas", isinstance(arch_betas, (tuple, list)) and len(arch_betas) == 2
               and all(_is_num(b) and 0 <= b < 1 for b in arch_betas), "two numbers in [0, 1)", arch_betas)
        _check("train_portion", _is_num(train_portion) and 0 < train_portion < 1, "a number in (0, 1)", train_portion)
        _check("latency_weight", latency_weight is None or (_is_num(latency_weight) and latency_weight >= 0),
               "None (follow the env's reward) or a finite number >= 0", latency_weight)
        _check("latency_target_ms", latency_target_ms is None or (_is_num(latency_target_ms) and latency_target_ms > 0),
               "None (the env's target) or a number > 0", latency_target_ms)
        _check("latency_loss", latency_loss in (None, "hinge", "linear"), "None, 'hinge' or 'linear'", latency_loss)
        _check("proxy_task", proxy_task is None or isinstance(proxy_task, str),
               "None or a task name such as 'digits'", proxy_task)
        _check("filters", filters is None or (_is_int(filters) and filters > 0),
               "None (the largest choice) or a positive integer", filters)
        _check("exclude_none", isinstance(exclude_none, bool), "True or False", exclude_none)
        _check("max_skip", max_skip is None or (_is_int(max_skip) and max_skip >= 0),
               "None or an integer >= 0", max_skip)
        _check("skip_dropout", _is_num(skip_dropout) and 0 <= skip_dropout < 1, "a number in [0, 1)", skip_dropout)
        _check("num_threads", num_threads is None or (_is_int(num_threads) and num_threads >= 1),
               "None (torch's current setting) or an integer >= 1", num_threads)
        self.epochs = epochs
        self.order = order
        self.batch_size = batch_size
        self.lr = float(lr)
        self.lr_min = float(lr_min)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.grad_clip = float(grad_clip)
        self.arch_lr = float(arch_lr)
        self.arch_betas = tuple(float(b) for b in arch_betas)
        self.arch_weight_decay = float(arch_weight_decay)
        self.train_portion = float(train_portion)
        self.latency_weight = latency_weight
        self.latency_target_ms = latency_target_ms
        self.latency_loss = latency_loss
        self.proxy_task = proxy_task
        self.filters = filters
        self.exclude_none = exclude_none
        self.max_skip = max_skip
        self.skip_dropout = float(skip_dropout)
        self.num_threads = num_threads
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
    def _task(self, env: Any) -> tuple[Task, bool]:
        """Return the task to train the supernet on, and whether the env is a table."""
        on_table = getattr(env, "table", None) is not None
        if self.proxy_task is not None:
            return make_task(self.proxy_task), on_table
        if on_table:
            raise ConfigError(TABLE_ENV_HELP)
        return env.task, on_table

    def _latency_settings(self, env: Any, on_table: bool) -> tuple[float, float, str]:
        """Return the latency weight, target in ms and loss shape of the arch loss."""
        reward = env.reward_fn
        weight = self.latency_weight
        if weight is None:
            host_latency = not on_table and getattr(env, "latency_model", None) is not None
            weight = reward.latency_weight if host_latency else 0.0
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
            ConfigError: On a table env without ``proxy_task`` (see the module docstring).
        """
        start = time.perf_counter()
        env = run.env.unwrapped
        space = run.space
        task, on_table = self._task(env)
        weight, target, shape = self._latency_settings(env, on_table)
        latency = OpTableLatency(space, task) if weight > 0 else None

        order = run.rng.permutation(len(task.x_train))
        threads = torch.get_num_threads()
        try:
            if self.num_threads is not None:
                torch.set_num_threads(self.num_threads)
            # fork_rng: weight init and skip dropout draw from torch's global RNG,
            # seeded here from the run, and the caller's stream stays untouched.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(run.seed)
                generator = torch.Generator().manual_seed(run.seed)
                net = make_supernet(space, task, generator, filters=self.filters, exclude_none=self.exclude_none)
                epochs = self._train(net, task, order, generator, run, latency, weight, target, shape)
        finally:
            torch.set_num_threads(threads)
        search_s = time.perf_counter() - start
        self._supernet = net
        run.log_scalar("darts/search_cost_s", search_s)

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
            "epochs": epochs,
            "search_cost_s": search_s,
            "argmax": str(unconstrained),
            "collapse": collapse,
            "derived": None,
            "evaluated": [],
        }
        if latency is not None:
            with torch.no_grad():
                self._result["expected_latency_ms"] = float(net.expected_latency_ms(latency))
        # The derived architecture, then the next most likely ones while budget is left. The ranking does not
        # depend on any result, so they stream to the run's workers (several at once with --workers N).
        ranked = list(itertools.islice(ranked_architectures(net, max_skip=self.max_skip), run.remaining))
        if ranked:
            self._result["derived"] = str(ranked[0])
        for rank, info in enumerate(run.evaluate_stream(ranked)):
            self._result["evaluated"].append(
                {"rank": rank, "arch": info["arch"], "log_prob": arch_log_prob(net, ranked[rank]),
                 "reward": info["reward"], "val_accuracy": info["val_accuracy"]}
            )
        self._write(run)

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

        x = torch.from_numpy(np.ascontiguousarray(task.x_train))
        y = torch.from_numpy(np.ascontiguousarray(task.y_train))
        n_w = min(len(order) - 2, max(2, int(round(self.train_portion * len(order)))))
        w_idx, a_idx = torch.from_numpy(order[:n_w]), torch.from_numpy(order[n_w:])
        steps = math.ceil(len(w_idx) / self.batch_size)

        w_opt = torch.optim.SGD(net.weight_parameters(), lr=self.lr, momentum=self.momentum,
                                weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=self.epochs * steps, eta_min=self.lr_min)
        a_opt = torch.optim.Adam(net.alphas.parameters(), lr=self.arch_lr, betas=self.arch_betas,
                                 weight_decay=self.arch_weight_decay)
        names = [d.name for d in net.space.decisions]

        def latency_term() -> torch.Tensor:
            if latency is None:
                return torch.zeros(())
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
            correct = seen = 0
            for s in range(steps):
                wb = w_perm[s * self.batch_size : (s + 1) * self.batch_size]
                if len(wb) < 2:  # batch norm needs two examples
                    continue
                # The arch half is read cyclically, so it serves every step even when it is the smaller one.
                ab = a_perm[(s * self.batch_size + torch.arange(len(wb))) % len(a_perm)]
                xw, yw, xa, ya = x[wb], y[wb], x[ab], y[ab]
                lr = w_opt.param_groups[0]["lr"]

                a_opt.zero_grad(set_to_none=True)
                if self.order == 1:
                    logits = net(xa, skip_drop)
                    a_loss = F.cross_entropy(logits, ya)
                    grads = torch.autograd.grad(a_loss + latency_term(), list(net.alphas))
                else:
                    a_loss, logits, grads = self._unrolled_grads(net, w_opt, lr, xw, yw, xa, ya, skip_drop,
                                                                 latency_term)
                for a, g in zip(net.alphas, grads, strict=True):
                    a.grad = g
                a_opt.step()

                w_opt.zero_grad(set_to_none=True)
                w_loss = F.cross_entropy(net(xw, skip_drop), yw)
                w_params = list(net.weight_parameters())
                for p, g in zip(w_params, torch.autograd.grad(w_loss, w_params, allow_unused=True), strict=True):
                    p.grad = g
                torch.nn.utils.clip_grad_norm_(w_params, self.grad_clip)
                w_opt.step()
                schedule.step()

                w_loss_sum += w_loss.item() * len(wb)
                a_loss_sum += a_loss.item() * len(ab)
                correct += int((logits.argmax(-1) == ya).sum())
                seen += len(ab)

            with torch.no_grad():
                probs = net.probs()
            record = {
                "epoch": epoch + 1,
                "lr": lr,
                "skip_dropout": skip_drop,
                "train_loss": w_loss_sum / max(1, len(w_idx)),
                "arch_loss": a_loss_sum / max(1, seen),
                "arch_accuracy": correct / max(1, seen),
                "probs": {names[k]: [round(float(v), 6) for v in p] for k, p in probs.items()},
            }
            if latency is not None:
                with torch.no_grad():
                    record["expected_latency_ms"] = float(net.expected_latency_ms(latency))
            records.append(record)
            self._log_epoch(run, record, net)
        return records

    def _unrolled_grads(self, net, w_opt, lr, xw, yw, xa, ya, skip_drop, latency_term):
        """Second-order arch gradient (DARTS eq. 7-8) with the finite-difference Hessian-vector product."""
        params = net.named_weight_parameters()
        names, ws = list(params), list(params.values())
        alphas = list(net.alphas)
        train_loss = F.cross_entropy(net(xw, skip_drop), yw)
        gw = torch.autograd.grad(train_loss, ws, allow_unused=True)
        unrolled = {}
        for n, w, g in zip(names, ws, gw, strict=True):
            g = torch.zeros_like(w) if g is None else g
            buf = w_opt.state.get(w, {}).get("momentum_buffer")
            moment = self.momentum * buf if buf is not None else torch.zeros_like(w)
            # w' = w - xi * (momentum * buffer + grad + weight_decay * w), as the paper's code.
            unrolled[n] = (w - lr * (moment + g + self.weight_decay * w)).detach().requires_grad_(True)
        logits = functional_call(net, unrolled, (xa, skip_drop))
        a_loss = F.cross_entropy(logits, ya)
        grads = torch.autograd.grad(a_loss + latency_term(), alphas + list(unrolled.values()), allow_unused=True)
        d_alpha = [torch.zeros_like(a) if g is None else g for g, a in zip(grads[: len(alphas)], alphas, strict=True)]
        d_w = [torch.zeros_like(w) if g is None else g for g, w in zip(grads[len(alphas) :], ws, strict=True)]
        eps = 0.01 / (torch.cat([g.flatten() for g in d_w]).norm() + 1e-12)

        def alpha_grad(sign: float) -> list[torch.Tensor]:
            shifted = {n: (w + sign * eps * g).detach() for n, w, g in zip(names, ws, d_w, strict=True)}
            loss = F.cross_entropy(functional_call(net, shifted, (xw, skip_drop)), yw)
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
