"""Real training: score an architecture by training it with torch on a task.

:class:`TrainingEvaluator` builds the network from its space, trains it with
cross-entropy (or, on a regression task, the mean squared error) under a fixed
budget (epochs, or a fixed number of optimisation steps; optional time limit)
and seed, and reports validation and test accuracy (R² for regression, with
``val_mse``/``test_mse`` in ``extra``; next-character accuracy for a language
model, with ``val_bpc``/``test_bpc``; see :mod:`nas_gym.tasks.loss`),
parameter count, multiply-accumulates and wall time. The datasets are tiny,
so whole splits live in memory as tensors and batches are index slices: no
``DataLoader``.

Training runs on ``device`` (``"auto"``: a CUDA GPU if torch sees one,
else Apple's MPS, else the CPU; see :mod:`nas_gym.utils.device`) at ``precision``
(``"fp32"``, or mixed ``"bf16"``/``"fp16"`` through autocast, with a
gradient scaler for ``"fp16"``). The data splits move to the device once.
Weights are initialised on the CPU, and shuffling draws from a CPU
generator, so every device starts from the same weights and sees the same
batches; multiply-accumulates are counted on the CPU before the model moves.
Results computed on a GPU or at mixed precision carry ``device`` /
``precision`` in :meth:`TrainingEvaluator.settings` (so their cache keys
differ); on the CPU at ``"fp32"`` the settings are those from before devices
existed.

On CPU, two evaluations of the same architecture with the same settings give
identical metrics (except ``cost_s``): weight initialisation and shuffling
draw from generators seeded by ``seed``, and the caller's global torch RNG is
left as it was. On a GPU, kernels may be nondeterministic, so metrics can
differ slightly between runs and from the CPU's.
"""

from __future__ import annotations

import copy
import functools
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from nas_gym.error import ConfigError, unknown_name
from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.spaces.base import Architecture
from nas_gym.storage.checkpoints import CheckpointStore
from nas_gym.tasks.base import Task, make_task
from nas_gym.tasks.loss import bits_per_char, chance_score, task_loss, task_score
from nas_gym.utils.counting import count_flops, count_params
from nas_gym.utils.device import (
    autocast,
    cache_settings,
    check_precision,
    fork_rng,
    grad_scaler,
    quiet_skipped_steps,
    resolve_device,
)

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("cosine", "constant")

# Bump when the training procedure changes results, so cached records made by
# an older procedure are not reused (it is part of ``settings()``).
PROCEDURE_VERSION = 1

# Batch size for inference on validation and test splits; bounds memory only.
_EVAL_BATCH = 2048


def _check(name: str, ok: bool, expected: str, given: Any) -> None:
    if not ok:
        raise ConfigError(f"TrainingEvaluator: {name} must be {expected}, got {given!r}.")


@functools.cache
def _import_optimizer_machinery() -> None:
    """Import what torch imports when a process builds its first optimizer (``torch._dynamo``, about 1 s).

    Done before the clock starts, so that one-off second is neither charged to
    the first architecture a process trains (``cost_s``) nor counted against
    its ``max_seconds``.
    """
    import torch._dynamo  # noqa: F401


def round_length(steps: int, rounds: int) -> int:
    """Steps in one fidelity round of a ``steps`` budget cut into ``rounds`` (never more rounds than steps).

    >>> round_length(250, 10), round_length(14, 4), round_length(3, 10)
    (25, 4, 1)
    """
    return math.ceil(steps / min(rounds, steps))


class TrainingEvaluator(Evaluator):
    """Train an architecture on a task and report its accuracies.

    Args:
        task: The task, or a task name for :func:`nas_gym.tasks.base.make_task`.
        epochs: Passes over the (possibly reduced) training split; at least 1.
            Ignored when ``steps`` is given.
        steps: Train for exactly this many optimisation steps (batches)
            instead, passing over the training split as often as that takes
            (each pass reshuffled); the learning-rate schedule spans them.
            None (the default) trains ``epochs`` passes. The language-modelling
            env ``NAS-LM-v0`` trains a fixed number of steps.
        fidelity_rounds: Under ``steps``, the fidelities :meth:`evaluate_at`
            serves: the budget is cut into this many rounds of
            ``ceil(steps / fidelity_rounds)`` steps (the last one may be
            shorter), and fidelity ``e`` trains the first ``e`` rounds. Ignored
            without ``steps``, where a fidelity is an epoch.
        batch_size: Examples per optimisation step; at least 1.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9, Nesterov).
        lr: Peak learning rate; positive.
        weight_decay: L2 penalty (decoupled for ``adamw``); non-negative.
        seed: Seeds weight initialisation, shuffling and the training subset.
        early_stopping_patience: Stop after this many epochs without a lower
            validation loss and report the best epoch's weights; None trains
            every epoch.
        train_fraction: Fraction of the training split to use, in (0, 1]; the
            subset is fixed by ``seed`` (a cheaper proxy task).
        max_seconds: Time limit for one evaluation (build and training); when hit,
            training stops, ``timed_out`` is set and the model is scored as it
            is. None for no limit.
        num_threads: torch intra-op threads while evaluating; the previous
            setting is restored afterwards. Does not change results.
        lr_schedule: ``"cosine"`` (per-step decay to zero) or ``"constant"``.
        device: Where to train: ``"auto"`` (a CUDA GPU, else MPS, else the
            CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``. A device
            this machine lacks is a ConfigError here, not a fall-back.
        precision: ``"fp32"``, or mixed precision ``"bf16"`` or ``"fp16"``
            (autocast on forward passes; ``"fp16"`` adds a gradient scaler and
            needs a GPU).

    Raises:
        ConfigError: A setting is out of range or an unknown name, or the
            device is not there or cannot run the precision.
    """

    def __init__(
        self,
        task: Task | str = "digits",
        *,
        epochs: int = 6,
        batch_size: int = 32,
        optimizer: str = "adam",
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        seed: int = 0,
        early_stopping_patience: int | None = None,
        train_fraction: float = 1.0,
        max_seconds: float | None = None,
        num_threads: int = 1,
        lr_schedule: str = "cosine",
        device: str = "auto",
        precision: str = "fp32",
        steps: int | None = None,
        fidelity_rounds: int = 10,
    ) -> None:
        self.task = make_task(task) if isinstance(task, str) else task
        _check("epochs", isinstance(epochs, int) and epochs >= 1, "an integer >= 1", epochs)
        _check("batch_size", isinstance(batch_size, int) and batch_size >= 1, "an integer >= 1", batch_size)
        _check("lr", isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr), "a finite number > 0", lr)
        _check(
            "weight_decay",
            isinstance(weight_decay, (int, float)) and 0 <= weight_decay < math.inf,
            "a finite number >= 0",
            weight_decay,
        )
        _check("seed", isinstance(seed, int), "an integer", seed)
        _check("steps", steps is None or (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1),
               "None or an integer >= 1", steps)
        _check("fidelity_rounds", isinstance(fidelity_rounds, int) and not isinstance(fidelity_rounds, bool)
               and fidelity_rounds >= 1, "an integer >= 1", fidelity_rounds)
        patience = early_stopping_patience
        _check(
            "early_stopping_patience",
            patience is None or (isinstance(patience, int) and patience >= 1),
            "None or an integer >= 1",
            patience,
        )
        _check(
            "train_fraction",
            isinstance(train_fraction, (int, float)) and 0 < train_fraction <= 1,
            "a number in (0, 1]",
            train_fraction,
        )
        _check(
            "max_seconds",
            max_seconds is None or (isinstance(max_seconds, (int, float)) and max_seconds > 0),
            "None or a number > 0",
            max_seconds,
        )
        _check("num_threads", isinstance(num_threads, int) and num_threads >= 1, "an integer >= 1", num_threads)
        if optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", optimizer, OPTIMIZERS)
        if lr_schedule not in LR_SCHEDULES:
            raise unknown_name("lr schedule", lr_schedule, LR_SCHEDULES)
        try:
            self.device = resolve_device(device)
            self.precision = check_precision(precision, self.device)
        except ConfigError as e:
            raise ConfigError(f"TrainingEvaluator: {e}") from None
        self.epochs = epochs
        self.steps = steps
        # More rounds than steps would leave empty rounds.
        self.fidelity_rounds = fidelity_rounds if steps is None else min(fidelity_rounds, steps)
        self.batch_size = batch_size
        self.optimizer = optimizer
        # Floats are normalised so that e.g. lr=1 and lr=1.0 give one cache key.
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.seed = seed
        self.early_stopping_patience = early_stopping_patience
        self.train_fraction = float(train_fraction)
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self.num_threads = num_threads
        self.lr_schedule = lr_schedule
        self._data = self._tensors()
        # The last scored splits' losses (regression: MSE; language model: cross-entropy in nats), read into the
        # metrics' extra.
        self._losses: dict[str, float | None] = {}
        #: Where :meth:`evaluate_at` keeps and finds training states (the env's factory puts it beside the cache).
        self.checkpoints = CheckpointStore()

    def settings(self) -> dict[str, Any]:
        """Every setting that changes results, plus the task's name and fingerprint."""
        return {
            "task": self.task.name,
            "task_fingerprint": self.task.fingerprint,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
            "early_stopping_patience": self.early_stopping_patience,
            "train_fraction": self.train_fraction,
            "max_seconds": self.max_seconds,
            "lr_schedule": self.lr_schedule,
            "procedure_version": PROCEDURE_VERSION,
            # Nothing on the CPU at fp32, so keys made before devices existed still match.
            **cache_settings(self.device, self.precision),
            # Only when set, so keys made before step budgets existed still match.
            **({"steps": self.steps} if self.steps is not None else {}),
            # A round's length changes what a fidelity trains, never the full budget's result: keys made before
            # step fidelities existed (10 rounds) still match.
            **({"fidelity_rounds": self.fidelity_rounds}
               if self.steps is not None and self.fidelity_rounds != 10 else {}),
        }

    def __repr__(self) -> str:
        return f"TrainingEvaluator({self.settings()})"

    def _tensors(self) -> dict[str, torch.Tensor]:
        t = self.task
        x_train, y_train = t.x_train, t.y_train
        if self.train_fraction < 1.0:
            n = max(1, int(round(self.train_fraction * len(x_train))))
            # Sorted so the subset keeps the split's order; fixed by the seed.
            keep = np.sort(np.random.default_rng(self.seed).permutation(len(x_train))[:n])
            x_train, y_train = x_train[keep], y_train[keep]
        return {
            name: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
            for name, a in (
                ("x_train", x_train),
                ("y_train", y_train),
                ("x_val", t.x_val),
                ("y_val", t.y_val),
                ("x_test", t.x_test),
                ("y_test", t.y_test),
            )
        }

    def evaluate(self, arch: Architecture) -> Metrics:
        """Build ``arch`` for the task, train it and score it.

        Never raises for a diverging network: a NaN or infinite loss stops
        training and the metrics report chance accuracy with ``diverged=True``.

        Args:
            arch: The architecture; its space builds the network.

        Returns:
            Metrics with ``extra["epochs_run"]`` (complete epochs),
            ``extra["final_train_loss"]`` (mean loss over the last epoch
            trained, partial if timed out; None if training diverged or never
            took a step) and, with early stopping, ``extra["best_epoch"]``.
        """
        metrics = self._build_and_train(arch, self._train_and_score)
        logger.debug("%s: %s", arch, metrics)
        return metrics

    def _build_and_train(self, arch: Architecture, train: Callable[[nn.Module, int, int, float], Metrics]) -> Metrics:
        """Build ``arch`` under the seed, count it, and ``train(model, params, flops, start)``; ``cost_s`` set."""
        _import_optimizer_machinery()
        start = time.perf_counter()
        threads = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            # fork_rng keeps the caller's global torch RNGs untouched while the
            # seeded initialisation below draws from them. The model is built and
            # counted on the CPU, so its initial weights are the same on every device.
            with fork_rng(self.device):
                torch.manual_seed(self.seed)
                model = arch.space.build(arch, self.task)
                params = count_params(model)
                flops = count_flops(model, self.task.input_shape)
                metrics = train(model.to(self.device), params, flops, start)
        finally:
            torch.set_num_threads(threads)
        metrics.cost_s = time.perf_counter() - start
        return metrics

    # -- fidelity: training to fewer epochs than the budget, continued from checkpoints --------------------
    def max_epochs(self) -> int | None:
        """The largest fidelity :meth:`evaluate_at` trains to: ``epochs``, or ``fidelity_rounds`` under ``steps``."""
        return self.epochs if self.steps is None else self.fidelity_rounds

    def round_steps(self, fidelity: int) -> int:
        """Under ``steps``, the optimisation steps the first ``fidelity`` rounds take (the last round may be short)."""
        return min(self.steps, fidelity * round_length(self.steps, self.fidelity_rounds))

    def checkpoint_key(self, arch: Architecture) -> str:
        """Key of ``arch``'s checkpoints: the architecture as built (not its canonical form) and every setting."""
        from nas_gym.storage.cache import cache_key

        return cache_key(arch.space.key, str(arch), self.name, self.settings())

    def evaluate_at(self, arch: Architecture, epochs: int) -> Metrics:
        """Train ``arch`` for its first ``epochs`` epochs of the full ``epochs`` budget and score it.

        Under a ``steps`` budget a fidelity counts rounds instead of epochs:
        ``epochs=e`` trains the first :meth:`round_steps` ``(e)`` steps of the
        ``steps`` (the batches the full budget would see first, in the same
        order), and the learning curve has one point per round. The rest reads
        the same with "round" for "epoch".

        The learning-rate schedule is the full budget's, so the weights after
        ``epochs`` epochs are the same whether trained now from scratch or
        continued from a checkpoint of a lower fidelity (:attr:`checkpoints`,
        the latest one at or below ``epochs``); only the extra epochs are
        trained, and ``cost_s`` is what they cost. Each call that trains
        leaves a checkpoint at ``epochs``. At ``epochs == self.epochs`` the
        accuracies equal :meth:`evaluate`'s.

        Returns:
            Metrics whose ``extra`` holds ``epochs`` (the fidelity),
            ``learning_curve`` (validation accuracy after each epoch 1..``epochs``),
            ``resumed_from_epoch`` (0 when trained from scratch), ``epochs_run``
            and ``final_train_loss``.

        Raises:
            ConfigError: ``epochs`` is not an integer in 1..:meth:`max_epochs`, or
                early stopping is on (it would pick weights from before the fidelity).
        """
        most, unit = self.max_epochs(), "epochs" if self.steps is None else "rounds of steps"
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or not 1 <= epochs <= most:
            raise ConfigError(f"TrainingEvaluator: a fidelity must be an integer in 1..{most} ({unit}), "
                              f"got {epochs!r}.")
        if self.early_stopping_patience is not None:
            raise ConfigError("TrainingEvaluator: fidelities (epochs per episode) need early_stopping_patience=None; "
                              "early stopping would report weights from before the requested epoch.")
        return self._build_and_train(
            arch, lambda model, params, flops, start: self._train_to(arch, model, int(epochs), params, flops, start)
        )

    def _train_to(self, arch: Architecture, model: nn.Module, epochs: int, params: int, flops: int,
                  start: float) -> Metrics:
        d = self._data
        optimizer, scheduler, generator, scaler = self._training_state(model)
        key = self.checkpoint_key(arch)
        found = self.checkpoints.latest(key, epochs)
        done, curve, final_train_loss = 0, [], None
        if found is not None:
            done, state = found
            model.load_state_dict(state["model"])
            if optimizer is not None:
                optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            if "scaler" in state:
                scaler.load_state_dict(state["scaler"])
            generator.set_state(state["generator"])
            curve, final_train_loss = list(state["curve"]), state["final_train_loss"]
        diverged = timed_out = False
        stream = None
        if self.steps is not None:
            # Rounds cut the full budget's stream of batches. Shuffling is the seed's alone, so the batches of the
            # rounds a checkpoint holds are drawn again and passed over, not trained.
            stream = self._batches(torch.Generator().manual_seed(self.seed))
            for _ in range(self.round_steps(done) if done else 0):
                next(stream)
        for k in range(done, epochs):
            if stream is None:
                mean_loss, diverged, timed_out, _ = self._epoch(model, optimizer, scheduler, scaler, generator, start)
            else:
                batches = itertools.islice(stream, self.round_steps(k + 1) - self.round_steps(k))
                mean_loss, diverged, timed_out, _ = self._train_batches(
                    model, optimizer, scheduler, scaler, batches, start)
            if diverged or timed_out:
                break
            final_train_loss = mean_loss if mean_loss is not None else final_train_loss
            val_acc, val_ok = self._accuracy(model, d["x_val"], d["y_val"], "val")
            if not val_ok:
                diverged = True
                break
            curve.append(val_acc)
        extra: dict[str, Any] = {"epochs": epochs, "learning_curve": curve, "resumed_from_epoch": done,
                                 "epochs_run": len(curve), "final_train_loss": final_train_loss,
                                 **({"steps": self.round_steps(epochs)} if self.steps is not None else {})}
        if not diverged:
            # The curve's last point is this model's validation score, unless a timeout cut an epoch short
            # (or it came from the checkpoint, whose validation MSE this call has not measured).
            val_acc, val_ok = (curve[-1], True) if len(curve) > done and not timed_out else self._accuracy(
                model, d["x_val"], d["y_val"], "val")
            test_acc, test_ok = self._accuracy(model, d["x_test"], d["y_test"], "test")
            diverged = not (val_ok and test_ok)
        self._task_extra(extra, diverged)
        if diverged:
            val_acc = test_acc = chance_score(self.task)
            extra["final_train_loss"] = None
        elif not timed_out and len(curve) > done:
            # Only a complete, finite state is worth continuing from.
            self.checkpoints.save(key, epochs, {
                "model": model.state_dict(), "optimizer": None if optimizer is None else optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "generator": generator.get_state(), "curve": curve, "final_train_loss": final_train_loss,
                **({"scaler": scaler.state_dict()} if scaler.is_enabled() else {}),
            })
        return Metrics(val_accuracy=val_acc, test_accuracy=test_acc, params=params, flops=flops,
                       diverged=diverged, timed_out=timed_out, extra=extra)

    def _make_optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, momentum=0.9, nesterov=True, weight_decay=self.weight_decay)

    def _training_state(self, model: nn.Module) -> tuple[Any, Any, torch.Generator, Any]:
        """Optimiser, learning-rate schedule (over the whole ``epochs`` budget), shuffling generator, grad scaler."""
        trainable = [p for p in model.parameters() if p.requires_grad]
        steps_per_epoch = math.ceil(len(self._data["x_train"]) / self.batch_size)
        optimizer = self._make_optimizer(trainable) if trainable else None
        scheduler = None
        if optimizer is not None and self.lr_schedule == "cosine":
            total = self.steps if self.steps is not None else self.epochs * steps_per_epoch
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        # On the CPU, so every device sees the same batches.
        generator = torch.Generator().manual_seed(self.seed)
        return optimizer, scheduler, generator, grad_scaler(self.device, self.precision)

    def _epoch(
        self, model: nn.Module, optimizer: Any, scheduler: Any, scaler: Any, generator: torch.Generator, start: float,
        max_steps: int | None = None,
    ) -> tuple[float | None, bool, bool, int]:
        """Train one pass over the training split, or its first ``max_steps`` batches.

        Returns:
            (mean loss or None if no step was taken, diverged, timed out, steps taken).
        """
        batches = self._batches(generator, passes=1)
        return self._train_batches(model, optimizer, scheduler, scaler,
                                   batches if max_steps is None else itertools.islice(batches, max_steps), start)

    def _batches(self, generator: torch.Generator, passes: int | None = None) -> Iterator[torch.Tensor]:
        """Index batches of shuffled passes over the training split, each pass reshuffled; endless without ``passes``.

        A pass's permutation is drawn when its first batch is asked for, so a budget that ends with a pass draws
        nothing more.
        """
        n = len(self._data["x_train"])
        for _ in itertools.count() if passes is None else range(passes):
            order = torch.randperm(n, generator=generator).to(self.device)
            for s in range(0, n, self.batch_size):
                idx = order[s : s + self.batch_size]
                # A lone trailing example would make batch norm fail on a
                # 1-element batch; it is seen again in the next pass's shuffle.
                if len(idx) == 1 and n > 1:
                    continue
                yield idx

    def _train_batches(
        self, model: nn.Module, optimizer: Any, scheduler: Any, scaler: Any, batches: Iterable[torch.Tensor],
        start: float,
    ) -> tuple[float | None, bool, bool, int]:
        """One optimisation step per batch of indices; (mean loss or None, diverged, timed out, steps taken)."""
        d = self._data
        model.train()
        loss_sum = 0.0
        seen = steps = 0
        for idx in batches:
            with autocast(self.device, self.precision):
                loss = task_loss(self.task, model(d["x_train"][idx]), d["y_train"][idx])
            if not torch.isfinite(loss):
                return None, True, False, steps
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                # The scaler is a pass-through below fp16.
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None:
                    with quiet_skipped_steps(self.precision):
                        scheduler.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            steps += 1
            if self.max_seconds is not None and time.perf_counter() - start > self.max_seconds:
                return (loss_sum / seen if seen else None), False, True, steps
        return (loss_sum / seen if seen else None), False, False, steps

    def _train_and_score(self, model: nn.Module, params: int, flops: int, start: float) -> Metrics:
        d = self._data
        optimizer, scheduler, generator, scaler = self._training_state(model)

        diverged = timed_out = False
        epochs_run = 0
        final_train_loss: float | None = None
        best_val_loss, best_state, best_epoch, bad_epochs = math.inf, None, 0, 0
        # A step budget takes as many passes as it needs; the last one stops when the budget is spent.
        steps_left = self.steps
        for epoch in itertools.count():
            if (epoch >= self.epochs) if steps_left is None else (steps_left <= 0):
                break
            mean_loss, diverged, timed_out, taken = self._epoch(
                model, optimizer, scheduler, scaler, generator, start, steps_left)
            if steps_left is not None:
                # A pass that takes no step (a training split too small for a batch) would never spend the budget.
                steps_left = steps_left - taken if taken else 0
            if diverged:
                break
            if mean_loss is not None:
                final_train_loss = mean_loss
            if timed_out:
                break
            epochs_run = epoch + 1
            if self.early_stopping_patience is not None:
                val_loss = self._loss(model, d["x_val"], d["y_val"])
                if not math.isfinite(val_loss):
                    diverged = True
                    break
                if val_loss < best_val_loss:
                    best_val_loss, best_epoch, bad_epochs = val_loss, epoch + 1, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad_epochs += 1
                    if bad_epochs >= self.early_stopping_patience:
                        break

        extra: dict[str, Any] = {"epochs_run": epochs_run, "final_train_loss": final_train_loss}
        if best_state is not None and not diverged:
            model.load_state_dict(best_state)
            extra["best_epoch"] = best_epoch
        if not diverged:
            val_acc, val_ok = self._accuracy(model, d["x_val"], d["y_val"], "val")
            test_acc, test_ok = self._accuracy(model, d["x_test"], d["y_test"], "test")
            # Weights can blow up on the last step after a finite loss.
            diverged = not (val_ok and test_ok)
        self._task_extra(extra, diverged)
        if diverged:
            chance = chance_score(self.task)
            val_acc = test_acc = chance
            extra["final_train_loss"] = None
            logger.info("Training diverged after %d epoch(s); reporting chance accuracy.", epochs_run)
        return Metrics(
            val_accuracy=val_acc,
            test_accuracy=test_acc,
            params=params,
            flops=flops,
            diverged=diverged,
            timed_out=timed_out,
            extra=extra,
        )

    @torch.no_grad()
    def _logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` in eval mode, at the training precision, as float32."""
        model.eval()
        with autocast(self.device, self.precision):
            logits = [model(x[s : s + _EVAL_BATCH]) for s in range(0, len(x), _EVAL_BATCH)]
        return torch.cat(logits).float()

    def _loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        return float(task_loss(self.task, self._logits(model, x), y))

    def _accuracy(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, split: str = "") -> tuple[float, bool]:
        """The split's score (accuracy, or R² for regression; NaN when empty) and whether the outputs were finite.

        For a regression task the split's MSE, for a language model its cross-entropy in nats, goes to
        ``self._losses[split]`` (see :mod:`nas_gym.tasks.loss`).
        """
        if len(x) == 0:
            return math.nan, True
        score, loss, finite = task_score(self.task, self._logits(model, x), y)
        if split:
            self._losses[split] = loss
        return score, finite

    def _task_extra(self, extra: dict[str, Any], diverged: bool) -> None:
        """Add a regression task's ``val_mse``/``test_mse``, a language model's ``val_bpc``/``test_bpc``.

        Bits per character are the mean cross-entropy in nats over ln 2; both are None when training diverged.
        """
        if self.task.is_regression:
            extra["val_mse"] = None if diverged else self._losses.get("val")
            extra["test_mse"] = None if diverged else self._losses.get("test")
        elif self.task.is_language_model:
            for split in ("val", "test"):
                nats = None if diverged else self._losses.get(split)
                extra[f"{split}_bpc"] = bits_per_char(nats)
