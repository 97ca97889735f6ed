"""Zero-cost proxies: every proxy on both spaces, determinism, the info key, a reward monotone in the score."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.env.evaluation import Evaluation
from nas_gym.error import ConfigError
from nas_gym.predictors.zero_cost import PROXY_NAMES, TRANSFORMER_PROXY_NAMES, ZERO_COST_PROXIES, squash
from nas_gym.search.run import SearchRun
from nas_gym.tasks.base import make_task

NB201 = {"evaluator": "zero_cost", "task": "mnist1d", "latency_weight": 0}
LAYERS = {"evaluator": "zero_cost", "latency": "none", "cache": False}
CELLS = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|")
NETS = ("conv3x3-32-relu|sep_conv5x5-32-gelu-skip|max_pool3x3|identity", "avg_pool3x3|identity|identity|identity")


def _scores(env_id, kwargs, archs, proxy, seed=0):
    env = gym.make(env_id, **kwargs, evaluator_kwargs={"proxy": proxy, "seed": seed})
    space = env.unwrapped.space
    return [env.unwrapped.score(space.from_string(a)) for a in archs]


def test_the_registry_holds_every_documented_proxy():
    assert set(PROXY_NAMES) | set(TRANSFORMER_PROXY_NAMES) == set(ZERO_COST_PROXIES)


@pytest.mark.parametrize("proxy", PROXY_NAMES)
def test_every_proxy_scores_both_spaces_deterministically(proxy):
    torch.manual_seed(5)
    state = torch.get_rng_state()
    for env_id, kwargs, archs in (("NAS-Bench-201-Latency-v0", NB201, CELLS), ("NAS-v0", LAYERS, NETS)):
        first = _scores(env_id, kwargs, archs, proxy)
        again = _scores(env_id, kwargs, archs, proxy)
        assert [e.extra for e in first] == [e.extra for e in again], f"{proxy} on {env_id} is not deterministic"
        conv, weak = (e.extra["zero_cost_score"] for e in first)
        assert math.isfinite(conv), f"{proxy} on {env_id}: the conv network scored {conv}"
        if proxy in ("params", "flops"):  # by construction; how well the others rank is a figure, not a test
            assert conv > weak, f"{proxy} on {env_id}: {conv} <= {weak}"
        assert all(e.val_accuracy == squash(e.extra["zero_cost_score"]) for e in first)
        assert all(e.cost_s < 5 for e in first)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone


def test_data_dependent_proxies_depend_on_the_seed():
    for proxy in ("naswot", "grad_norm", "snip", "fisher", "zico", "synflow"):
        a, b = (_scores("NAS-v0", LAYERS, NETS[:1], proxy, seed=s)[0].extra["zero_cost_score"] for s in (0, 1))
        assert a != b, proxy


def test_the_canonical_network_is_scored_so_params_match_the_table_and_isomorphic_cells_agree():
    # The second cell's 3x3 convolution (edge 1 -> 2) feeds node 2, which reaches the output only
    # through a `none` edge: dead weight, which the table's trained representative does not have.
    dead = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    twin = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|none~2|"
    env = gym.make("NAS-Bench-201-Latency-v0")
    table = env.unwrapped.parts.table
    space = env.unwrapped.space
    assert space.canonical(space.from_string(dead)) == space.canonical(space.from_string(twin))
    for proxy in ("params", "flops", "naswot", "zico"):
        a, b = (e.extra["zero_cost_score"] for e in _scores("NAS-Bench-201-Latency-v0", NB201, (dead, twin), proxy))
        assert a == b, proxy
    params = _scores("NAS-Bench-201-Latency-v0", NB201, (dead,), "params")[0].params
    row = table.lookup(space.from_string(dead), canonical=True)
    assert params == int(table.column("params")[row])


def test_zico_matches_its_definition_on_a_linear_model():
    # For a linear layer the per-half gradients are explicit, so the score can be recomputed by hand.
    from nas_gym.predictors.zero_cost import zico

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 3))
    x, y = torch.randn(8, 1, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    halves = []
    for xb, yb in zip(x.chunk(2), y.chunk(2), strict=True):
        p = torch.softmax(model(xb), 1).detach()
        p[torch.arange(len(yb)), yb] -= 1
        halves.append((p.T @ xb.flatten(1) / len(yb)).flatten())
    g = torch.stack(halves)
    expected = math.log(float((g.abs().mean(0) / g.std(0)).sum()))
    assert zico(model, x, y) == pytest.approx(expected, rel=1e-5)


def test_the_info_carries_the_score_and_the_reward_orders_as_the_proxy(tmp_path):
    with SearchRun("NAS-Bench-201-Latency-v0", {**NB201, "evaluator_kwargs": {"proxy": "synflow"}}, agent="random",
                   seed=0, budget=12, out_dir=tmp_path) as run:
        infos = run.evaluate_many([run.space.sample(run.rng).indices for _ in range(12)])
        table = run.parts.table
    scores = np.array([i["zero_cost_score"] for i in infos])
    rewards = np.array([i["reward"] for i in infos])
    assert (np.argsort(scores, kind="stable") == np.argsort(rewards, kind="stable")).all()
    # The table stays the stand-alone reference: real test accuracy of each architecture.
    for info in infos:
        row = table.lookup(run.space.from_string(info["arch"]), canonical=True)
        assert info["test_accuracy"] == pytest.approx(table.column(table.roles["test"])[row])
    lines = [json.loads(x) for x in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [r["zero_cost_score"] for r in lines] == pytest.approx(list(scores))
    assert Evaluation.from_record(lines[0]).extra == {"zero_cost_score": pytest.approx(scores[0])}


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="Unknown zero-cost proxy 'synflw'. Did you mean 'synflow'"):
        gym.make("NAS-v0", **LAYERS, evaluator_kwargs={"proxy": "synflw"})
    with pytest.raises(ConfigError, match="batch_size ≥ 2"):
        gym.make("NAS-v0", **LAYERS, evaluator_kwargs={"batch_size": 1})


LM = {"evaluator": "zero_cost", "latency": "none", "latency_weight": 0, "cache": False}
TRANSFORMERS = ("w128|h4-r4-gelu|h4-r4-swiglu|h4-r4-gelu|h4-r4-relu", "w32|noattn-r1-relu")


def test_decoder_params_counts_the_decoder_layers_and_ranks_the_deep_wide_net_first():
    large, small = _scores("NAS-LM-v0", LM, TRANSFORMERS, "decoder_params")
    space = nas_gym.spaces.TransformerSpace()
    task = make_task("pydoc_topics")
    for arch, scored in zip(TRANSFORMERS, (large, small), strict=True):
        model = space.build(space.from_string(arch), task)
        decoder = sum(p.numel() for p in model.blocks.parameters())
        assert scored.extra["zero_cost_score"] == decoder < scored.params  # embeddings and head left out
    assert large.extra["zero_cost_score"] > small.extra["zero_cost_score"]
    assert large.val_accuracy > small.val_accuracy


@pytest.mark.parametrize("proxy", [p for p in PROXY_NAMES if p != "naswot"])
def test_the_proxies_score_transformers(proxy):
    large, small = (e.extra["zero_cost_score"] for e in _scores("NAS-LM-v0", LM, TRANSFORMERS[1:] * 2, proxy))
    assert math.isfinite(large) and large == small


def test_proxies_that_cannot_score_a_network_say_which_can():
    with pytest.raises(ConfigError, match="decoder_params"):
        _scores("NAS-LM-v0", LM, TRANSFORMERS[1:], "naswot")
    with pytest.raises(ConfigError, match="transformer"):
        _scores("NAS-v0", LAYERS, NETS[:1], "decoder_params")
