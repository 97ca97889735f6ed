"""Any SB3 / sb3-contrib algorithm as a search method: ``--agent sb3:A2C``, ``sb3-contrib:QRDQN``, ..."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym import cli
from nas_gym.agents.sb3 import RemapInvalid, SB3Agent
from nas_gym.error import ConfigError
from nas_gym.search.searcher import load_searcher, run_search


def test_families_resolve_algorithms_and_check_their_settings():
    a2c = load_searcher("sb3:A2C")
    assert issubclass(a2c, SB3Agent) and a2c.name == "sb3:A2C" and a2c.algorithm == "A2C"
    agent = a2c(learning_rate=1e-3, episodes_per_rollout=2)
    assert agent.hparams()["algo_kwargs"] == {"learning_rate": 1e-3}
    assert agent.hparams()["episodes_per_rollout"] == 2 and agent.hparams()["algorithm"] == "sb3:A2C"
    assert load_searcher("sb3-contrib:QRDQN").algorithm == "QRDQN"
    with pytest.raises(ConfigError, match="no algorithm 'PP0'. Did you mean 'PPO'"):
        load_searcher("sb3:PP0")
    with pytest.raises(ConfigError, match="Unknown family 'sb4'"):
        load_searcher("sb3:A2C".replace("sb3", "sb4"))
    with pytest.raises(ConfigError, match="no setting 'learning_rat'. Did you mean 'learning_rate'"):
        a2c(learning_rat=1e-3)
    with pytest.raises(ConfigError, match="invalid_actions must be"):
        a2c(invalid_actions="ignore")


def test_an_algorithm_without_discrete_actions_is_refused(tmp_path, nb201_kwargs):
    with pytest.raises(ConfigError, match="sb3:SAC cannot search this env"):
        run_search("sb3:SAC", "NAS-Bench-201-v0", nb201_kwargs, budget=4, seed=0, out_dir=tmp_path / "sac")


@pytest.mark.parametrize("agent", ["sb3:DQN", "sb3:A2C", "sb3-contrib:MaskablePPO"])
def test_an_algorithm_spends_the_budget_on_a_masked_space(agent, tmp_path):
    """The layer-wise space forbids actions at some steps: remapped (or masked) runs score every episode."""
    summary = run_search(agent, "NAS-Surrogate-v0", {}, budget=15, seed=1, out_dir=tmp_path / "run")
    assert summary["num_evaluated"] == 15
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert len(history) == 15 and all(r["reward"] > -1 for r in history)  # no invalid-action penalty recorded


def test_remap_sends_forbidden_actions_to_valid_choices():
    env = RemapInvalid(gym.make("NAS-Surrogate-v0"))
    env.reset(seed=0)
    space = env.unwrapped.space
    for _ in range(space.num_decisions):
        mask = env.action_masks()
        valid = np.flatnonzero(mask)
        for a in range(len(mask)):
            assert mask[env.action(a)] and (env.action(a) == a if mask[a] else env.action(a) == valid[a % len(valid)])
        _, _, terminated, _, info = env.step(len(mask) - 1)  # often forbidden: remapped, never penalised
        assert not info.get("invalid_action", False)
    assert terminated


def test_a_seed_gives_one_history(tmp_path, nb201_kwargs):
    runs = [run_search("sb3-contrib:QRDQN", "NAS-Bench-201-v0", nb201_kwargs, budget=20, seed=4,
                       out_dir=tmp_path / f"r{i}") for i in range(2)]
    histories = [[(r["arch"], r["reward"]) for r in map(json.loads, (tmp_path / f"r{i}" / "history.jsonl")
                                                         .read_text().splitlines())] for i in range(2)]
    assert histories[0] == histories[1] and runs[0]["num_evaluated"] == 20


def test_cli_search_prints_the_result(tmp_path, nb201_kwargs, capsys):
    code = cli.main(["search", "--agent", "sb3:PPO", "--env", "NAS-Bench-201-v0", "--env-kwargs",
                     json.dumps(nb201_kwargs), "--budget", "12", "--out", str(tmp_path / "ppo"), "--no-progress"])
    assert code == 0 and json.loads((tmp_path / "ppo" / "summary.json").read_text())["agent"] == "sb3:PPO"
    assert "after 12 evaluations" in capsys.readouterr().out
