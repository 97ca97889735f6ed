"""The transformer supernet: leading slices that are the stand-alone networks, the sandwich rule, seeded pretraining."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import nas_gym
from nas_gym.error import ConfigError
from nas_gym.evaluators.supernet import SupernetEvaluator
from nas_gym.spaces.transformer import TransformerSpace
from nas_gym.supernets import TransformerSupernet, make_supernet
from nas_gym.tasks.base import make_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"mode": "pretrained", "pretrain_steps": 3, "batch_size": 4}


@pytest.fixture(scope="module")
def task():
    return make_task("pydoc_topics")


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_a_path_computes_what_the_stand_alone_network_computes_with_the_sliced_weights(task, tie_embeddings):
    space = TransformerSpace(tie_embeddings=tie_embeddings)
    net = make_supernet(space, task, torch.Generator().manual_seed(0))
    assert isinstance(net, TransformerSupernet)
    with torch.no_grad():  # away from the initialisation, so that a wrong slice shows (zero biases hide some)
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    net.eval()
    rng = np.random.default_rng(0)
    archs = [*net.sandwich_paths(rng)[:2], *(space.sample(rng) for _ in range(10)),
             space.from_string("w96|h4-r2-swiglu|noattn-r4-gelu|h1-r1-relu")]
    x = torch.from_numpy(task.x_val[:3, :40])  # a window shorter than the context, as generation sees
    for arch in archs:
        alone = space.build(arch, task)
        alone.load_state_dict(net.subnet_state_dict(arch))  # strict: every stand-alone weight has its slice
        alone.eval()
        with torch.no_grad():
            torch.testing.assert_close(net(x, path=arch), alone(x), rtol=1e-5, atol=1e-5, msg=str(arch))


def test_the_sandwich_is_the_largest_the_smallest_and_a_random_network(task):
    space = TransformerSpace()
    net = make_supernet(space, task, torch.Generator())
    largest, smallest, middle = net.sandwich_paths(np.random.default_rng(3))
    assert (space.depth(largest), space.width(largest)) == (4, 128)
    assert all(v["heads"] == 4 and v["ffn"] == 4 for v in space.layers(largest))
    assert (space.depth(smallest), space.width(smallest)) == (1, 32)
    assert space.layers(smallest)[0]["heads"] == 0 and space.layers(smallest)[0]["ffn"] == 1
    again = net.sandwich_paths(np.random.default_rng(3))
    assert [str(a) for a in again] == [str(largest), str(smallest), str(middle)]


def test_without_a_path_it_says_it_runs_single_paths_only(task):
    net = make_supernet(TransformerSpace(), task, torch.Generator())
    with pytest.raises(ConfigError, match="single paths only"):
        net(torch.from_numpy(task.x_val[:1]))


def test_pretraining_is_seeded_and_scores_carry_bits_per_character(task):
    space = TransformerSpace()
    arch = space.from_string("w64|h2-r4-gelu|h2-r4-gelu")
    first, second = (SupernetEvaluator(task, space=space, **TINY) for _ in range(2))
    before = first.net.subnet_state_dict(arch)
    a, b = first.evaluate(arch), second.evaluate(arch)
    assert a.val_accuracy == b.val_accuracy and a.extra["val_bpc"] == b.extra["val_bpc"]
    assert a.extra["supernet_state"] == b.extra["supernet_state"] and a.extra["supernet_steps"] == 3
    assert all(math.isfinite(a.extra[k]) and 1 < a.extra[k] < 8 for k in ("val_bpc", "test_bpc"))
    after = first.net.subnet_state_dict(arch)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # Scoring is a function of the architecture once pretrained.
    assert first.evaluate(arch).extra["val_bpc"] == a.extra["val_bpc"]


def test_nas_lm_v0_with_the_supernet_keeps_its_training_settings_for_the_stand_alone_retraining():
    env = gym.make("NAS-LM-v0", evaluator="supernet", latency="none", cache=False)
    evaluator = env.unwrapped.evaluator
    assert isinstance(evaluator, SupernetEvaluator) and isinstance(evaluator.net, TransformerSupernet)
    assert evaluator.standalone_kwargs == nas_gym.ENV_IDS["NAS-LM-v0"]["evaluator_kwargs"]
    settings = evaluator.settings()
    assert (settings["sampling"], settings["pretrain_steps"], settings["optimizer"]) == ("sandwich", 400, "adam")


def test_sandwich_sampling_needs_the_transformer_space():
    with pytest.raises(ConfigError, match="sandwich"):
        gym.make("NAS-v0", evaluator="supernet", evaluator_kwargs={"sampling": "sandwich"}, cache=False,
                 latency="none")
