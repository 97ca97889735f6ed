"""The loss a network trains on and the score it is judged by, for each kind of task.

Classification trains on cross-entropy and is scored by accuracy. Regression
trains on the mean squared error and is scored by R² = 1 - MSE / Var(y) on
the split being scored, clipped below at 0. R² is accuracy-like on purpose:
1 is perfect and 0 is no better than predicting the split's mean (the
counterpart of chance accuracy), so the rewards' latency penalties, hinge
targets and plots keep the scale they have for accuracies. The MSE itself is
reported beside the score (``val_mse``/``test_mse``), in the units of the
task's (standardised) targets.

A language-modelling task (:mod:`nas_gym.tasks.text`) trains on the
cross-entropy of the next token at every position of a window and is scored
by next-token accuracy over every position, so rewards read it as they read
any accuracy; its cross-entropy in bits per character (nats / ln 2) is
reported beside it (``val_bpc``/``test_bpc``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nas_gym.tasks.base import Task


def task_loss(task: Task, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Training loss of network outputs ``out`` against targets ``y``: cross-entropy, or MSE for regression."""
    if task.is_regression:
        return F.mse_loss(out.float().squeeze(-1), y)
    if task.is_language_model:
        # Logits (N, L, V) against next tokens (N, L): every position is one prediction.
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    return F.cross_entropy(out, y)


def chance_score(task: Task) -> float:
    """The score of a network that learnt nothing: ``1 / num_classes``, or 0 (R²) for regression."""
    return 0.0 if task.is_regression else 1.0 / task.num_classes


def task_score(task: Task, out: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None, bool]:
    """Score outputs ``out`` of a whole split against its targets ``y``.

    Returns:
        ``(score, loss, finite)``: accuracy (classification; next-token
        accuracy over every position for a language model) or R² clipped at 0
        (regression; NaN for an empty split); the loss reported beside the
        score -- the MSE for regression, the mean cross-entropy in nats for a
        language model (None when an output is not finite), None for
        classification; whether every output was finite.
    """
    finite = bool(torch.isfinite(out).all())
    if len(y) == 0:
        return math.nan, (None if task.kind == "classification" else math.nan), True
    if task.is_language_model:
        flat, targets = out.float().reshape(-1, out.shape[-1]), y.reshape(-1)
        accuracy = int((flat.argmax(1) == targets).sum()) / len(targets)
        return accuracy, (float(F.cross_entropy(flat, targets)) if finite else None), finite
    if not task.is_regression:
        # A count over the length, not a float64 mean: MPS has no float64 (on the CPU the two are equal).
        return int((out.argmax(1) == y).sum()) / len(y), None, finite
    pred, y = out.float().squeeze(-1), y.float()
    mse = float(((pred - y) ** 2).mean())
    var = float(((y - y.mean()) ** 2).mean())
    if not finite or not math.isfinite(mse):
        return 0.0, None, False
    # A constant target (var 0) is scored perfect only when predicted exactly.
    r2 = 1.0 - mse / var if var > 0 else float(mse == 0.0)
    return max(0.0, r2), mse, True


def bits_per_char(nats: float | None) -> float | None:
    """A language model's cross-entropy in nats as bits per character (``nats / ln 2``); None for None or non-finite.

    >>> round(bits_per_char(math.log(4)), 6)
    2.0
    >>> bits_per_char(float("nan")) is None
    True
    """
    return None if nats is None or not math.isfinite(nats) else nats / math.log(2)
