"""The supernet evaluator and the single-path mode of the supernet it holds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ConfigError
from nas_gym.evaluators.supernet import SupernetEvaluator
from nas_gym.spaces import SPACES
from nas_gym.supernets import make_supernet
from nas_gym.tasks.base import make_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"inline_steps": 2, "pretrain_epochs": 1, "bn_batches": 1}


def nb201_env(**kwargs):
    return gym.make("NAS-Bench-201-v0", evaluator="supernet", task="digits", latency_weight=0,
                    evaluator_kwargs={**SMALL, **kwargs})


def layers_env(**kwargs):
    return gym.make("NAS-v0", evaluator="supernet", cache=False, latency="none", space_kwargs={"num_layers": 3},
                    evaluator_kwargs={**SMALL, **kwargs})


def play(env, arch, seed=0):
    env.reset(seed=seed)
    for a in arch.indices:
        _, reward, terminated, _, info = env.step(a)
    assert terminated
    return reward, info


def _copy_layers_path(net, space, arch, model, c0):
    """Copy the supernet's sliced weights and statistics of ``arch``'s path into its stand-alone ``model``."""
    slots, c = iter(model.slots), c0
    for s in range(space.num_layers):
        v = space.slot_values(arch, s)
        if v["op"] == "identity":
            continue
        dst = list(next(slots).body)
        if v["op"] in ("max_pool", "avg_pool"):
            continue
        src = list(net.slots[s].ops[net.slots[s].names.index((v["op"], v["kernel"]))].body)
        f = v["filters"]
        if v["op"] == "sep_conv":
            dst[0].weight.copy_(src[0].weight[:c])
            dst[1].weight.copy_(src[1].weight[:f, :c])
            k = 2
        else:
            dst[0].weight.copy_(src[0].weight[:f, :c])
            k = 1
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(dst[k], name).copy_(getattr(src[k], name)[:f])
        c = f
    model.head.fc.weight.copy_(net.head.fc.weight[:, :c])
    model.head.fc.bias.copy_(net.head.fc.bias)


@torch.no_grad()
def test_a_layers_path_computes_what_its_stand_alone_network_computes_with_the_sliced_weights():
    space, task = SPACES.make("layers", {"strides": [1, 2]}), make_task("digits")
    net = make_supernet(space, task, torch.Generator().manual_seed(0))
    x = torch.from_numpy(task.x_train[:64])
    rng = np.random.default_rng(0)
    for _ in range(12):
        arch = space.sample(rng)
        for m in net.modules():  # statistics that are not the initial ones, so the copy is tested
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        model = space.build(arch, task)
        _copy_layers_path(net, space, arch, model, task.input_shape[0])
        net.eval()
        model.eval()
        assert torch.allclose(model(x), net(x, path=arch), atol=1e-5), str(arch)


@torch.no_grad()
def test_an_nb201_path_computes_what_its_stand_alone_cell_computes():
    space, task = SPACES.make("nb201", {}), make_task("digits")
    net = make_supernet(space, task, torch.Generator().manual_seed(0)).eval()
    x = torch.from_numpy(task.x_train[:16])
    rng = np.random.default_rng(1)
    for _ in range(8):
        arch = space.sample(rng)
        model = space.build(arch, task).eval()
        # Stand-alone cells hold the ops of their non-"none" edges; copy the supernet's into them.
        path = [space.decisions[0].choices[i] for i in arch.indices]
        model_cells = [m for m in model.modules() if type(m).__name__ == "Cell"]
        for cell, mixed in zip(model_cells, net.cells, strict=True):
            kept = [e for e in range(len(path)) if path[e] != "none"]  # the cell holds only these edges' ops
            for e, op in zip(kept, cell.ops, strict=True):
                op.load_state_dict(mixed.edges[e][path[e]].state_dict())
        stand_alone_blocks = [m for m in model.modules() if type(m).__name__ in ("Stem", "ResidualReduction",
                                                                                "NB201Head")]
        for mine, theirs in zip(stand_alone_blocks, net.blocks, strict=True):
            mine.load_state_dict(theirs.state_dict())
        assert torch.allclose(model(x), net(x, path=arch), atol=1e-5), str(arch)


def test_unused_operations_get_no_update():
    env = layers_env(mode="inline")
    evaluator = env.unwrapped.evaluator
    space = env.unwrapped.space
    arch = space.from_string("conv3x3-16-relu|identity|identity")
    before = {n: p.detach().clone() for n, p in evaluator.net.named_parameters()}
    evaluator.train_path(arch, 3)
    changed = {n for n, p in evaluator.net.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith(("slots.0.", "head.")) for n in changed), changed


def test_a_users_agent_gets_shared_weight_scores_through_step():
    env = nb201_env(mode="inline")
    space = env.unwrapped.space
    rng = np.random.default_rng(0)
    steps = []
    for i in range(3):
        reward, info = play(env, space.sample(rng), seed=i)
        assert info["score_source"] == "supernet"
        assert reward == pytest.approx(info["val_accuracy"])
        assert 0.0 <= info["val_accuracy"] <= 1.0
        # The embedded table stays the stand-alone reference for test accuracy.
        table = env.unwrapped.parts.table
        row = table.lookup(space.from_string(info["arch"]), canonical=True)
        assert info["test_accuracy"] == pytest.approx(float(table.column(table.roles["test"])[row]))
        steps.append(info["supernet_steps"])
    assert steps == [2, 4, 6]  # inline: each evaluation trains its path first


def test_inline_scores_move_and_pretrained_scores_do_not():
    arch_text = "conv3x3-32-relu|max_pool3x3|conv5x5-16-gelu"
    inline = layers_env(mode="inline")
    arch = inline.unwrapped.space.from_string(arch_text)
    (_, a), (_, b) = play(inline, arch), play(inline, arch)
    assert a["supernet_state"] != b["supernet_state"]
    frozen = layers_env(mode="pretrained")
    (_, c), (_, d) = play(frozen, arch), play(frozen, arch)
    assert c["supernet_state"] == d["supernet_state"] and c["val_accuracy"] == d["val_accuracy"]
    assert c["pretrain_s"] > 0 and "pretrain_s" not in d  # the pretraining is paid once, by the first
    assert c["supernet_steps"] == frozen.unwrapped.evaluator.steps_per_epoch


def test_the_loss_is_the_paths_cross_entropy_and_leaves_its_scores_alone():
    env = nb201_env(mode="pretrained")
    evaluator, space = env.unwrapped.evaluator, env.unwrapped.space
    evaluator.pretrain()
    a, b = (space.from_string(s) for s in (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"))
    before = evaluator.accuracy(a)
    loss = evaluator.loss(a)
    assert evaluator.accuracy(a) == before and evaluator.loss(a) == loss  # deterministic, no state moved
    # The cross-entropy of the path's logits on the validation split, after its own recalibration.
    net, data = evaluator.net, evaluator._data
    net.recalibrate(a, evaluator._calibration)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(net(data["x_val"], path=a), data["y_val"]).item()
    assert loss == pytest.approx(expected, rel=1e-5) and loss > 0
    assert evaluator.loss(b) != loss and evaluator.loss(a, "test") != loss


def test_same_seed_same_scores_and_the_state_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    one, two = layers_env(mode="inline"), layers_env(mode="inline")
    archs = [one.unwrapped.space.sample(rng) for _ in range(4)]
    first = [play(one, a)[1]["val_accuracy"] for a in archs[:2]]
    assert first == [play(two, a)[1]["val_accuracy"] for a in archs[:2]]
    path = tmp_path / "state.pt"
    torch.save(one.unwrapped.evaluator.state_dict(), path)
    three = layers_env(mode="inline")
    three.unwrapped.evaluator.load_state_dict(torch.load(path, weights_only=True))
    assert [play(one, a)[1]["val_accuracy"] for a in archs[2:]] == [play(three, a)[1]["val_accuracy"]
                                                                     for a in archs[2:]]
    other = layers_env(mode="inline", lr=1e-2)
    with pytest.raises(ConfigError, match="other settings|saved with settings"):
        other.unwrapped.evaluator.load_state_dict(torch.load(path, weights_only=True))


def test_supernet_scores_are_never_served_from_or_written_to_the_evaluation_cache(tmp_path):
    cache = tmp_path / "cache.sqlite"
    kwargs = {"space_kwargs": {"num_layers": 3}, "latency": "none", "cache": str(cache)}
    arch_text = "conv3x3-32-relu|max_pool3x3|conv5x5-16-gelu"
    trained = gym.make("NAS-v0", evaluator_kwargs={"epochs": 1, "train_fraction": 0.2}, **kwargs)
    _, stand_alone = play(trained, trained.unwrapped.space.from_string(arch_text))
    rows = len(trained.unwrapped.parts.cache)
    assert rows == 1
    shared = gym.make("NAS-v0", evaluator="supernet", evaluator_kwargs=SMALL, **kwargs)
    assert type(shared.unwrapped.evaluator) is SupernetEvaluator  # not wrapped in the cache
    _, info = play(shared, shared.unwrapped.space.from_string(arch_text))
    assert info["score_source"] == "supernet" and not info["cached"]
    assert info["val_accuracy"] != stand_alone["val_accuracy"]
    assert len(shared.unwrapped.parts.cache) == rows


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"mode": "online"}, "mode must be one of"),
    ({"inline_steps": -1}, "inline_steps"),
    ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ({"lr": 0}, "lr must be a positive"),
    ({"sampling": "greedy"}, "sampling must be one of"),
])
def test_bad_settings_say_what_is_wrong(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        layers_env(**kwargs)


def test_a_space_with_several_norms_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="one norm"):
        gym.make("NAS-v0", evaluator="supernet", cache=False, latency="none",
                 space_kwargs={"norms": ["batch", "none"]})


def test_switching_mode_after_training_is_refused():
    env = layers_env(mode="inline")
    play(env, env.unwrapped.space.sample(np.random.default_rng(0)))
    with pytest.raises(ConfigError, match="cannot switch"):
        env.unwrapped.evaluator.use_mode("pretrained")


def test_fair_sampling_gives_every_choice_of_every_decision_one_path_per_update():
    """FairNAS's strict fairness: max_choices paths per update, each decision takes each of its choices once."""
    nb201 = nb201_env(mode="pretrained", sampling="fair").unwrapped.evaluator
    paths = nb201._fair_paths()
    assert len(paths) == 5
    for edge in range(6):
        assert sorted(p.indices[edge] for p in paths) == [0, 1, 2, 3, 4]
    layers = layers_env(mode="pretrained", sampling="fair").unwrapped
    ev, space = layers.evaluator, layers.space
    for _ in range(5):
        paths = ev._fair_paths()
        assert len(paths) == space.max_choices
        for p in paths:
            assert space.validate(p.indices) == p.indices  # repaired to the masks
    # The same path-batches per epoch as uniform sampling, in max_choices times fewer updates.
    ev.pretrain()
    assert ev.steps == ev.steps_per_epoch // space.max_choices
    uniform = layers_env(mode="pretrained").unwrapped.evaluator
    assert uniform.settings() != ev.settings() and "sampling" not in uniform.settings()


def test_fair_pretraining_is_deterministic_for_a_seed_and_differs_from_uniform():
    arch_text = "conv3x3-32-relu|max_pool3x3|conv5x5-16-gelu"
    scores = []
    for sampling in ("fair", "fair", "uniform"):
        env = layers_env(mode="pretrained", sampling=sampling)
        scores.append(play(env, env.unwrapped.space.from_string(arch_text))[1]["val_accuracy"])
    assert scores[0] == scores[1] and scores[0] != scores[2]
