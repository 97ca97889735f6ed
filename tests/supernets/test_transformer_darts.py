"""DARTS on the transformer supernet: one-hot alphas are the single path, the derived network, a search on NAS-LM-v0."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nas_gym.baselines.darts import ranked_architectures
from nas_gym.error import ConfigError
from nas_gym.latency import OpTableLatency
from nas_gym.search.searcher import run_search
from nas_gym.spaces.transformer import TransformerSpace
from nas_gym.supernets import make_supernet
from nas_gym.tasks.base import make_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: A small space with every kind of choice (no attention, 1 and 2 heads; ratios 1 and 2; the three activations).
SMALL = {"depths": [1, 2], "widths": [32, 64], "heads": [0, 1, 2], "ffn_ratios": [1, 2]}


@pytest.fixture(scope="module")
def task():
    return make_task("pydoc_topics")


def _relaxed(space, task, **settings):
    net = make_supernet(space, task, torch.Generator().manual_seed(0))
    with torch.no_grad():  # away from the initialisation, so that a wrong slice or weight shows (zero biases hide some)
        for p in net.weight_parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return net.relax(torch.Generator().manual_seed(0), **settings)


def _one_hot(net, arch) -> None:
    with torch.no_grad():
        for k, a in zip(net.searched, net.alphas, strict=True):
            a.fill_(-50.0)
            a[arch.indices[k]] = 50.0


def _at_fixed(net, arch):
    """``arch`` with the relaxation's fixed width and depth (a valid architecture of the space)."""
    idx = list(arch.indices)
    for k, c in net.fixed.items():
        idx[k] = c
    return net.space.arch(net.space.repair(idx))


@pytest.mark.parametrize("settings", [{}, {"width": 32, "depth": 2}])
def test_one_hot_alphas_compute_the_single_path(task, settings):
    space = TransformerSpace()
    net = _relaxed(space, task, **settings).eval()
    assert (net.relaxed_width, net.relaxed_depth) == ((settings.get("width", 64), settings.get("depth", 4)))
    rng = np.random.default_rng(0)
    depth = net.relaxed_depth
    archs = [_at_fixed(net, space.sample(rng)) for _ in range(6)]
    archs.append(_at_fixed(net, space.from_string("w64|" + "|".join(
        ["h4-r2-swiglu", "noattn-r4-gelu", "h1-r1-relu", "h2-r4-swiglu"][:depth]))))
    x = torch.from_numpy(task.x_val[:3, :40])
    for arch in archs:
        assert space.depth(arch) == depth and space.width(arch) == net.relaxed_width
        _one_hot(net, arch)
        with torch.no_grad():
            torch.testing.assert_close(net(x), net(x, path=arch), rtol=1e-5, atol=1e-5, msg=str(arch))


def test_the_mixture_is_differentiable_in_every_alpha(task):
    net = _relaxed(TransformerSpace(**SMALL), task)
    x = torch.from_numpy(task.x_train[:2, :16])
    loss = torch.nn.functional.cross_entropy(net(x).reshape(-1, task.num_classes), torch.from_numpy(
        task.y_train[:2, :16]).reshape(-1))
    grads = torch.autograd.grad(loss, list(net.alphas))
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_the_derived_architecture_is_the_argmax_at_the_fixed_width_and_depth(task):
    space = TransformerSpace()
    net = _relaxed(space, task, width=96, depth=3)
    with torch.no_grad():
        for a in net.alphas:
            a.normal_(generator=torch.Generator().manual_seed(a.numel()))
    derived = next(ranked_architectures(net, max_skip=None))
    assert (space.depth(derived), space.width(derived)) == (3, 96)
    for k, a in zip(net.searched, net.alphas, strict=True):
        assert derived.indices[k] == int(a.argmax())
    assert space.from_string(str(derived)) == derived and str(space.from_string(str(derived))) == str(derived)
    # No attention is the skip choice that max_skip caps.
    capped = next(ranked_architectures(net, max_skip=0))
    assert all(layer["heads"] > 0 for layer in space.layers(capped))


def test_expected_latency_of_one_hot_alphas_is_the_op_table_latency(task, tmp_path):
    space = TransformerSpace(**SMALL)
    net = _relaxed(space, task)
    latency = OpTableLatency(space, task, cache_dir=tmp_path, warmup=0, repeats=1)
    rng = np.random.default_rng(1)
    for _ in range(3):
        arch = _at_fixed(net, space.sample(rng))
        _one_hot(net, arch)
        assert float(net.expected_latency_ms(latency).detach()) == pytest.approx(latency.latency_ms(arch), rel=1e-6)


def test_relax_refuses_a_width_or_depth_of_another_space_and_single_paths_have_no_expectation(task):
    space = TransformerSpace(**SMALL)
    net = make_supernet(space, task, torch.Generator())
    with pytest.raises(ConfigError, match="no alphas"):
        net.expected_latency_ms(None)
    with pytest.raises(ConfigError, match=r"fixed width, one of the space's: 32, 64; got width=48"):
        net.relax(torch.Generator(), width=48)
    with pytest.raises(ConfigError, match=r"fixed depth, one of the space's: 1, 2; got depth=4"):
        net.relax(torch.Generator(), depth=4)


def test_a_tiny_darts_search_on_nas_lm_records_the_derived_architecture(tmp_path):
    env_kwargs = {"cache": False, "space_kwargs": SMALL,
                  "evaluator_kwargs": {"optimizer": "adamw", "steps": 2, "batch_size": 4},
                  "latency_kwargs": {"warmup": 1, "repeats": 2}}
    # Two weight steps and two arch steps: a weight half of 1% of the training windows.
    agent_kwargs = {"epochs": 1, "train_portion": 0.01, "batch_size": 32, "width": 32, "depth": 2}
    run_search("darts", "NAS-LM-v0", env_kwargs, budget=2, agent_kwargs=agent_kwargs, out_dir=tmp_path)
    record = json.loads((tmp_path / "darts.json").read_text())
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert record["fixed"] == {"model/layers": "2", "model/width": "32"}
    assert record["searched"] == [f"layer{i}/{f}" for i in range(2) for f in ("heads", "ffn", "activation")]
    assert [h["arch"] for h in history] == [e["arch"] for e in record["evaluated"]]
    assert history[0]["arch"] == record["derived"] and len(history) == 2
    space = TransformerSpace(**SMALL)
    derived = space.from_string(record["derived"])
    assert (space.depth(derived), space.width(derived)) == (2, 32)
    epoch = record["epochs"][0]
    # Next-token accuracy over every position of the arch batches, and the env's latency term on by default.
    assert 0 <= epoch["arch_accuracy"] <= 1 and np.isfinite(epoch["train_loss"])
    assert record["latency"]["weight"] > 0 and epoch["expected_latency_ms"] > 0
    assert all(h["val_bpc"] > 0 for h in history)


def test_darts_refuses_a_width_the_space_lacks_before_training(tmp_path):
    with pytest.raises(ConfigError, match=r"fixed width, one of the space's: 32, 64, 96, 128; got width=48"):
        run_search("darts", "NAS-LM-v0", {"cache": False, "latency": "none", "latency_weight": 0}, budget=1,
                   agent_kwargs={"width": 48}, out_dir=tmp_path)
