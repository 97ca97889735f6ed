"""``gym.make_vec`` on the NAS envs, sync and async, with action masks per sub-env."""

import gymnasium as gym
import numpy as np
import pytest

import nas_gym  # noqa: F401  (registers the envs)

TINY_NAS = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1}, "cache": False}


def _play(envs, episodes, seed=0):
    """Step random valid actions until ``episodes`` episodes ended; return the final infos' archs."""
    rng = np.random.default_rng(seed)
    _, info = envs.reset(seed=seed)
    archs = []
    for _ in range(100):
        masks = np.stack(envs.call("action_masks"))
        assert masks.shape == info["action_mask"].shape == (envs.num_envs, envs.single_action_space.n)
        assert (masks == info["action_mask"]).all(), "info['action_mask'] and action_masks() disagree"
        # Under next-step autoreset an ended sub-env has an all-False mask and ignores its next action.
        actions = np.array([rng.choice(np.flatnonzero(m)) if m.any() else 0 for m in masks])
        _, reward, terminated, truncated, info = envs.step(actions)
        assert not truncated.any()
        for i in np.flatnonzero(terminated):
            assert info["_arch"][i] and reward[i] == info["reward"][i]
            archs.append(info["arch"][i])
        if len(archs) >= episodes:
            return archs
    raise AssertionError(f"only {len(archs)} episodes ended")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_table_env(nb201_kwargs, mode):
    envs = gym.make_vec("NAS-Bench-201-v0", num_envs=2, vectorization_mode=mode, **nb201_kwargs)
    try:
        archs = _play(envs, episodes=6)
    finally:
        envs.close()
    assert len(archs) == 6 and all(a.startswith("|") for a in archs)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_nas_v0_masks_and_training(mode):
    envs = gym.make_vec("NAS-v0", num_envs=2, vectorization_mode=mode, **TINY_NAS)
    try:
        archs = _play(envs, episodes=2, seed=1)
    finally:
        envs.close()
    assert len(archs) >= 2


def test_vector_envs_are_deterministic(nb201_kwargs):
    runs = []
    for mode in ("sync", "async"):
        envs = gym.make_vec("NAS-Bench-201-v0", num_envs=2, vectorization_mode=mode, **nb201_kwargs)
        try:
            runs.append(_play(envs, episodes=4, seed=7))
        finally:
            envs.close()
    assert runs[0] == runs[1]
