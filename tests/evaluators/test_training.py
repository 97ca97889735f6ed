"""Tests of real training: accuracy, determinism, budgets, divergence and settings."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn

from nas_gym.error import ConfigError
from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.spaces import make_space
from nas_gym.spaces.base import Architecture, Decision, SearchSpace
from nas_gym.tasks.base import Task, make_task
from nas_gym.utils.counting import count_flops, count_params


class TinySpace(SearchSpace):
    """One convolution (width and norm chosen) then global pooling and a linear head."""

    name = "tiny"
    decisions = (Decision("width", ("8", "16")), Decision("norm", ("batch", "none")))

    def to_string(self, arch: Architecture) -> str:
        return "-".join(d.choices[i] for d, i in zip(self.decisions, arch.indices, strict=True))

    def from_string(self, text: str) -> Architecture:
        return self.arch([d.choices.index(c) for d, c in zip(self.decisions, text.split("-"), strict=True)])

    def build(self, arch: Architecture, task: Task) -> nn.Module:
        width, norm = arch.choice_names().values()
        dims = task.spatial_dims
        if dims == 1:
            conv, bn, pool = nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d
        else:
            conv, bn, pool = nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d
        c = int(width)
        layers = [conv(task.input_shape[0], c, 3, padding=1, bias=norm == "none")]
        if norm == "batch":
            layers.append(bn(c))
        layers += [nn.ReLU(), pool(1), nn.Flatten(), nn.Linear(c, task.num_classes)]
        return nn.Sequential(*layers)


@pytest.fixture(scope="module")
def digits() -> Task:
    return make_task("digits")


def fast(task: Task, **kw) -> TrainingEvaluator:
    """A cheap evaluator for behaviour tests (a fifth of the data, two epochs)."""
    return TrainingEvaluator(task, **{"epochs": 2, "train_fraction": 0.2, **kw})


def test_good_conv_arch_learns_digits(digits):
    space = make_space("layers")
    arch = space.from_string("conv3x3-32-relu|conv3x3-64-relu|conv3x3-64-relu|identity")
    m = TrainingEvaluator(digits).evaluate(arch)
    assert m.val_accuracy >= 0.9
    assert m.test_accuracy >= 0.85
    assert not m.diverged and not m.timed_out
    assert m.extra["epochs_run"] == 6
    assert m.params == count_params(space.build(arch, digits))
    assert m.cost_s > 0


def test_same_settings_give_identical_metrics_and_keep_global_rng(digits):
    space = make_space("layers")
    arch = space.from_string("sep_conv5x5-16-gelu|max_pool3x3|conv3x3-32-swish|identity")
    ev = fast(digits)
    state = torch.random.get_rng_state()
    a, b = ev.evaluate(arch), ev.evaluate(arch)
    assert torch.equal(state, torch.random.get_rng_state())
    a.cost_s = b.cost_s = 0.0
    assert a == b
    other = fast(digits, seed=1).evaluate(arch)
    assert other.extra["final_train_loss"] != a.extra["final_train_loss"]


def test_params_and_flops_are_counted(digits):
    space = TinySpace()
    arch = space.from_string("8-batch")
    m = fast(digits, epochs=1).evaluate(arch)
    # conv 1->8 k3 without bias, batch norm (2 x 8), linear 8->10 with bias
    assert m.params == 8 * 9 + 16 + 8 * 10 + 10
    # conv: 8x8 positions x 8 channels x 9 taps; linear: 8 x 10
    assert m.flops == 8 * 8 * 8 * 9 + 8 * 10
    assert count_flops(space.build(arch, digits), digits.input_shape) == m.flops


def test_one_dimensional_inputs_train(digits):
    signals = Task(
        "digits-as-signals",
        digits.x_train.reshape(-1, 1, 64),
        digits.y_train,
        digits.x_val.reshape(-1, 1, 64),
        digits.y_val,
        digits.x_test.reshape(-1, 1, 64),
        digits.y_test,
        num_classes=10,
        fingerprint="signals",
    )
    m = fast(signals).evaluate(TinySpace().from_string("16-batch"))
    assert 0 <= m.val_accuracy <= 1
    assert m.flops == 64 * 16 * 3 + 16 * 10


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("lr_schedule", ["cosine", "constant"])
def test_every_optimizer_and_schedule_trains(digits, optimizer, lr_schedule):
    m = fast(digits, optimizer=optimizer, lr_schedule=lr_schedule, lr=0.01).evaluate(TinySpace().from_string("8-batch"))
    assert not m.diverged
    assert math.isfinite(m.extra["final_train_loss"])


def test_huge_learning_rate_diverges_to_chance_without_crashing(digits):
    # lr=1e6 is not enough: dead ReLUs keep the loss finite (about 1e6), so
    # the weights must overflow float32 for a real NaN.
    m = fast(digits, optimizer="sgd", lr=1e20).evaluate(TinySpace().from_string("16-none"))
    assert m.diverged
    assert m.val_accuracy == m.test_accuracy == pytest.approx(0.1)
    assert m.extra["final_train_loss"] is None


def test_huge_inputs_diverge_to_chance(digits):
    huge = Task(
        "huge",
        digits.x_train * 3e38,
        digits.y_train,
        digits.x_val,
        digits.y_val,
        digits.x_test,
        digits.y_test,
        num_classes=10,
        fingerprint="huge",
    )
    arch = make_space("layers").from_string("conv3x3-16-relu|identity|identity|identity")
    m = fast(huge).evaluate(arch)
    assert m.diverged
    assert m.val_accuracy == pytest.approx(0.1)


def test_time_limit_stops_training_and_still_scores(digits):
    m = TrainingEvaluator(digits, max_seconds=1e-6).evaluate(TinySpace().from_string("8-batch"))
    assert m.timed_out
    assert m.extra["epochs_run"] == 0
    assert 0 <= m.val_accuracy <= 1 and 0 <= m.test_accuracy <= 1


def test_early_stopping_reports_the_best_epoch(digits):
    arch = TinySpace().from_string("16-batch")
    kw = {"train_fraction": 0.1, "lr": 0.05, "lr_schedule": "constant"}
    stopped = TrainingEvaluator(digits, epochs=12, early_stopping_patience=1, **kw).evaluate(arch)
    best = stopped.extra["best_epoch"]
    assert 1 <= best <= stopped.extra["epochs_run"] <= 12
    # With a constant rate, training for exactly ``best`` epochs reaches the restored weights.
    plain = TrainingEvaluator(digits, epochs=best, **kw).evaluate(arch)
    assert stopped.val_accuracy == plain.val_accuracy
    assert stopped.test_accuracy == plain.test_accuracy


def test_train_fraction_uses_a_fixed_subset(digits):
    arch = TinySpace().from_string("8-batch")
    full = fast(digits, train_fraction=1.0, epochs=1).evaluate(arch)
    part = fast(digits, train_fraction=0.3, epochs=1).evaluate(arch)
    assert part.extra["final_train_loss"] != full.extra["final_train_loss"]
    again = fast(digits, train_fraction=0.3, epochs=1).evaluate(arch)
    assert again.val_accuracy == part.val_accuracy


def test_thread_count_is_restored(digits):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fast(digits, epochs=1, num_threads=1).evaluate(TinySpace().from_string("8-batch"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_settings_name_everything_that_changes_results(digits):
    ev = TrainingEvaluator(digits, lr=1, num_threads=2)
    s = ev.settings()
    assert s["task"] == "digits" and s["task_fingerprint"] == digits.fingerprint
    for key in ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "seed", "early_stopping_patience",
                "train_fraction", "max_seconds", "lr_schedule"):
        assert key in s
    assert "num_threads" not in s
    assert s["lr"] == 1.0 and isinstance(s["lr"], float)
    json.dumps(s)
    assert TrainingEvaluator("digits").settings() == TrainingEvaluator(digits).settings()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1"),
        ({"lr": 0}, r"lr must be a finite number > 0"),
        ({"train_fraction": 0}, r"train_fraction must be a number in \(0, 1\]"),
        ({"train_fraction": 1.5}, r"train_fraction must be a number in \(0, 1\], got 1.5"),
        ({"max_seconds": -1}, r"max_seconds must be None or a number > 0"),
        ({"early_stopping_patience": 0}, r"early_stopping_patience"),
        ({"optimizer": "adm"}, r"Unknown optimizer 'adm'. Did you mean 'adam'\?"),
        ({"lr_schedule": "cos"}, r"Unknown lr schedule 'cos'"),
    ],
)
def test_bad_settings_raise_config_error(digits, kw, match):
    with pytest.raises(ConfigError, match=match):
        TrainingEvaluator(digits, **kw)
