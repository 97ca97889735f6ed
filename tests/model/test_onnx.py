"""Tests of ONNX export (nas_gym.model.onnx) and the onnxruntime latency model."""

from __future__ import annotations

import json
import math
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import nas_gym  # noqa: E402, F401  (registers the envs)
from nas_gym.cli import main  # noqa: E402
from nas_gym.error import ConfigError, DataError, MissingDependencyError  # noqa: E402
from nas_gym.latency import LATENCY_MODELS, MeasuredLatency, OnnxRuntimeLatency  # noqa: E402
from nas_gym.model.onnx import check_onnx, export_onnx, onnx_session, require_onnx  # noqa: E402
from nas_gym.search.pools import play  # noqa: E402
from nas_gym.spaces import LayersSpace, NB201Space  # noqa: E402
from nas_gym.storage.cache import EvalCache  # noqa: E402
from nas_gym.tasks.base import make_task  # noqa: E402

# Every latency figure here comes from as few timed calls as a figure can.
QUICK = {"warmup": 0, "repeats": 2}
# One short epoch on a slice of digits: the latency is what is under test.
TINY_NAS = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1, "train_fraction": 0.05}}


@pytest.fixture(scope="module")
def task():
    return make_task("digits")


@pytest.fixture(scope="module")
def test_batch(task):
    return torch.from_numpy(task.x_test)


def build(space, arch, task):
    torch.manual_seed(0)
    return space.build(arch, task)


@pytest.fixture(scope="module")
def exported(task, tmp_path_factory):
    """A layers network (in training mode, as built) and its ONNX file."""
    space = LayersSpace()
    model = build(space, space.from_string("conv3x3-16-relu|sep_conv5x5-32-gelu|max_pool3x3|dil_conv3x3-32-swish"),
                  task)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    path = export_onnx(model, task.input_shape, tmp_path_factory.mktemp("onnx") / "layers.onnx")
    return model, state, path


def test_export_and_check_a_layers_network(exported, test_batch):
    model, state, path = exported
    assert path.is_file() and path.suffix == ".onnx"
    assert check_onnx(path, model, test_batch) < 1e-4
    # The caller's model keeps its mode, device and weights (BatchNorm statistics included).
    assert model.training
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    (inp,), (out,) = onnx_session(path).get_inputs(), onnx_session(path).get_outputs()
    assert (inp.name, out.name) == ("input", "logits")
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [1, 8, 8]  # the batch axis is dynamic


def test_export_and_check_an_nb201_network(task, test_batch, tmp_path):
    space = NB201Space()
    # A "none" edge, pooling and both convolutions: every kind of edge the cells have.
    arch = space.from_string("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    model = build(space, arch, task)
    path = export_onnx(model, task.input_shape, tmp_path / "nb201.onnx")
    assert check_onnx(path, model, test_batch[:64]) < 1e-4


def test_check_onnx_refuses_another_model(exported, task, test_batch):
    model, _, path = exported
    other = build(LayersSpace(), LayersSpace().from_string("conv3x3-16-relu|identity|identity|identity"), task)
    with pytest.raises(DataError, match=r"max absolute difference [\d.e+-]+ over 8 inputs, atol 0\.0001"):
        check_onnx(path, other, test_batch[:8])
    with pytest.raises(ConfigError, match="x must be a non-empty batch"):
        check_onnx(path, model, test_batch[:0])


def test_export_refuses_a_bad_input_shape(exported, tmp_path):
    with pytest.raises(ConfigError, match=r"input_shape must be the shape of one input .* got \(0, 8\)"):
        export_onnx(exported[0], (0, 8), tmp_path / "bad.onnx")


def test_onnxruntime_latency_in_the_env(tmp_path):
    env = gym.make("NAS-v0", latency="onnxruntime", latency_kwargs=QUICK, cache=str(tmp_path / "cache.sqlite"),
                   **TINY_NAS)
    model = env.unwrapped.latency_model
    assert isinstance(model, OnnxRuntimeLatency) and env.unwrapped.parts.latency == "onnxruntime"
    settings = model.settings()
    assert json.loads(json.dumps(settings)) == settings
    assert settings["kind"] == "onnxruntime" and settings["opset"] == 17
    assert settings["host"]["onnxruntime"] == require_onnx()[1].__version__
    arch = env.unwrapped.space.sample(np.random.default_rng(0))
    rng_state = torch.get_rng_state()
    info = play(env, arch.indices)
    assert math.isfinite(info["latency_ms"]) and info["latency_ms"] > 0
    # The figure is cached under its own key (not the torch timing's) and read back by a fresh model.
    cache = env.unwrapped.cache
    assert cache.get(model.cache_key(arch))["latency_ms"] == info["latency_ms"]
    assert MeasuredLatency(model.task, cache=None).cache_key(arch) != model.cache_key(arch)
    again = OnnxRuntimeLatency(model.task, cache=EvalCache(cache.path), **QUICK)
    assert again.latency_ms(arch) == info["latency_ms"]
    env.close()
    # Only training drew from torch's global RNG, and it forks it too.
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_onnxruntime_latency_kwargs_are_checked():
    parts = gym.make("NAS-v0", cache=False).unwrapped.parts
    with pytest.raises(ConfigError, match=r"latency_kwargs has no argument 'cache' \(the env sets it\)"):
        LATENCY_MODELS.make("onnxruntime", {"cache": None}, parts, what="latency_kwargs")
    with pytest.raises(ConfigError, match="num_threads must be an integer >= 1, got 0"):
        LATENCY_MODELS.make("onnxruntime", {"num_threads": 0}, parts)


def test_nas_gym_search_takes_onnxruntime_latency(tmp_path, capsys):
    env_kwargs = json.dumps({"latency": "onnxruntime", "latency_kwargs": QUICK, "cache": False, **TINY_NAS})
    code = main(["search", "--agent", "random", "--env", "NAS-v0", "--env-kwargs", env_kwargs, "--budget", "1",
                 "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0, capsys.readouterr()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best"]["latency_ms"] > 0


def test_a_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'nas-gym\[onnx\]'"):
        require_onnx()
    with pytest.raises(MissingDependencyError, match=r"pip install 'nas-gym\[onnx\]'"):
        gym.make("NAS-v0", latency="onnxruntime", cache=False)
