"""Outside clients, unmodified: a CleanRL-style DQN on ``observation="box"``, MO-Gymnasium and morl-baselines.

The CleanRL client is written here (the package registry serves only an old ``cleanrl`` for gym): it does
what CleanRL's ``dqn.py`` does with an env id: ``gym.make`` inside a ``SyncVectorEnv``, SB3's
``ReplayBuffer`` on the env's own observation space, and a float Q-network fed the raw observations.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import nas_gym
from nas_gym.error import ConfigError

BOX_ID = "nas_gym_test/NAS-Bench-201-Box-v0"
if BOX_ID not in gym.registry:
    # As a user registers a variant for a Box-only client: the env id is all the client sees.
    gym.register(BOX_ID, entry_point="nas_gym.env.nas_env:NASEnv",
                 kwargs={**nas_gym.ENV_IDS["NAS-Bench-201-v0"], "observation": "box"})


# -- observation="box" ---------------------------------------------------------------------------------------
def test_box_observation_is_the_one_hot_of_the_decisions_made():
    env = gym.make("NAS-Bench-201-v0", observation="box")
    space = env.unwrapped.space
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (int(space.nvec.sum()),), np.float32)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and not obs.any()
    for k, action in enumerate((3, 3, 3, 1, 3, 3)):
        obs, *_ = env.step(action)
        assert env.observation_space.contains(obs)
        blocks = np.split(obs, np.cumsum(space.nvec)[:-1])
        assert [int(b.argmax()) for b in blocks[: k + 1]] == [3, 3, 3, 1, 3, 3][: k + 1]
        assert all(b.sum() == 1 for b in blocks[: k + 1]) and not any(b.any() for b in blocks[k + 1:])
    assert np.array_equal(obs, env.unwrapped.observation((3, 3, 3, 1, 3, 3)))


@pytest.mark.parametrize("env_id", ["NAS-Bench-201-v0", "NAS-v0"])
def test_box_observation_passes_gymnasiums_check(env_id):
    kwargs = {"cache": False, "space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1}} \
        if env_id == "NAS-v0" else {}
    check_env(gym.make(env_id, observation="box", **kwargs).unwrapped, skip_render_check=True)


def test_an_unknown_observation_mode_names_the_known_ones():
    with pytest.raises(ConfigError, match="Unknown observation mode 'onehot'.*box, multidiscrete"):
        gym.make("NAS-Bench-201-v0", observation="onehot")


def _dqn(env_id: str, steps: int, seed: int = 0) -> list[float]:
    """CleanRL dqn.py's loop, shortened: epsilon-greedy on a float Q-network, updates from a replay buffer."""
    from stable_baselines3.common.buffers import ReplayBuffer

    torch.manual_seed(seed)
    envs = gym.vector.SyncVectorEnv([lambda: gym.wrappers.RecordEpisodeStatistics(gym.make(env_id))])
    q_network = torch.nn.Sequential(torch.nn.Linear(int(np.prod(envs.single_observation_space.shape)), 64),
                                    torch.nn.ReLU(), torch.nn.Linear(64, int(envs.single_action_space.n)))
    target = torch.nn.Sequential(*(type(m)(*m.weight.shape[::-1]) if isinstance(m, torch.nn.Linear) else m
                                   for m in q_network))
    target.load_state_dict(q_network.state_dict())
    optimizer = torch.optim.Adam(q_network.parameters(), lr=1e-3)
    rb = ReplayBuffer(1000, envs.single_observation_space, envs.single_action_space, "cpu",
                      handle_timeout_termination=False)
    rng = np.random.default_rng(seed)
    returns: list[float] = []
    obs, _ = envs.reset(seed=seed)
    for step in range(steps):
        if rng.random() < max(0.05, 1 - step / (0.5 * steps)):
            actions = np.array([envs.single_action_space.sample()])
        else:
            actions = torch.argmax(q_network(torch.Tensor(obs)), dim=1).numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        if "episode" in infos:
            returns.extend(float(r) for r, done in zip(infos["episode"]["r"], infos["_episode"], strict=True) if done)
        real_next_obs = next_obs.copy()
        rb.add(obs, real_next_obs, actions, rewards, terminations, infos)
        obs = next_obs
        if step >= 32:
            data = rb.sample(32)
            with torch.no_grad():
                target_max, _ = target(data.next_observations).max(dim=1)
                td_target = data.rewards.flatten() + 0.99 * target_max * (1 - data.dones.flatten())
            old_val = q_network(data.observations).gather(1, data.actions).squeeze()
            loss = torch.nn.functional.mse_loss(td_target, old_val)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 50 == 0:
                target.load_state_dict(q_network.state_dict())
    envs.close()
    return returns


def test_cleanrl_style_dqn_fails_on_the_multidiscrete_default_as_it_did():
    """The defect the box observation answers: the replay buffer keeps int64, the float network refuses it."""
    with pytest.raises(RuntimeError, match="must have the same dtype"):
        _dqn("NAS-Bench-201-v0", 40)


@pytest.mark.usefixtures("one_torch_thread")
def test_cleanrl_style_dqn_runs_unmodified_on_an_id_registered_with_box():
    returns = _dqn(BOX_ID, 300)
    assert len(returns) >= 30  # 6-decision episodes (fewer steps when an invalid action ends one early)
    assert all(r == -1.0 or 0.0 <= r <= 1.0 for r in returns)


# -- MO-Gymnasium ---------------------------------------------------------------------------------------------
def test_pareto_front_takes_mo_gymnasiums_gamma():
    env = gym.make("MO-NAS-Bench-201-v1", dataset="cifar100").unwrapped
    undiscounted = env.pareto_front()
    front = env.pareto_front(0.99)  # MO-Gymnasium's positional call, as morl-baselines makes it
    assert np.allclose(front, undiscounted * 0.99 ** (env.space.num_decisions - 1))
    assert len(list(front)) == len(undiscounted) and all(p.shape == (2,) for p in front)
    assert undiscounted[:, 0].max() == pytest.approx(0.734933)  # the table's optimum is on the front
    with pytest.raises(ConfigError, match=r"discount factor in \(0, 1\]"):
        env.pareto_front(gamma=1.5)
    with pytest.warns(DeprecationWarning, match="pass objectives by keyword"):
        assert np.array_equal(env.pareto_front(["val_accuracy", "latency_ms"]), undiscounted)


def test_gymnasiums_sync_vector_env_cannot_hold_vector_rewards_but_mo_gymnasiums_can():
    """As documented (docs/multi-objective.md): Gymnasium's vector envs keep one float per env."""
    mo_gymnasium = pytest.importorskip("mo_gymnasium", reason="the 'mo' extra (mo-gymnasium) is not installed")
    plain = gym.vector.SyncVectorEnv([lambda: gym.make("MO-NAS-Bench-201-v1") for _ in range(2)])
    plain.reset(seed=0)
    with pytest.raises((ValueError, TypeError)):
        for _ in range(6):
            plain.step(np.array([1, 1]))
    envs = mo_gymnasium.wrappers.vector.MOSyncVectorEnv([lambda: gym.make("MO-NAS-Bench-201-v1") for _ in range(2)])
    envs.reset(seed=0)
    for _ in range(6):
        _, rewards, terminated, _, _ = envs.step(np.array([3, 1]))
    assert rewards.shape == (2, 2) and terminated.all() and (rewards[:, 0] > 0).all() and (rewards[:, 1] < 0).all()


@pytest.mark.usefixtures("one_torch_thread")
def test_a_morl_baselines_agent_learns_on_the_env_unmodified(monkeypatch, tmp_path):
    """GPI-LS (morl-baselines) for a few hundred steps, with the env's own known front."""
    pytest.importorskip("morl_baselines", reason="the 'morl' extra (morl-baselines) is not installed")
    monkeypatch.chdir(tmp_path)  # whatever it writes beside it stays out of the checkout
    from morl_baselines.multi_policy.gpi_pd.gpi_pd import GPILS

    env = gym.make("MO-NAS-Bench-201-v1", dataset="cifar100")
    eval_env = gym.make("MO-NAS-Bench-201-v1", dataset="cifar100")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent = GPILS(env, learning_starts=50, batch_size=32, buffer_size=2000, net_arch=[32, 32],
                      gradient_updates=1, target_net_update_freq=50, log=False, seed=0, device="cpu")
        agent.train(total_timesteps=300, eval_env=eval_env, ref_point=np.array([0.0, -10.0]),
                    known_pareto_front=env.unwrapped.pareto_front(gamma=agent.gamma), num_eval_weights_for_front=3,
                    num_eval_episodes_for_front=1, num_eval_weights_for_eval=3, eval_freq=300, eval_mo_freq=300,
                    timesteps_per_iter=150, checkpoints=False)
    assert agent.global_step >= 300


# -- SB3's make_vec_env and Gymnasium's RecordVideo: render_mode="rgb_array" ---------------------------------
@pytest.mark.parametrize("vec_env", ["dummy", "subproc"])
def test_sb3_make_vec_env_runs_every_vec_env_class(vec_env):
    """SB3 makes each env with render_mode="rgb_array"; that used to kill it (a ConnectionResetError under Subproc)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    cls = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}[vec_env]
    # "module:id" (Gymnasium's syntax) imports nas_gym in each worker whatever the start method; under spawn, a
    # plain id would find nothing registered there.
    kwargs = {"start_method": "spawn"} if vec_env == "subproc" else None
    envs = make_vec_env("nas_gym:NAS-Bench-201-v0", n_envs=2, seed=0, vec_env_cls=cls, vec_env_kwargs=kwargs)
    try:
        envs.reset()
        for _ in range(6):
            obs, rewards, dones, infos = envs.step(np.array([3, 1]))
        assert dones.all() and (rewards > 0).all() and obs.shape == (2, 6)
        frames = envs.get_images()
        assert len(frames) == 2 and all(f.shape == (400, 640, 3) and f.dtype == np.uint8 for f in frames)
    finally:
        envs.close()


def test_record_video_writes_one_frame_per_step(tmp_path):
    pytest.importorskip("moviepy", reason="the 'video' extra (moviepy) is not installed")
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(gym.make("NAS-Bench-201-v0", render_mode="rgb_array"), str(tmp_path),
                      episode_trigger=lambda episode: True, disable_logger=True)
    env.reset(seed=0)
    recorded = []
    for action in (3, 3, 3, 1, 3, 3):
        env.step(action)
        recorded.append(len(env.recorded_frames))
    env.close()
    assert recorded == [2, 3, 4, 5, 6, 7]  # the reset's frame, then one per decision
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


@pytest.mark.parametrize(("env_id", "kwargs"), [
    ("NAS-Bench-201-v0", {}), ("NAS-v0", {"cache": False}), ("NAS-RNN-v0", {"cache": False}),
])
def test_rgb_array_frames_follow_the_episode(env_id, kwargs):
    env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    _, info = env.reset(seed=0)
    first = env.render()
    assert first.shape == (400, 640, 3) and first.dtype == np.uint8
    valid = int(np.flatnonzero(info["action_mask"])[0])
    env.unwrapped._step(valid)  # one decision, without training anything
    assert not np.array_equal(env.render(), first)
    assert env.metadata["render_fps"] > 0


def test_human_mode_without_a_display_says_what_to_use(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    with pytest.raises(ConfigError, match="render_mode='human' needs a window.*use render_mode='rgb_array'"):
        gym.make("NAS-Bench-201-v0", render_mode="human")
