"""DARTS devices and mixed precision: refused settings, bf16 on the CPU, a tiny search on CUDA."""

from __future__ import annotations

import math

import pytest
import torch

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.darts import DARTS
from nas_gym.error import ConfigError
from nas_gym.search.run import SearchRun

CUDA = torch.cuda.is_available()
MPS = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
# A one-layer space, one epoch of a 16-wide supernet, and a tiny evaluation of the derived architecture.
ENV = {"space_kwargs": {"num_layers": 1}, "evaluator_kwargs": {"epochs": 1, "train_fraction": 0.1}, "cache": False}
FAST = {"epochs": 1, "batch_size": 128, "filters": 16}


def _search(**agent_kwargs) -> tuple[DARTS, SearchRun]:
    searcher = DARTS(**FAST, **agent_kwargs)
    with SearchRun("NAS-v0", ENV, agent="darts", seed=0, budget=1) as run:
        searcher.search(run)
    return searcher, run


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_a_missing_device_is_a_config_error_with_the_reason(device):
    if CUDA if device.startswith("cuda") else MPS:
        pytest.skip(f"this machine has {device}")
    reason = r"(a build without CUDA|sees no CUDA GPU)" if device.startswith("cuda") else "no MPS backend"
    with pytest.raises(ConfigError, match=rf"DARTS: device='{device}' was asked for, but .*{reason}"):
        DARTS(device=device)


def test_bad_device_and_precision_settings_are_config_errors():
    with pytest.raises(ConfigError, match=r"Unknown device 'cdua'\. Did you mean 'cuda'\?"):
        DARTS(device="cdua")
    with pytest.raises(ConfigError, match=r"DARTS device must be a string"):
        DARTS(device=0)
    with pytest.raises(ConfigError, match=r"DARTS precision must be one of 'fp32', 'bf16', 'fp16'"):
        DARTS(precision="fp8")
    with pytest.raises(ConfigError, match=r"DARTS: precision='fp16' needs a GPU"):
        DARTS(device="cpu", precision="fp16")


def test_bf16_search_on_the_cpu_runs_and_is_scored_by_the_env():
    searcher, run = _search(device="cpu", precision="bf16")
    assert searcher.result["device"] == "cpu" and searcher.result["precision"] == "bf16"
    assert math.isfinite(searcher.result["epochs"][0]["train_loss"])
    assert [h["arch"] for h in run.history] == [searcher.result["derived"]]
    assert searcher.hparams()["device"] == "cpu" and searcher.hparams()["precision"] == "bf16"


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_a_tiny_search_runs_on_cuda(precision):
    searcher, run = _search(device="cuda", precision=precision)
    assert searcher.result["device"].startswith("cuda")
    assert searcher.supernet is not None and searcher.supernet.device.type == "cuda"
    assert math.isfinite(searcher.result["epochs"][0]["train_loss"])
    assert len(run.history) == 1


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_second_order_takes_bf16_on_cuda_but_not_fp16():
    with pytest.raises(ConfigError, match=r"order=2 cannot take precision='fp16'"):
        DARTS(order=2, device="cuda", precision="fp16")
    searcher, _ = _search(device="cuda", precision="bf16", order=2)
    assert math.isfinite(searcher.result["epochs"][0]["arch_loss"])
