"""Devices and mixed precision of real training: refused devices, CPU results unchanged, CUDA runs."""

from __future__ import annotations

import math

import gymnasium as gym
import pytest
import torch

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ConfigError
from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.spaces import make_space
from nas_gym.tasks.base import Task, make_task
from nas_gym.utils.device import resolve_device

CUDA = torch.cuda.is_available()
MPS = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
# What one epoch on a fifth of digits costs on the CPU: a fraction of a second.
TINY = {"epochs": 1, "train_fraction": 0.2, "lr": 0.01}
ARCH = "conv3x3-16-relu|conv3x3-16-relu|identity|identity"


@pytest.fixture(scope="module")
def digits() -> Task:
    return make_task("digits")


@pytest.fixture(scope="module")
def arch():
    return make_space("layers").from_string(ARCH)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_a_missing_device_fails_at_make_with_the_reason(device):
    if CUDA if device.startswith("cuda") else MPS:
        pytest.skip(f"this machine has {device}")
    reason = r"(a build without CUDA|sees no CUDA GPU)" if device.startswith("cuda") else "no MPS backend"
    with pytest.raises(ConfigError, match=rf"TrainingEvaluator: device='{device}' was asked for, but .*{reason}"):
        gym.make("NAS-v0", evaluator_kwargs={"device": device}, cache=False)


def test_an_unknown_device_or_precision_gets_a_did_you_mean(digits):
    with pytest.raises(ConfigError, match=r"Unknown device 'cdua'\. Did you mean 'cuda'\?"):
        TrainingEvaluator(digits, device="cdua")
    with pytest.raises(ConfigError, match=r"GPU index must be a whole number"):
        TrainingEvaluator(digits, device="cuda:x")
    with pytest.raises(ConfigError, match=r"Unknown precision 'bf61'\. Did you mean 'bf16'\?"):
        TrainingEvaluator(digits, device="cpu", precision="bf61")


def test_fp16_on_the_cpu_is_refused(digits):
    with pytest.raises(ConfigError, match=r"precision='fp16' needs a GPU .* use 'bf16' or 'fp32'"):
        TrainingEvaluator(digits, device="cpu", precision="fp16")


def test_cpu_fp32_settings_are_those_from_before_devices(digits):
    plain = TrainingEvaluator(digits, device="cpu").settings()
    assert "device" not in plain and "precision" not in plain
    assert TrainingEvaluator(digits, device="cpu", precision="bf16").settings() == {**plain, "precision": "bf16"}


@pytest.mark.skipif(resolve_device("auto").type != "cpu", reason="'auto' picks an accelerator here")
def test_auto_is_the_cpu_here_with_the_same_metrics(digits, arch):
    auto, cpu = TrainingEvaluator(digits, device="auto", **TINY), TrainingEvaluator(digits, device="cpu", **TINY)
    assert auto.device == torch.device("cpu") and auto.settings() == cpu.settings()
    a, b = auto.evaluate(arch), cpu.evaluate(arch)
    a.cost_s = b.cost_s = 0.0
    assert a == b


def test_bf16_on_the_cpu_trains_to_a_finite_accuracy(digits, arch):
    m = TrainingEvaluator(digits, device="cpu", precision="bf16", **TINY).evaluate(arch)
    assert not m.diverged
    assert 0 <= m.val_accuracy <= 1 and 0 <= m.test_accuracy <= 1
    assert math.isfinite(m.extra["final_train_loss"])


@needs_cuda
def test_cuda_accuracy_is_within_a_few_points_of_the_cpu(digits, arch):
    kw = {"epochs": 3, "train_fraction": 0.5, "lr": 0.01}
    gpu = TrainingEvaluator(digits, device="cuda", **kw)
    assert gpu.settings()["device"] == "cuda"
    on_gpu, on_cpu = gpu.evaluate(arch), TrainingEvaluator(digits, device="cpu", **kw).evaluate(arch)
    assert on_gpu.params == on_cpu.params and on_gpu.flops == on_cpu.flops
    assert on_cpu.val_accuracy > 0.5  # it learns, so the comparison means something
    assert abs(on_gpu.val_accuracy - on_cpu.val_accuracy) <= 0.06
    assert abs(on_gpu.test_accuracy - on_cpu.test_accuracy) <= 0.06


@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cuda(digits, arch, precision):
    ev = TrainingEvaluator(digits, device="cuda:0", precision=precision, early_stopping_patience=1,
                           **{**TINY, "epochs": 2})
    assert ev.settings()["precision"] == precision and ev.settings()["device"] == "cuda"
    m = ev.evaluate(arch)
    assert not m.diverged
    assert 0 <= m.val_accuracy <= 1 and math.isfinite(m.extra["final_train_loss"])


@needs_cuda
def test_gym_make_trains_on_cuda(arch):
    env = gym.make("NAS-v0", evaluator_kwargs={"device": "cuda", **TINY}, cache=False)
    try:
        assert env.unwrapped.evaluator.settings()["device"] == "cuda"
    finally:
        env.close()
