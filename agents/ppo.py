"""PPO search: stable-baselines3's PPO (MaskablePPO from sb3-contrib) trained on the NAS env.

The policy picks one decision per step; the env pays the architecture's
reward on the last step, so an episode is one architecture. With one worker,
training runs on ``run.env`` itself (wrapped in SB3's ``Monitor`` and
``DummyVecEnv``), so every episode the policy finishes is scored and recorded
by the run. With ``run.workers > 1`` it trains on one env copy per worker in
lockstep (:class:`_RunVecEnv`), and the architectures completed in a step are
scored together by the run's evaluation pool. A callback stops training as
soon as the run's budget is spent.

SB3's defaults (``n_steps=2048``, ``lr=3e-4``, ``gamma=0.99``, ...) are made
for millions of steps; a NAS budget is a few hundred architectures, i.e. a
few thousand steps, so the defaults here are tuned for that scale (see
:class:`PPOSearch`).

:class:`MOPPOSearch` trains the same PPO on a random scalarisation of each
episode's objectives instead of the env's reward, in the manner of ParEGO
(Knowles, "ParEGO: A Hybrid Algorithm With On-Line Landscape Approximation
for Expensive Multiobjective Optimization Problems", IEEE TEC 10(1), 2006).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.utils import safe_mean
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from nas_gym.error import ConfigError
from nas_gym.multi_objective.pareto import ACCURACY_LATENCY
from nas_gym.multi_objective.scalarization import (
    OBJECTIVES_CHECK,
    SCALARIZATION_CHECK,
    Scalarizer,
    check_objectives,
    scalarizer_for,
)
from nas_gym.search.reward_memory import RewardMemory
from nas_gym.search.run import BudgetExhausted, SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings
from nas_gym.utils.hparams import (
    boolean,
    in_range,
    non_negative,
    non_negative_int,
    one_of,
    positive,
    positive_int,
    sequence_of,
    setting,
)

logger = logging.getLogger(__name__)

#: Timesteps allowed per architecture of the budget, as a multiple of the
#: decisions per architecture, for plain PPO: its invalid actions end episodes
#: early without scoring them, so it needs more steps than the budget's
#: ``budget x num_decisions``. Masked PPO never wastes a step.
UNMASKED_TIMESTEP_FACTOR = 10

#: SB3's training values mirrored into the run's TensorBoard under CleanRL's tags.
#: SB3 logs the *negative* entropy as ``entropy_loss``; CleanRL logs the entropy.
CLEANRL_TAGS = {
    "train/policy_gradient_loss": ("losses/policy_loss", 1.0),
    "train/value_loss": ("losses/value_loss", 1.0),
    "train/entropy_loss": ("losses/entropy", -1.0),
    "train/approx_kl": ("losses/approx_kl", 1.0),
    "train/clip_fraction": ("losses/clipfrac", 1.0),
}
#: SB3's other training values that change during a search, mirrored under ``sb3/`` and SB3's own name
#: (its learning rate, clip range and update count are settings or a count, in the hyperparameters).
SB3_TAGS = ("train/loss", "train/explained_variance")


def _reused_info(n_actions: int, num_decisions: int) -> dict[str, Any]:
    return {"action_mask": np.zeros(n_actions, dtype=bool), "step": num_decisions, "reused": True}


class _ReuseRewards(gym.Wrapper):
    """Answers a repeated architecture with the reward the env returned for it before.

    The last action of an architecture already scored in this search ends the
    episode here, with that reward, instead of reaching the env (which would
    score and record it again). Every reward still originates in the env.
    """

    def __init__(self, env: gym.Env, max_stale: int):
        super().__init__(env)
        self.memory = RewardMemory(max_stale)  # one stale unit: an episode answered from memory
        self._prefix: list[int] = []
        self._n = env.unwrapped.space.num_decisions

    def reset(self, **kwargs):
        self._prefix = []
        return self.env.reset(**kwargs)

    def step(self, action):
        key = (*self._prefix, int(action))
        if len(key) == self._n and (reward := self.memory.recall(key)) is not None:
            obs = self.env.unwrapped.observation(key)
            return obs, reward, True, False, _reused_info(self.action_space.n, self._n)
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._prefix.append(int(action))
        if terminated and "arch" in info:
            self.memory.remember(key, reward)
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.env.action_masks()


def _scalarized_reward(scalarizer: Scalarizer, run: SearchRun, key: tuple[int, ...]) -> float:
    """An episode's reward to train on: ``key``'s objectives under a weight vector drawn for this episode."""
    weights = scalarizer.draw()
    for name, w in zip(scalarizer.objectives, weights, strict=True):
        run.log_scalar(f"charts/weight_{name}", float(w))
    return scalarizer.rewards([key], weights)[0]


class _Scalarize(gym.Wrapper):
    """Replaces the reward of each scored (or reused) episode by a random scalarisation of its objectives.

    Wraps ``run.env`` (or :class:`_ReuseRewards` around it): the env still
    scores, pays and records every architecture; only the reward SB3 sees
    changes. The objectives of a newly scored architecture are read from the
    final ``info`` (and remembered by the :class:`~agents.reinforce.Scalarizer`,
    so a reused episode, whose ``info`` has none, is scalarised from them).
    An episode ended by an invalid action keeps the env's penalty.
    """

    def __init__(self, env: gym.Env, run: SearchRun, scalarizer: Scalarizer):
        super().__init__(env)
        self._run = run
        self._scalarizer = scalarizer
        self._prefix: list[int] = []

    def reset(self, **kwargs):
        self._prefix = []
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._prefix.append(int(action))
        if terminated and ("arch" in info or info.get("reused")):
            key = tuple(self._prefix)
            if "arch" in info:
                self._scalarizer.observe(key, info)
            reward = _scalarized_reward(self._scalarizer, self._run, key)
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.env.action_masks()


class _WarmWhenStale:
    """A policy mixin: while repeats come in a row, actions are sampled from a warmer softmax.

    ``temperature`` (set after the model is made) gives the sampling
    temperature for the next step. Only the rollout's sampling is warmed: the
    stored log-probability is the policy's own (temperature 1), so PPO's
    ratio starts at 1 and the update is the usual one on these episodes.
    """

    temperature: Callable[[], float] = staticmethod(lambda: 1.0)

    def forward(self, obs: torch.Tensor, deterministic: bool = False, **masks: Any):
        t = self.temperature()
        if t == 1.0 or deterministic:
            return super().forward(obs, deterministic, **masks)
        features = self.extract_features(obs)
        if self.share_features_extractor:
            latent_pi, latent_vf = self.mlp_extractor(features)
        else:
            latent_pi = self.mlp_extractor.forward_actor(features[0])
            latent_vf = self.mlp_extractor.forward_critic(features[1])
        logits = self.action_net(latent_pi)
        # proba_distribution returns the policy's one distribution object: sample first, then score.
        actions = self._masked(logits / t, masks).get_actions()
        log_prob = self._masked(logits, masks).log_prob(actions)
        return actions.reshape((-1, *self.action_space.shape)), self.value_net(latent_vf), log_prob

    def _masked(self, logits: torch.Tensor, masks: dict[str, Any]):
        distribution = self.action_dist.proba_distribution(action_logits=logits)
        if masks.get("action_masks") is not None:
            distribution.apply_masking(masks["action_masks"])
        return distribution


#: PPO's former defaults, SB3's MLP on the prefix at lr 3e-3, 2 episodes a rollout in one minibatch
#: (``PPOSearch.MLP``; ``mo_ppo``'s defaults).
_MLP = {"policy": "mlp", "learning_rate": 3e-3, "episodes_per_update": 2, "num_minibatches": 1}


class _PositionFeatures(BaseFeaturesExtractor):
    """Only which decision comes next (a one-hot of the position): with no hidden layers, a factorized policy.

    The env's observation is the prefix so far (``MultiDiscrete(nvec + 1)``, 0
    = not decided yet), which SB3 one-hot encodes block by block; a block's
    first entry is 1 while its decision is open, so the position is the number
    of blocks whose first entry is 0. A linear policy head on this one-hot is
    one table of logits per decision, independent of the earlier choices: the
    policy of NAS-Bench-201's REINFORCE baseline, here trained by PPO.
    """

    def __init__(self, observation_space: gym.spaces.MultiDiscrete):
        nvec = np.asarray(observation_space.nvec, dtype=np.int64)
        super().__init__(observation_space, features_dim=len(nvec))
        self.register_buffer("_open", torch.as_tensor(np.concatenate([[0], np.cumsum(nvec)[:-1]])), persistent=False)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        position = (1 - observations[:, self._open]).sum(dim=1).long().clamp(max=self.features_dim - 1)
        return torch.nn.functional.one_hot(position, self.features_dim).to(observations.dtype)


def _policy_kwargs(cfg: PPOSettings) -> dict[str, Any]:
    """SB3's ``policy_kwargs``: an MLP on the prefix, or (``factorized``) linear heads on the position alone."""
    if cfg.policy == "factorized":
        return {"net_arch": {"pi": [], "vf": []}, "features_extractor_class": _PositionFeatures}
    return {"net_arch": {"pi": list(cfg.net_arch), "vf": list(cfg.net_arch)}}


@functools.cache
def _warm_policy(masked: bool) -> type:
    """SB3's MLP policy (MaskablePPO's or PPO's) with :class:`_WarmWhenStale` sampling."""
    if masked:
        from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy as base
    else:
        from stable_baselines3.common.policies import ActorCriticPolicy as base
    return type(f"Warm{base.__name__}", (_WarmWhenStale, base), {})


class _RunVecEnv(DummyVecEnv):
    """``run.workers`` copies of the run's env stepped in lockstep; the run's workers score the architectures.

    Decisions take microseconds, so every copy makes them in this process,
    each with its own action masks (MaskablePPO reads them through
    ``env_method("action_masks")``). An action that completes a valid
    architecture does not reach the copy: the architecture goes to
    :meth:`SearchRun.submit`, so the run's evaluation pool (worker processes
    or Ray) scores the architectures completed in one step at once, and
    :meth:`SearchRun.result` hands back each env's final ``info`` and records
    it, in env-index order. Every reward is still one an env paid, histories
    are deterministic for a seed, a resumed run replays them, and the
    shared cache keeps any architecture from being trained twice.

    Architectures completed after the budget is spent are not scored (reward
    0, ``info["unscored"]``); training stops at that step anyway.

    With a ``scalarizer`` (multi-objective search) each completed episode's
    reward is a random scalarisation of its objectives, as in :class:`_Scalarize`.
    """

    def __init__(self, run: SearchRun, memory: RewardMemory | None, scalarizer: Scalarizer | None = None):
        super().__init__([functools.partial(gym.make, run.env_id, **run.env_kwargs) for _ in range(run.workers)])
        self.run = run
        self.memory = memory
        self.scalarizer = scalarizer
        self._n = run.space.num_decisions
        self._prefixes: list[list[int]] = [[] for _ in range(self.num_envs)]

    def reset(self):
        self._prefixes = [[] for _ in range(self.num_envs)]
        return super().reset()

    def step_wait(self):
        completed: list[tuple[int, tuple[int, ...]]] = []
        for i, env in enumerate(self.envs):
            a = int(self.actions[i])
            if len(self._prefixes[i]) == self._n - 1 and env.get_wrapper_attr("action_masks")()[a]:
                completed.append((i, (*self._prefixes[i], a)))
                continue
            obs, self.buf_rews[i], terminated, truncated, info = env.step(a)
            self._prefixes[i].append(a)
            self._finish(i, obs, terminated, truncated, info)
        if completed:
            self._score(completed)
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), copy.deepcopy(self.buf_infos)

    def _score(self, completed: list[tuple[int, tuple[int, ...]]]) -> None:
        """Submit the new architectures of this step together, then collect them in env-index order."""
        submitted: set[tuple[int, ...]] = set()
        plan: list[tuple[int, tuple[int, ...], str, float | None]] = []  # env, architecture, how, recalled reward
        for i, key in completed:
            reward = self.memory.recall(key) if self.memory is not None else None
            if reward is not None:
                plan.append((i, key, "reused", reward))
            elif key in submitted and self.memory is not None:
                self.memory.mark_stale()  # the same new architecture twice in one step: the copy reuses the first
                plan.append((i, key, "twin", None))
            else:
                try:
                    self.run.submit(key)
                except BudgetExhausted:
                    plan.append((i, key, "unscored", 0.0))
                    continue
                submitted.add(key)
                plan.append((i, key, "scored", None))
        rewards: dict[tuple[int, ...], float] = {}
        n_actions = self.action_space.n
        for i, key, how, reward in plan:
            if how == "scored":  # results come back in submission order, which is this order
                info = dict(self.run.result())
                reward = rewards[key] = float(info["reward"])
                if self.memory is not None:
                    self.memory.remember(key, reward)
                if self.scalarizer is not None:
                    self.scalarizer.observe(key, info)
            elif how == "unscored":
                info = {"action_mask": np.zeros(n_actions, dtype=bool), "step": self._n, "unscored": True}
            else:  # reused from an earlier step, or the twin of one scored in this step
                reward = reward if how == "reused" else rewards[key]
                info = _reused_info(n_actions, self._n)
            if self.scalarizer is not None and how != "unscored":
                reward = _scalarized_reward(self.scalarizer, self.run, key)
            self.buf_rews[i] = reward
            self._finish(i, self.envs[i].unwrapped.observation(key), True, False, info)

    def _finish(self, i: int, obs: np.ndarray, terminated: bool, truncated: bool, info: dict[str, Any]) -> None:
        """Store env ``i``'s step as DummyVecEnv does (resetting it when its episode ended)."""
        self.buf_dones[i] = terminated or truncated
        info["TimeLimit.truncated"] = truncated and not terminated
        if self.buf_dones[i]:
            info["terminal_observation"] = obs
            obs, self.reset_infos[i] = self.envs[i].reset()
            self._prefixes[i] = []
        self.buf_infos[i] = info
        self._save_obs(i, obs)


class _StopAtBudget(BaseCallback):
    """Stops SB3 training once ``run.done`` and mirrors SB3's training values into the run's logger.

    The run's TensorBoard is the one run of the folder, x = architectures
    evaluated, and its ``nas/*`` tags are the run's own (one point per
    evaluation): SB3's logger writes nothing. After each update its losses
    go to the run's logger under CleanRL's tags (:data:`CLEANRL_TAGS`), its
    other changing values under ``sb3/`` (:data:`SB3_TAGS`), and the mean
    reward of the last 100 episodes as SB3 saw them (reused and, for
    ``mo_ppo``, scalarised) as ``sb3/rollout/ep_rew_mean``.
    """

    def __init__(self, run: SearchRun):
        super().__init__()
        self.run = run
        self._updates_logged = 0
        self._start = time.perf_counter()

    def _on_rollout_start(self) -> None:
        # SB3 records train/* after dumping its logs, so the last update's values
        # are still pending here, at the start of the next rollout.
        if self.model._n_updates == self._updates_logged:
            return
        self._updates_logged = self.model._n_updates
        values = self.model.logger.name_to_value
        for sb3_tag, (tag, sign) in CLEANRL_TAGS.items():
            if sb3_tag in values:
                self.run.log_scalar(tag, sign * values[sb3_tag])
        for sb3_tag in SB3_TAGS:
            if sb3_tag in values:
                self.run.log_scalar(f"sb3/{sb3_tag}", values[sb3_tag])
        if self.model.ep_info_buffer:
            self.run.log_scalar("sb3/rollout/ep_rew_mean", safe_mean([ep["r"] for ep in self.model.ep_info_buffer]))
        self.run.log_scalar("charts/SPS", self.num_timesteps / max(time.perf_counter() - self._start, 1e-9))

    def _on_step(self) -> bool:
        return not self.run.done


#: What PPO's integer hyperparameters must be, in messages.
_WHOLE = "> 0 (an integer)"


@dataclasses.dataclass(frozen=True)
class PPOSettings(SearcherSettings):
    """Hyperparameters of :class:`PPOSearch` (its docstring has SB3's defaults; measurements in docs/methods/rl.md)."""

    owner = "PPO"

    masked: bool = setting(True, boolean)
    """Use MaskablePPO with the env's action masks; False for plain SB3 PPO."""
    learning_rate: float = setting(0.03, positive, hint="SB3 uses 3e-4; 0.03 suits the factorized policy at "
                                   "budgets of ~100, 3e-3 the MLP (PPOSearch.MLP).")
    """Adam learning rate (SB3: 3e-4)."""
    episodes_per_update: int = setting(4, positive_int, expected=_WHOLE)
    """Architectures per rollout; ``n_steps`` is this times the decisions per architecture (SB3: ``n_steps=2048``)."""
    num_minibatches: int = setting(4, positive_int, expected=_WHOLE, hint="CleanRL uses 4.")
    """Minibatches per epoch; must divide ``episodes_per_update`` (CleanRL: 4; SB3: ``batch_size=64``)."""
    n_epochs: int = setting(4, positive_int, expected=_WHOLE, hint="SB3 uses 10.")
    """Passes over each rollout (SB3: 10)."""
    gamma: float = setting(1.0, in_range(0, 1), hint="SB3 uses 0.99; 1 passes the final reward on undiscounted.")
    """Discount factor (SB3: 0.99)."""
    gae_lambda: float = setting(1.0, in_range(0, 1), hint="SB3 uses 0.95.")
    """GAE lambda (SB3: 0.95)."""
    clip_range: float = setting(0.2, positive, hint="SB3 uses 0.2.")
    """PPO clipping parameter (SB3: 0.2)."""
    ent_coef: float = setting(0.01, non_negative, hint="SB3 uses 0.")
    """Entropy bonus coefficient (SB3: 0)."""
    vf_coef: float = setting(0.5, non_negative, hint="SB3 uses 0.5.")
    """Value loss coefficient (SB3: 0.5)."""
    max_grad_norm: float = setting(0.5, positive, hint="SB3 uses 0.5.")
    """Gradient clipping norm (SB3: 0.5)."""
    net_arch: tuple[int, ...] = setting((64,), sequence_of(positive_int), hint="SB3 uses [64, 64].")
    """Hidden layer sizes of the separate policy and value MLPs (SB3: ``[64, 64]``); unused when factorized."""
    policy: str = setting("factorized", one_of("mlp", "factorized"), hint="SB3's is 'mlp' (PPOSearch.MLP).")
    """``"mlp"`` (SB3's MLP on the prefix) or ``"factorized"`` (one softmax per decision, ``_PositionFeatures``)."""
    reuse_rewards: bool = setting(True, boolean)
    """A repeated architecture gets the env's earlier reward instead of a second evaluation."""
    max_stale_episodes: int = setting(10, non_negative_int)
    """With ``reuse_rewards``: after this many such episodes in a row, the next repeat is evaluated anyway."""
    stale_temperature: float = setting(1.0, in_range(1, None), hint="1 samples the policy as it is (SB3).")
    """With ``reuse_rewards``: each repeat in a row multiplies the sampling temperature by this."""
    scalarization: str | None = setting(None, SCALARIZATION_CHECK)
    """None: the env's reward; ``"random_linear"``/``"random_tchebycheff"``: new random weights each episode."""
    objectives: tuple[str, ...] = setting(ACCURACY_LATENCY, OBJECTIVES_CHECK)
    """With ``scalarization``: the objectives of each evaluation to scalarise (latency, params and FLOPs minimised)."""

    def validate(self) -> None:
        """Minibatches must hold whole architectures, and ``objectives`` must name two distinct objectives.

        Raises:
            ConfigError: ``num_minibatches`` does not divide ``episodes_per_update``, or fewer than
                two objectives, or one named twice.
        """
        check_objectives(self.label(), self.objectives)
        if self.episodes_per_update % self.num_minibatches:
            raise ConfigError(
                f"PPO num_minibatches must divide episodes_per_update so minibatches hold whole architectures; "
                f"got episodes_per_update={self.episodes_per_update}, num_minibatches={self.num_minibatches}. "
                f"Pick e.g. num_minibatches=1 or a multiple of it for episodes_per_update."
            )


class PPOSearch(Searcher):
    """Proximal Policy Optimization (Schulman et al., 2017) as a NAS controller, via SB3.

    With ``masked=True`` (default) it is sb3-contrib's MaskablePPO, which reads
    the env's ``action_masks()`` and never takes an invalid action; with
    ``masked=False`` it is plain SB3 PPO, which learns to avoid invalid actions
    from the env's penalty (those episodes are not scored, so they cost
    timesteps, not budget). On NAS-Bench-201 every action is valid and both
    give identical histories; on ``NAS-v0`` almost every unmasked episode hits
    an invalid action, all of them pay the same penalty, so plain PPO gets no
    learning signal and stops with a warning after
    :data:`UNMASKED_TIMESTEP_FACTOR` times the budget's timesteps.

    Rollouts and minibatches are counted in whole architectures (episodes), so
    one setting fits spaces with any number of decisions: SB3's ``n_steps`` is
    ``episodes_per_update x num_decisions`` and its ``batch_size`` is
    ``n_steps / num_minibatches``. The literature defaults (SB3 / Schulman et
    al., for millions of steps) are ``n_steps=2048``, ``batch_size=64``,
    ``n_epochs=10``, ``learning_rate=3e-4``, ``gamma=0.99``,
    ``gae_lambda=0.95``, ``clip_range=0.2``, ``ent_coef=0``, ``vf_coef=0.5``,
    ``net_arch=[64, 64]``; the defaults below are tuned for budgets of about
    100 architectures on NAS-Bench-201-v0 (6 decisions per episode): short
    rollouts so the policy updates every few architectures, several epochs,
    a larger learning rate, and ``gamma = gae_lambda = 1`` because the only
    reward is the final one and must reach every decision undiscounted.

    The default policy is **factorized** (``policy="factorized"``, lr 0.03):
    one softmax per decision, independent of the earlier choices
    (:class:`_PositionFeatures` gives the heads only the position), as
    NAS-Bench-201's REINFORCE baseline, trained by PPO's clipped objective;
    the value head is then one baseline per decision. Each rollout holds
    ``episodes_per_update=4`` architectures in ``num_minibatches=4``
    minibatches of one architecture each. :attr:`MLP` holds the former
    defaults (SB3's MLP on the prefix, lr 3e-3, 2 architectures in one
    minibatch).

    With ``--workers N`` (``run.workers > 1``) SB3 gets ``N`` env copies, each
    rollout takes ``ceil(episodes_per_update / N)`` architectures from every
    copy, and the ``N`` architectures completed in a step are evaluated at
    once by the run's workers. This is a different (vectorised) rollout than
    with one worker, so its history differs from the one-worker history; for
    a given ``N`` and seed it is deterministic.

    Reward reuse (``reuse_rewards``, default on): an architecture the policy
    completes again gets the reward the env returned for it before (a
    :class:`~nas_gym.search.reward_memory.RewardMemory`), without a second
    evaluation, so only new architectures spend budget. After
    ``max_stale_episodes`` such episodes in a row the next repeat is
    evaluated anyway, so a collapsed policy still spends its budget.

    Warm draws after repeats (``stale_temperature``, opt-in): each repeat in
    a row multiplies the temperature the rollout samples at by this
    (:class:`_WarmWhenStale`; the log-probability PPO stores stays the
    policy's own), so a settled policy explores near its mode instead of
    re-evaluating it.

    Multi-objective training (``scalarization``, default None = the env's
    reward): with ``"random_linear"`` or ``"random_tchebycheff"`` each
    episode's reward, as SB3 sees it, is a random scalarisation of
    ``objectives`` (see :class:`MOPPOSearch`); the env still pays and the run
    records its own reward.

    The hyperparameters are the fields of :class:`PPOSettings`, given as
    keyword arguments.

    Results and the sweeps behind the defaults: docs/methods/rl.md.

    Raises:
        ConfigError: For an unknown hyperparameter, a non-positive count or
            rate, or ``num_minibatches`` not dividing ``episodes_per_update``.
    """

    name = "ppo"
    Settings = PPOSettings
    #: The former defaults (SB3's MLP on the prefix, lr 3e-3): ``PPOSearch(**PPOSearch.MLP)``.
    MLP = dict(_MLP)

    settings: PPOSettings

    def search(self, run: SearchRun) -> None:
        """Train PPO on ``run.env`` until the run's budget is spent."""
        # A 64-unit MLP gains nothing from a thread pool; on a busy machine the
        # pool's synchronisation makes each update several times slower.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            self._learn(run)
        finally:
            torch.set_num_threads(threads)

    def _learn(self, run: SearchRun) -> None:
        cfg = self.settings
        num_decisions = run.space.num_decisions
        n_steps = cfg.episodes_per_update * num_decisions
        if cfg.masked:
            from sb3_contrib import MaskablePPO as algo
        else:
            from stable_baselines3 import PPO as algo

        # Monitor gives SB3 its episode statistics (rollout/ep_rew_mean); the
        # VecEnv's automatic reset after each episode only starts a new
        # architecture, it never scores one.
        scalarizer = scalarizer_for(cfg, run)
        memory = None
        if run.workers == 1:
            env = _ReuseRewards(run.env, cfg.max_stale_episodes) if cfg.reuse_rewards else run.env
            memory = env.memory if cfg.reuse_rewards else None
            if scalarizer is not None:
                env = _Scalarize(env, run, scalarizer)
            vec_env = DummyVecEnv([lambda: Monitor(env)])
        else:
            # One env copy per worker; a rollout keeps about episodes_per_update architectures in all.
            # One stale unit: an episode answered from memory, or the twin of one scored in the same step.
            memory = RewardMemory(cfg.max_stale_episodes) if cfg.reuse_rewards else None
            vec_env = VecMonitor(_RunVecEnv(run, memory, scalarizer))
            n_steps = -(-cfg.episodes_per_update // run.workers) * num_decisions
        rollout = n_steps * vec_env.num_envs
        warm = memory is not None and cfg.stale_temperature != 1.0
        model = algo(
            _warm_policy(cfg.masked) if warm else "MlpPolicy", vec_env, learning_rate=cfg.learning_rate,
            n_steps=n_steps,
            batch_size=max(1, rollout // cfg.num_minibatches), n_epochs=cfg.n_epochs, gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range, ent_coef=cfg.ent_coef,
            vf_coef=cfg.vf_coef, max_grad_norm=cfg.max_grad_norm,
            policy_kwargs=_policy_kwargs(cfg),
            seed=run.seed, device="cpu", verbose=0,
        )
        if warm:
            model.policy.temperature = lambda: cfg.stale_temperature ** memory.stale
        # SB3's logger only collects its values for _StopAtBudget to mirror into the run's TensorBoard:
        # an output of its own would be a second run in the folder, on a timesteps axis.
        model.set_logger(Logger(folder=None, output_formats=[]))

        factor = 1 if cfg.masked else UNMASKED_TIMESTEP_FACTOR
        # Reused episodes spend timesteps but no budget: at most max_stale_episodes per new one.
        reuse = cfg.max_stale_episodes + 1 if cfg.reuse_rewards else 1
        total_timesteps = run.remaining * num_decisions * factor * reuse + rollout
        try:
            model.learn(total_timesteps=total_timesteps, callback=_StopAtBudget(run), log_interval=1)
        finally:
            if run.workers > 1:
                vec_env.close()  # the env copies; run.env belongs to the run
        if not run.done:
            logger.warning(
                "PPO used its %d timesteps with %d of %d architectures evaluated; most episodes ended on "
                "invalid actions. Use masked=True.", total_timesteps, run.num_evaluated, run.budget.evaluations,
            )



@dataclasses.dataclass(frozen=True)
class MOPPOSettings(PPOSettings):
    """Hyperparameters of :class:`MOPPOSearch`: those of PPO, with random linear scalarisation on."""

    owner = "MOPPO"

    # Its measured fronts are the MLP's (PPOSearch.MLP): the factorized default came after them.
    policy: str = setting(_MLP["policy"], one_of("mlp", "factorized"))
    """``"mlp"`` (SB3's MLP on the prefix) or ``"factorized"`` (one softmax per decision)."""
    learning_rate: float = setting(_MLP["learning_rate"], positive)
    """Adam learning rate."""
    episodes_per_update: int = setting(_MLP["episodes_per_update"], positive_int, expected=_WHOLE)
    """Architectures per rollout."""
    num_minibatches: int = setting(_MLP["num_minibatches"], positive_int, expected=_WHOLE)
    """Minibatches per epoch; must divide ``episodes_per_update``."""
    scalarization: str | None = setting("random_linear", SCALARIZATION_CHECK)
    """``"random_linear"`` (weighted sum), ``"random_tchebycheff"`` (ParEGO's), or None (the env's reward)."""


class MOPPOSearch(PPOSearch):
    """Multi-objective PPO: random scalarisation per episode, in the manner of ParEGO (Knowles 2006).

    :class:`PPOSearch` trained on a different trade-off between
    ``objectives`` (default validation accuracy and latency) for every
    episode, so that the architectures it evaluates spread along the Pareto
    front. When an episode completes an architecture, a weight vector ``w``
    is drawn from the flat Dirichlet over the objectives (from ``run.rng``,
    so a seed fixes every draw) and the reward SB3 trains on is

        ``R = sum_i w_i * n_i(arch)``

    where ``n_i`` is objective ``i`` of the evaluation (read from the final
    step's ``info``, whatever the env's scalar reward is), signed so that
    larger is better (latency, params and FLOPs minimised, as
    :data:`nas_gym.multi_objective.pareto.OBJECTIVES` says) and normalised to ``[0, 1]`` by
    the smallest and largest values seen so far in the search (see
    :class:`~agents.reinforce.Scalarizer`). ParEGO scalarises with a
    normalised *augmented Tchebycheff* function instead;
    ``scalarization="random_tchebycheff"`` does that (``rho = 0.05``), and
    ``scalarization=None`` is plain :class:`PPOSearch`.

    One weight vector per *episode*, not per rollout: the reward is set at
    the episode's last step, when SB3 stores it, so the draw goes there; a
    per-rollout draw would have to rewrite SB3's rollout buffer (and its
    returns and advantages) after the fact. The reward an episode gets is
    fixed when it ends (the bounds of that moment); later episodes are
    scalarised with the bounds of theirs. The policy does not see the
    weights; they are logged as ``charts/weight_<objective>``.

    The env still pays its own reward and the run records every evaluation
    as usual; only what the policy learns from changes. Reward reuse keeps
    working: the scalariser remembers the objectives of each architecture
    evaluated, so a repeated episode gets its objectives under a new weight
    vector and the current bounds, without a second evaluation. With
    ``--workers N`` the same happens in the lockstep vector env. An episode
    ended by an invalid action (``masked=False``) keeps the env's penalty.

    It needs every objective of every evaluation: on an env without a
    latency model (``info["latency_ms"]`` is None) the first evaluation
    raises :class:`~nas_gym.error.ConfigError`.

    Measured on NAS-Bench-201-v0 (CIFAR-100 columns,
    ``latency_column="lat_fpga_ms"``, budget 100, seeds 0-9; hypervolume as
    a fraction of the whole table's, reference point at the table's median
    validation accuracy and 90th-percentile latency, mean ± 95% CI):
    ``mo_ppo`` 0.624 ± 0.048, with ``scalarization="random_tchebycheff"``
    0.659 ± 0.036; ``ppo`` on the env's accuracy-only reward 0.558 ± 0.087;
    random search 0.648 ± 0.052. At budget 30 its hypervolume is no better
    than PPO's; its evaluations are faster, though.

    The hyperparameters are the fields of :class:`MOPPOSettings`.
    """

    name = "mo_ppo"
    Settings = MOPPOSettings

    settings: MOPPOSettings
