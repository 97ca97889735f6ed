"""Train one network fully: the schedule a found architecture gets after the search.

The search scores candidates with a short, cheap budget
(:class:`~nas_gym.evaluators.training.TrainingEvaluator`: a few epochs, no
augmentation). :func:`fit` is the longer schedule a chosen network is then
trained with: SGD with Nesterov momentum (or Adam/AdamW), linear warm-up then
cosine decay per step, decoupled weight decay, label smoothing, random
translations on image tasks, optional gradient clipping, early stopping on
validation accuracy, the best-validation weights kept, a progress bar and
TensorBoard scalars.

A language model (``task.is_language_model``) trains the same way on the
cross-entropy of the next character at every position of a window, and is
scored by next-character accuracy over every position, with its
cross-entropy in bits per character (nats / ln 2) beside it (``val_bpc``,
``test_bpc``), as the search's evaluator reports them. Its settings left at
None take a language model's defaults (:data:`~nas_gym.model.train_config.TASK_DEFAULTS`).

It checkpoints after every epoch (model, optimizer, schedule, gradient
scaler, shuffling generator, best weights and the curve so far, written
atomically and read back with ``torch.load(weights_only=True)``), so a killed
run started again with the same settings continues after the last finished
epoch and, on the CPU, ends with exactly the weights an uninterrupted run
would have.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nas_gym.error import ConfigError
from nas_gym.model.train_config import OPTIMIZERS, TrainConfig
from nas_gym.tasks.base import Task
from nas_gym.tasks.loss import bits_per_char
from nas_gym.utils.device import autocast, grad_scaler, resolve_device

__all__ = ["OPTIMIZERS", "FitResult", "TrainConfig", "fit"]

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
# Bounds memory only: validation and test splits are scored in chunks of this many.
_EVAL_BATCH = 2048


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` measured.

    Attributes:
        val_accuracy: Validation accuracy of the kept (best-validation) weights.
        test_accuracy: Test accuracy of the kept weights.
        best_epoch: The epoch (1-based) whose weights were kept.
        epochs_run: Epochs trained in all (across resumes).
        stopped_early: Whether early stopping ended training before ``epochs``.
        curve: One dict per epoch: epoch, train_loss, val_loss, val_accuracy, lr (and a language model's
            val_bpc).
        seconds: Training time of this call (a resumed run counts only its own part).
        resumed_from: Epochs already done when this call started (0 for a fresh run).
        val_bpc: A language model's validation cross-entropy in bits per character; None for other tasks.
        test_bpc: Its test cross-entropy in bits per character; None for other tasks.
    """

    val_accuracy: float
    test_accuracy: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    curve: list[dict[str, float]]
    seconds: float
    resumed_from: int = 0
    val_bpc: float | None = None
    test_bpc: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The result as plain data (without the bits per character of a task that has none)."""
        data = dataclasses.asdict(self)
        for key in ("val_bpc", "test_bpc"):
            if data[key] is None:
                del data[key]
        return data


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up from 0.1 to 1, then cosine decay to 0.

    >>> [round(lr_factor(s, 10, 2), 3) for s in (0, 1, 2, 6, 10)]
    [0.1, 0.55, 1.0, 0.5, 0.0]
    """
    if step < warmup_steps:
        return 0.1 + 0.9 * step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    return 0.5 * (1 + math.cos(math.pi * min(step - warmup_steps, span) / span))


def translate(x: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
    """Shift each image of ``x`` (N, C, H, W) by its own random offset of up to ``max_shift`` pixels, zero-filled."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
             precision: str = "fp32") -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on ``x``, ``y`` (NaN, NaN for an empty split).

    A language model's logits ``(N, L, V)`` are scored against targets ``(N, L)`` at every position.
    """
    if len(x) == 0:
        return math.nan, math.nan
    model.eval()
    chunks = []
    with autocast(device, precision):
        for s in range(0, len(x), _EVAL_BATCH):
            chunks.append(model(x[s : s + _EVAL_BATCH].to(device)).float())
    logits = torch.cat(chunks)
    logits = logits.reshape(-1, logits.shape[-1])  # a language model's positions are predictions too
    y = y.to(device).reshape(-1)
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).double().mean())


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill during the write leaves the previous checkpoint whole


def _to_cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def fit(
    model: nn.Module,
    task: Task,
    config: TrainConfig,
    *,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    desc: str = "train",
) -> FitResult:
    """Train ``model`` on ``task`` with ``config``, in place.

    Args:
        model: The network, with the weights to start from (fresh, or loaded for fine-tuning).
        task: Its data; the model is scored on the validation split every epoch and on the test split at the end.
        config: The schedule; fields left at None take the task's defaults (:meth:`TrainConfig.for_task`).
        checkpoint_dir: Folder of ``checkpoint.pt``, written after every epoch; one already there from the
            same ``config`` is resumed (a different ``config`` is a ConfigError). None: no checkpoints.
        log_dir: TensorBoard folder (``train/loss``, ``val/loss``, ``val/accuracy``, ``train/lr`` and, for a
            language model, ``val/bpc`` per epoch).
        progress: Show a progress bar over epochs.
        desc: The bar's label.

    Returns:
        The result; afterwards ``model`` is on the CPU, in eval mode, with the best-validation weights.

    Raises:
        ConfigError: A checkpoint from other settings, a device that is not there, or a regression task.
    """
    if task.is_regression:
        raise ConfigError(f"Full training trains classifiers (cross-entropy, accuracy); task {task.name!r} is a "
                          "regression task, which it does not train yet.")
    cfg = config.for_task(task.kind)
    device = resolve_device(cfg.device)
    threads = torch.get_num_threads()
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    try:
        return _fit(model, task, cfg, device, checkpoint_dir, log_dir, progress, desc)
    finally:
        torch.set_num_threads(threads)


def _fit(model: nn.Module, task: Task, cfg: TrainConfig, device: torch.device,
         checkpoint_dir: str | os.PathLike[str] | None, log_dir: str | os.PathLike[str] | None,
         progress: bool, desc: str) -> FitResult:
    start = time.perf_counter()
    data = {k: torch.from_numpy(np.ascontiguousarray(getattr(task, k)))
            for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    x_train, y_train = data["x_train"].to(device), data["y_train"].to(device)
    n = len(x_train)
    if n < 2:
        raise ConfigError(f"Task {task.name!r} has {n} training example(s); full training needs at least 2.")
    model.to(device)
    optimizer = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    warmup = cfg.warmup_epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warmup))
    scaler = grad_scaler(device, cfg.precision)
    generator = torch.Generator().manual_seed(cfg.seed)
    image = task.spatial_dims == 2 and cfg.augment
    max_shift = max(1, min(task.input_shape[1:]) // 8) if image else 0

    settings = json.dumps(cfg.to_json(), sort_keys=True)
    curve: list[dict[str, float]] = []
    best_val, best_epoch, bad_epochs, best_state = -math.inf, 0, 0, None
    done = 0
    ckpt = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir is not None else None
    if ckpt is not None and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if state["settings"] != settings:
            raise ConfigError(
                f"{ckpt} was written by training with other settings ({state['settings']}); this run has "
                f"{settings}. Use another output folder, or delete the checkpoint to start over."
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        best_state, best_val = state["best_state"], state["best_val"]
        best_epoch, bad_epochs, done = state["best_epoch"], state["bad_epochs"], state["epoch"]
        curve = json.loads(state["curve"])
        logger.info("Resuming %s from the checkpoint after epoch %d.", desc, done)
    resumed_from = done
    stopped = bool(curve) and curve[-1].get("stopped", False)

    writer = None
    if log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(log_dir), purge_step=done + 1)  # drops points of an unfinished epoch
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, initial=done, desc=desc, unit="epoch")
    try:
        epoch = done
        while epoch < cfg.epochs and not stopped:
            model.train()
            order = torch.randperm(n, generator=generator)
            loss_sum = 0.0
            for s in range(0, n, cfg.batch_size):
                idx = order[s : s + cfg.batch_size]
                if len(idx) == 1:  # batch norm cannot train on one example; it comes back next epoch
                    continue
                xb, yb = x_train[idx.to(device)], y_train[idx.to(device)]
                if image:
                    xb = translate(xb, generator, max_shift)
                with autocast(device, cfg.precision):
                    out = model(xb).float()
                    # A language model's (N, L, V) logits: every position predicts its next character.
                    loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), yb.reshape(-1),
                                           label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.clips:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the fp16 loss-scaled ones
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                loss_sum += float(loss.detach()) * len(idx)
            epoch += 1
            val_loss, val_acc = evaluate(model, data["x_val"], data["y_val"], device, cfg.precision)
            row = {"epoch": epoch, "train_loss": loss_sum / n, "val_loss": val_loss, "val_accuracy": val_acc,
                   "lr": optimizer.param_groups[0]["lr"]}
            if task.is_language_model:
                row["val_bpc"] = bits_per_char(val_loss)
            if val_acc > best_val:
                best_val, best_epoch, bad_epochs = val_acc, epoch, 0
                best_state = _to_cpu(model.state_dict())
            else:
                bad_epochs += 1
            if not math.isfinite(row["train_loss"]):
                row["stopped"] = stopped = True
                logger.warning("%s: the training loss is not finite at epoch %d; keeping epoch %d's weights.",
                               desc, epoch, best_epoch)
            elif cfg.patience is not None and bad_epochs >= cfg.patience and epoch < cfg.epochs:
                row["stopped"] = stopped = True
            curve.append(row)
            if writer is not None:
                for tag, key in (("train/loss", "train_loss"), ("val/loss", "val_loss"),
                                 ("val/accuracy", "val_accuracy"), ("train/lr", "lr"), ("val/bpc", "val_bpc")):
                    if key in row:
                        writer.add_scalar(tag, row[key], epoch)
                writer.flush()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(val_acc=f"{val_acc:.4f}", best=f"{best_val:.4f}@{best_epoch}",
                                **({"val_bpc": f"{row['val_bpc']:.3f}"} if "val_bpc" in row else {}))
            if ckpt is not None:
                _save_checkpoint(ckpt, {
                    "settings": settings, "epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "scaler": scaler.state_dict(), "generator": generator.get_state(),
                    "best_state": best_state, "best_val": best_val, "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs, "curve": json.dumps(curve),
                })
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu").eval()
    cpu = torch.device("cpu")
    val_loss, val_acc = evaluate(model, data["x_val"], data["y_val"], cpu)
    test_loss, test_acc = evaluate(model, data["x_test"], data["y_test"], cpu)
    bpc = {"val_bpc": bits_per_char(val_loss), "test_bpc": bits_per_char(test_loss)} if task.is_language_model else {}
    return FitResult(val_accuracy=val_acc, test_accuracy=test_acc, best_epoch=best_epoch, epochs_run=len(curve),
                     stopped_early=stopped, curve=curve, seconds=time.perf_counter() - start,
                     resumed_from=resumed_from, **bpc)
