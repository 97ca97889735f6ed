"""The environment: both checkers, the NB201 acceptance lookups, masks, errors, determinism."""

import csv
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ConfigError, EpisodeEndedError, InvalidActionError

ROW_9930 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SMALL_NAS = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1}}


def _registered_ids():
    return sorted(k for k in gym.registry if k.startswith("NAS"))


def _kwargs_for(env_id, nb201_kwargs):
    return dict(nb201_kwargs) if env_id == "NAS-Bench-201-v0" else {}


def test_both_ids_registered():
    assert {"NAS-v0", "NAS-Bench-201-v0"} <= set(_registered_ids())


@pytest.mark.parametrize("env_id", ["NAS-v0", "NAS-Bench-201-v0", "NAS-Surrogate-v0"])
def test_gymnasium_check_env(env_id, nb201_kwargs):
    env = gym.make(env_id, **_kwargs_for(env_id, nb201_kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", ["NAS-v0", "NAS-Bench-201-v0", "NAS-Surrogate-v0"])
def test_sb3_check_env(env_id, nb201_kwargs):
    env = gym.make(env_id, **_kwargs_for(env_id, nb201_kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env.unwrapped, warn=True)


def _row(table, index):
    with open(table, newline="") as f:
        for row in csv.DictReader(f):
            if int(row["arch_index"]) == index:
                return row
    raise LookupError(index)


def _step_string(env, arch_str):
    space = env.unwrapped.space
    env.reset(seed=0)
    info = {}
    for k, a in enumerate(space.from_string(arch_str).indices):
        _, reward, terminated, truncated, info = env.step(a)
        assert terminated == (k == space.num_decisions - 1)
        assert not truncated
    return reward, info


def test_nb201_row_9930_lookup(nb201_table):
    env = gym.make(
        "NAS-Bench-201-v0", table=nb201_table, val_column="c100_valid", test_column="c100_test", latency_weight=0
    )
    row = _row(nb201_table, 9930)
    assert row["arch_str"] == ROW_9930
    reward, info = _step_string(env, row["arch_str"])
    assert info["arch"] == row["arch_str"]
    assert info["val_accuracy"] == pytest.approx(0.7349, abs=1e-4)
    assert info["test_accuracy"] == pytest.approx(float(row["c100_test"]) / 100)
    assert reward == pytest.approx(info["val_accuracy"])
    for key in ("latency_ms", "latency_penalty", "params", "cost_s", "cached"):
        assert key in info


def test_nb201_latency_column(nb201_table):
    env = gym.make(
        "NAS-Bench-201-v0", table=nb201_table, val_column="c100_valid", test_column="c100_test",
        latency_column="lat_fpga_ms", latency_weight=0,
    )
    row = _row(nb201_table, 9930)
    _, info = _step_string(env, ROW_9930)
    assert info["latency_ms"] == pytest.approx(float(row["lat_fpga_ms"]))


def test_nb201_latency_penalty(nb201_table):
    env = gym.make(
        "NAS-Bench-201-v0", table=nb201_table, val_column="c100_valid", latency_column="lat_fpga_ms",
        latency_weight=0.5, latency_target_ms=5.0,
    )
    reward, info = _step_string(env, ROW_9930)
    expected = info["val_accuracy"] - 0.5 * (info["latency_ms"] / 5.0 - 1)
    assert reward == pytest.approx(expected)
    assert info["latency_penalty"] == pytest.approx(info["val_accuracy"] - reward)


def test_nb201_without_any_table_says_how_to_get_one(monkeypatch, tmp_path):
    import nas_gym.data

    monkeypatch.setattr(nas_gym.data, "DATA_DIR", tmp_path)  # an install without the package's tables
    with pytest.raises(ConfigError, match="needs a tabular benchmark: pass table="):
        gym.make("NAS-Bench-201-v0")


def test_mask_in_info_matches_method(nb201_kwargs):
    env = gym.make("NAS-v0", **SMALL_NAS, cache=False)
    obs, info = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(env.unwrapped.space.num_decisions - 1):
        np.testing.assert_array_equal(info["action_mask"], env.unwrapped.action_masks())
        assert info["action_mask"].dtype == bool and info["action_mask"].any()
        obs, _, terminated, _, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
        assert not terminated
        assert env.observation_space.contains(obs)


def test_masked_action_penalty_is_documented_behaviour(nb201_kwargs):
    env = gym.make("NAS-v0", **SMALL_NAS, cache=False)
    _, info = env.reset(seed=0)
    # Decision 0 is the op; walk to a decision with fewer choices than the action space.
    space = env.unwrapped.space
    k = next(i for i, d in enumerate(space.decisions) if d.n < env.action_space.n)
    for _ in range(k):
        _, _, _, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    bad = int(np.flatnonzero(~info["action_mask"])[0])
    _, reward, terminated, truncated, info = env.step(bad)
    assert terminated and not truncated
    assert reward == -1.0 and info["invalid_action"] is True
    assert "arch" not in info
    with pytest.raises(EpisodeEndedError, match="call reset"):
        env.step(0)


@pytest.mark.parametrize("mode", ["penalty", "raise"])
@pytest.mark.parametrize("action", [5, -1, 99, 999, 2.5, np.int64(7)])
def test_an_action_outside_the_action_space_raises_in_either_mode(nb201_kwargs, mode, action):
    """One rule: what Discrete(5) does not contain (999 as well as 2.5) is the caller's bug, never a reward."""
    env = gym.make("NAS-Bench-201-v0", **nb201_kwargs, invalid_action=mode)
    env.reset(seed=0)
    assert not env.action_space.contains(action)
    with pytest.raises(InvalidActionError, match=r"must be an integer in 0\.\.4 \(the action space Discrete\(5\)"):
        env.unwrapped.step(action)


def test_non_integer_action_raises(nb201_kwargs):
    env = gym.make("NAS-Bench-201-v0", **nb201_kwargs)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="must be an integer"):
        env.unwrapped.step("conv")


def test_step_before_reset_raises(nb201_kwargs):
    env = nas_gym.NASEnv(space="nb201", evaluator="table", latency="none", **nb201_kwargs)
    with pytest.raises(EpisodeEndedError):
        env.step(0)


def _trajectory(env_id, kwargs, seed, n_episodes=3):
    env = gym.make(env_id, **kwargs)
    out = []
    _, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(n_episodes):
        terminated = False
        while not terminated:
            obs, reward, terminated, _, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
            out.append((obs.tolist(), reward, info.get("arch"), info.get("val_accuracy")))
        _, info = env.reset()
    return out


def test_determinism_same_seed_same_trajectory(nb201_kwargs):
    a = _trajectory("NAS-Bench-201-v0", nb201_kwargs, seed=3)
    b = _trajectory("NAS-Bench-201-v0", nb201_kwargs, seed=3)
    for step, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"step {step}: {x} != {y}"


def test_determinism_real_training(tmp_path):
    kwargs = {**SMALL_NAS, "cache": False, "latency": "none"}
    a = _trajectory("NAS-v0", kwargs, seed=5, n_episodes=1)
    b = _trajectory("NAS-v0", kwargs, seed=5, n_episodes=1)
    for step, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"step {step}: {x} != {y}"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"space": "resnet"}, "Unknown space 'resnet'"),
        ({"task": "cifar10"}, "Unknown task 'cifar10'"),
        ({"reward": "acc"}, "Unknown reward 'acc'"),
        ({"latency": "gpu"}, "Unknown latency model 'gpu'"),
        ({"evaluator": "surogate"}, "Unknown evaluator .surogate.. Did you mean .surrogate"),
        ({"latency_target_ms": 0}, "latency_target_ms must be a number > 0"),
        ({"invalid_action": "ignore"}, "Unknown invalid_action mode 'ignore'"),
        ({"evaluator_kwargs": {"epochs": 0}}, "epochs"),
    ],
)
def test_bad_env_kwargs(kwargs, match):
    with pytest.raises(nas_gym.NASGymError, match=match):
        gym.make("NAS-v0", cache=False, **kwargs)


def test_render_ansi(nb201_kwargs):
    env = gym.make("NAS-Bench-201-v0", **nb201_kwargs, render_mode="ansi")
    env.reset(seed=0)
    env.step(3)
    assert env.render() == "edge1<-0=nor_conv_3x3"


def test_default_latency_target_is_table_median(nb201_table):
    env = gym.make("NAS-Bench-201-v0", table=nb201_table, val_column="c100_valid", latency_column="lat_fpga_ms")
    lat = env.unwrapped.table.column("lat_fpga_ms")
    assert env.unwrapped.reward_fn.latency_target_ms == pytest.approx(float(np.median(lat)))
    assert gym.make("NAS-v0", cache=False).unwrapped.reward_fn.latency_target_ms == 0.25


def test_embedded_table_needs_no_files():
    env = gym.make("NAS-Bench-201-v0")
    table = env.unwrapped.table
    assert len(table) == 15_625 and table.is_exhaustive
    assert str(table.path).endswith("nas_gym/data/nb201_mnist1d.csv.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=True)
    _, info = _step_string(env, ROW_9930)
    assert info["arch"] == ROW_9930 and 0.0 < info["val_accuracy"] < 1.0 and info["latency_ms"] is None
    with_latency = gym.make("NAS-Bench-201-v0", latency_column="latency_ms", latency_weight=0.5)
    _, info = _step_string(with_latency, ROW_9930)
    assert info["latency_ms"] > 0
