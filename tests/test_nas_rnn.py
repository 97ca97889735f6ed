"""NAS-RNN-v0, the rnn_cell supernet (DARTS's recurrent relaxation and single paths), and methods on the RNN env."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ConfigError
from nas_gym.spaces import make_space
from nas_gym.supernets import make_supernet
from nas_gym.supernets.rnn_cell import RNNCellSupernet
from nas_gym.tasks.base import make_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")
#: NAS-RNN-v0 with a 4-node cell and a tenth of the training windows: a real but quick run.
SMALL = {"space_kwargs": {"num_nodes": 4, "hidden": 8}, "cache": False, "latency": "none",
         "evaluator_kwargs": {"batch_size": 64, "epochs": 2, "train_fraction": 0.1}}


def _weights(net: RNNCellSupernet) -> dict[str, torch.Tensor]:
    return {k: v for k, v in net.state_dict().items() if not k.startswith("alphas")}


def test_defaults_and_both_checkers():
    env = gym.make("NAS-RNN-v0", cache=False)
    parts = env.unwrapped.parts
    assert parts.space.name == "rnn_cell" and parts.space.num_nodes == 8 and parts.task.name == "mackey_glass"
    assert parts.evaluator.settings()["batch_size"] == 64 and parts.evaluator.settings()["epochs"] == 5
    assert parts.latency_model is not None
    assert parts.reward.latency_target_ms == 2.0
    # The default 8-node space; training cut to a tenth of the windows for one epoch, so episodes are quick.
    quick = gym.make("NAS-RNN-v0", cache=False, latency="none",
                     evaluator_kwargs={"batch_size": 64, "epochs": 1, "train_fraction": 0.1})
    assert quick.unwrapped.space.num_nodes == 8
    gym_check_env(quick.unwrapped, skip_render_check=True)
    sb3_check_env(quick.unwrapped, warn=True)


def test_an_episode_pays_r2_and_reports_mse():
    env = gym.make("NAS-RNN-v0", **SMALL)
    _, info = env.reset(seed=0)
    done = False
    while not done:
        _, reward, done, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    assert info["val_mse"] > 0 and 0 <= info["val_accuracy"] <= 1 and reward == info["val_accuracy"]


@pytest.mark.parametrize("space", ["rnn_cell", "rnn_layers"])
def test_recurrent_spaces_on_mnist1d_sequences(space):
    # MNIST-1D read as a 40-step sequence of one feature, for classification.
    env = gym.make("NAS-v0", space=space, task="mnist1d", cache=False, latency="none",
                   evaluator_kwargs={"epochs": 1, "train_fraction": 0.05})
    _, info = env.reset(seed=0)
    done = False
    while not done:
        _, _, done, _, info = env.step(int(np.flatnonzero(info["action_mask"])[-1]))
    assert "val_mse" not in info and 0 <= info["val_accuracy"] <= 1


def test_single_path_is_the_standalone_network():
    space, task = make_space("rnn_cell"), make_task("mackey_glass")
    net = make_supernet(space, task, torch.Generator().manual_seed(0))
    x = torch.from_numpy(task.x_val[:16])
    for arch in (space.sample(np.random.default_rng(s)) for s in range(4)):
        model = space.build(arch, task)
        model.load_state_dict(_weights(net))
        torch.testing.assert_close(net(x, path=arch), model(x))


def test_one_hot_relaxation_is_the_derived_cell_with_loose_end_output():
    space, task = make_space("rnn_cell"), make_task("mackey_glass")
    arch = space.from_string("tanh|relu<-0|sigmoid<-1|identity<-1|tanh<-0|relu<-4|tanh<-2|sigmoid<-3")
    x = torch.from_numpy(task.x_val[:16])
    outputs = {}
    for output in ("loose_ends", "mean"):
        net = make_supernet(space, task, torch.Generator().manual_seed(0), cell_output=output)
        with torch.no_grad():
            for k, alpha in zip(net.searched, net.alphas, strict=True):
                alpha.fill_(-60.0)
                alpha[arch.indices[k]] = 60.0
        model = space.build(arch, task)
        model.load_state_dict(_weights(net))
        outputs[output] = (net(x), model(x))
    torch.testing.assert_close(*outputs["loose_ends"])
    # DARTS's mean over all nodes is another network than the one it derives.
    assert (outputs["mean"][0] - outputs["mean"][1]).abs().max() > 1e-3


def test_mixed_gradients_reach_every_alpha_and_weight():
    space, task = make_space("rnn_cell", num_nodes=4, hidden=8), make_task("mackey_glass")
    net = make_supernet(space, task, torch.Generator().manual_seed(0), cell_output="loose_ends")
    net(torch.from_numpy(task.x_train[:8])).pow(2).sum().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in net.alphas)
    assert all(p.grad is not None for p in net.weight_parameters())
    with pytest.raises(ConfigError, match="output must be one of"):
        RNNCellSupernet(space, task, torch.Generator(), output="sum")


def test_darts_on_nas_rnn(tmp_path):
    from nas_gym.search.searcher import run_search

    summary = run_search("darts", "NAS-RNN-v0", SMALL, budget=2, seed=0, out_dir=tmp_path / "run",
                         agent_kwargs={"epochs": 1, "cell_output": "loose_ends", "select": "path_accuracy",
                                  "select_candidates": 3}, progress=False)
    record = json.loads((tmp_path / "run" / "darts.json").read_text())
    assert record["space"] == "rnn_cell" and len(record["evaluated"]) == 2
    assert set(record["searched"]) == {d.name for d in make_space("rnn_cell", num_nodes=4).decisions}
    assert len(record["path_accuracy"]) == 3 and record["latency"]["weight"] == 0.0
    assert record["weight_optimizer"] == "adam" and record["epochs"][-1]["train_loss"] < 1.0
    assert summary["num_evaluated"] == 2 and summary["best"]["val_mse"] > 0
    with pytest.raises(ConfigError, match="no per-operation latencies"):
        run_search("darts", "NAS-RNN-v0", SMALL, budget=1, seed=0, out_dir=tmp_path / "lat",
                   agent_kwargs={"epochs": 1, "latency_weight": 0.1}, progress=False)


@pytest.mark.parametrize("agent", ["random", "evolution", "reinforce", "ppo", "tpe"])
def test_methods_run_on_nas_rnn(agent, tmp_path):
    from nas_gym.search.searcher import run_search

    summary = run_search(agent, "NAS-RNN-v0", SMALL, budget=3, seed=0, out_dir=tmp_path / agent, progress=False)
    assert summary["num_evaluated"] == 3 and summary["best"]["val_mse"] > 0


def test_grid_on_a_small_cell(tmp_path):
    from nas_gym.search.searcher import run_search

    kwargs = {**SMALL, "space_kwargs": {"num_nodes": 3, "activations": ["tanh", "relu"], "hidden": 8}}
    # 2**3 * 2! = 16 cells, 10 of them distinct up to isomorphism.
    summary = run_search("grid", "NAS-RNN-v0", kwargs, budget=16, seed=0, out_dir=tmp_path / "grid", progress=False)
    assert summary["num_evaluated"] == len({str(make_space("rnn_cell", **kwargs["space_kwargs"]).canonical(a))
                                            for a in make_space("rnn_cell", **kwargs["space_kwargs"]).enumerate()})


@pytest.mark.parametrize("agent", ["enas", "spos", "rsps"])
def test_weight_sharing_methods_on_nas_rnn(agent, tmp_path):
    from nas_gym.search.searcher import run_search

    kwargs = {**SMALL, "evaluator": "supernet",
              "evaluator_kwargs": {"pretrain_epochs": 1, "inline_steps": 2, "batch_size": 64,
                                   "standalone_kwargs": {"epochs": 1, "train_fraction": 0.1}}}
    summary = run_search(agent, "NAS-RNN-v0", kwargs, budget=4, seed=0, out_dir=tmp_path / agent, progress=False,
                         agent_kwargs={"top_k": 1})
    history = [json.loads(x) for x in (tmp_path / agent / "history.jsonl").read_text().splitlines()]
    assert len(history) == 4 and all(r["score_source"] == "supernet" and r["val_mse"] > 0 for r in history)
    # The top architecture retrained stand-alone, scored by MSE too.
    retrained = summary["standalone"]["architectures"][0]["standalone"]
    assert retrained["val_mse"] > 0 and "score_source" not in retrained


def test_supernet_evaluator_trains_the_cell_with_adam():
    env = gym.make("NAS-RNN-v0", **{**SMALL, "evaluator": "supernet", "evaluator_kwargs": {"pretrain_epochs": 1}})
    settings = env.unwrapped.evaluator.settings()
    assert (settings["optimizer"], settings["lr"]) == ("adam", 3e-3)
    conv = gym.make("NAS-v0", evaluator="supernet", cache=False, latency="none").unwrapped.evaluator.settings()
    assert (conv["optimizer"], conv["lr"]) == ("sgd", 0.1)
