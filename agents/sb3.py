"""Any stable-baselines3 (or sb3-contrib) algorithm as a search method: ``--agent sb3:A2C``, ``sb3-contrib:TRPO``.

The algorithm trains on ``run.env`` as on any Gymnasium env (wrapped in SB3's
``Monitor`` and ``DummyVecEnv``): one episode is one architecture, the env
scores and records it, and a callback stops training as soon as the run's
budget is spent (the one of :mod:`agents.ppo`, which also mirrors SB3's
training values into the run's TensorBoard). Nothing of the algorithm is
changed; so that it learns at all within a NAS budget of a few hundred
episodes, the settings that SB3 sizes for millions of steps are scaled to the
budget where the user gives none (:func:`_budget_scaled`):

- on-policy algorithms with a rollout length (PPO, TRPO, MaskablePPO, whose
  ``n_steps=2048`` would be more steps than the whole search) collect
  ``episodes_per_rollout`` architectures per update, in one mini-batch;
- off-policy ones (DQN, QR-DQN) update their target network every
  ``10`` architectures (SB3: every 10,000 steps) and keep a replay buffer no
  larger than the run can fill.

A2C's ``n_steps=5`` and every other setting keep SB3's defaults; any of them
can be given as a hyperparameter (``--agent-kwargs '{"learning_rate": 1e-3}'``).
An algorithm that cannot take a ``Discrete`` action space (SAC, TD3, ...) is
refused with a message.

Spaces whose decisions have different numbers of choices (``layers``, the
slot spaces) forbid some actions at some steps. MaskablePPO reads the env's
``action_masks()``. The other algorithms cannot, and on the layer-wise space
almost every episode of a random policy takes a forbidden action somewhere
in its 20 decisions: with the env's penalty, which ends the episode and
scores nothing, A2C evaluated 4 architectures in 20,000 steps. So by default
(``invalid_actions="remap"``) a forbidden action is replaced before it
reaches the env by the valid choice ``valid[action % len(valid)]``: a fixed,
deterministic map, so the algorithm still learns a proper MDP, and every
reward is still the env's for the architecture it scored. With
``invalid_actions="penalty"`` the algorithm meets the env's penalty instead
and gets up to ``timestep_factor`` times the steps the budget needs. On
NAS-Bench-201 every action is always valid and the two are the same. A run is
seeded and single-threaded, so a killed run resumes by replaying its history.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from nas_gym.agents.ppo import _StopAtBudget
from nas_gym.error import ConfigError, MissingDependencyError, did_you_mean
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings
from nas_gym.utils.hparams import one_of, positive_int, setting, string

logger = logging.getLogger(__name__)

#: The families ``sb3:NAME`` and ``sb3-contrib:NAME``: the module each algorithm class is read from.
FAMILIES = {"sb3": "stable_baselines3", "sb3-contrib": "sb3_contrib"}
#: Architectures between target-network updates of DQN-like algorithms (SB3: 10,000 steps).
TARGET_UPDATE_EPISODES = 10


@dataclasses.dataclass(frozen=True)
class SB3Settings(SearcherSettings):
    """Settings of :class:`SB3Agent` itself; the algorithm's own hyperparameters are passed through."""

    owner = "SB3Agent"

    policy: str = setting("MlpPolicy", string)
    """SB3 policy name (its ``MlpPolicy`` one-hot encodes the env's MultiDiscrete observation)."""
    episodes_per_rollout: int = setting(4, positive_int)
    """Architectures per update of an on-policy algorithm with a rollout length (``n_steps`` is this x decisions)."""
    invalid_actions: str = setting("remap", one_of("remap", "penalty"))
    """``remap``: a forbidden action becomes the valid choice ``valid[action % len(valid)]``; ``penalty``: the env's."""
    timestep_factor: int = setting(10, positive_int)
    """Steps allowed per architecture of the budget, as a multiple of the decisions, with ``penalty`` and no masks."""


class RemapInvalid(gym.ActionWrapper):
    """Replaces an action the env's mask forbids by the valid choice ``valid[action % len(valid)]``.

    The env still scores the architecture the remapped actions make; only which
    action of the policy's stands for which choice changes, the same way at
    every visit of a state.
    """

    def action(self, action):
        """The action itself where the mask allows it, else its valid stand-in."""
        a = int(action)
        mask = self.env.unwrapped.action_masks()
        if 0 <= a < len(mask) and mask[a]:
            return a
        valid = np.flatnonzero(mask)
        return int(valid[a % len(valid)])

    def action_masks(self) -> np.ndarray:
        """The env's mask (what the env allows, before remapping)."""
        return self.env.unwrapped.action_masks()


def _algorithm_class(family: str, name: str) -> type[BaseAlgorithm]:
    """The algorithm class ``name`` of ``family`` (``sb3`` or ``sb3-contrib``)."""
    module_name = FAMILIES[family]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:  # sb3-contrib is a dependency, but a trimmed install may lack it
        raise MissingDependencyError(f"--agent {family}:{name} needs the {module_name} package: "
                                     f"pip install {family.replace('sb3', 'stable-baselines3', 1)}.") from e
    found = {
        n: c for n, c in vars(module).items()
        if inspect.isclass(c) and issubclass(c, BaseAlgorithm) and not inspect.isabstract(c)
    }
    if name not in found:
        raise ConfigError(f"{module_name} has no algorithm {name!r}.{did_you_mean(name, found)} "
                          f"Known: {', '.join(sorted(found))}.")
    return found[name]


def _budget_scaled(algo: type[BaseAlgorithm], num_decisions: int, settings: SB3Settings,
                   total_timesteps: int) -> dict[str, Any]:
    """The algorithm settings scaled to a NAS budget (see the module docstring); the user's override them."""
    params = inspect.signature(algo.__init__).parameters
    scaled: dict[str, Any] = {}
    if "n_steps" in params and (params["n_steps"].default or 0) > 256:
        scaled["n_steps"] = settings.episodes_per_rollout * num_decisions
        if "batch_size" in params:
            scaled["batch_size"] = scaled["n_steps"]
    if "target_update_interval" in params:
        scaled["target_update_interval"] = TARGET_UPDATE_EPISODES * num_decisions
    if "buffer_size" in params:
        scaled["buffer_size"] = min(int(params["buffer_size"].default), total_timesteps)
    return scaled


class SB3Agent(Searcher):
    """An SB3 algorithm trained on the NAS env for the run's budget of evaluations.

    Build one through its family, ``load_searcher("sb3:DQN")`` (``--agent sb3:DQN``):
    :func:`stable_baselines3_agent` and :func:`sb3_contrib_agent` return a
    subclass fixed to one algorithm. Keyword arguments that are not
    :class:`SB3Settings` go to the algorithm's constructor and are checked
    against its signature.
    """

    name = "sb3"
    Settings = SB3Settings
    #: The family and algorithm a subclass is fixed to.
    family: ClassVar[str] = "sb3"
    algorithm: ClassVar[str] = ""

    settings: SB3Settings

    def __init__(self, **hparams: Any):
        own = {f.name for f in dataclasses.fields(SB3Settings)}
        super().__init__(**{k: v for k, v in hparams.items() if k in own})
        self.algo = _algorithm_class(self.family, self.algorithm)
        params = inspect.signature(self.algo.__init__).parameters
        reserved = {"self", "policy", "env", "seed", "device", "verbose", "tensorboard_log"}
        allowed = [p for p in params if p not in reserved and not p.startswith("_")
                   and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
        extra = {k: v for k, v in hparams.items() if k not in own}
        for key in extra:
            if key not in allowed:
                raise ConfigError(
                    f"{self.name} has no setting {key!r}.{did_you_mean(key, [*allowed, *own])} Its settings: "
                    f"{', '.join(sorted(own))}; {self.algorithm}'s: {', '.join(allowed)}."
                )
        self.algo_kwargs = extra

    def hparams(self) -> dict[str, Any]:
        """The agent's settings and the algorithm hyperparameters given (the others are SB3's or budget-scaled)."""
        return {**super().hparams(), "algorithm": f"{self.family}:{self.algorithm}", "algo_kwargs": self.algo_kwargs}

    def search(self, run: SearchRun) -> None:
        """Train the algorithm on ``run.env`` until the run's budget is spent."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small MLPs; a thread pool only adds synchronisation (and nondeterminism)
        try:
            self._learn(run)
        finally:
            torch.set_num_threads(threads)

    def _learn(self, run: SearchRun) -> None:
        if run.workers > 1:
            logger.warning("%s trains on one env; its architectures are evaluated one at a time (workers=%d "
                           "left unused).", self.name, run.workers)
        num_decisions = run.space.num_decisions
        masked = "MaskablePPO" in self.algo.__name__
        remap = not masked and self.settings.invalid_actions == "remap"
        factor = 1 if masked or remap else self.settings.timestep_factor
        total_timesteps = run.remaining * num_decisions * factor
        kwargs = {**_budget_scaled(self.algo, num_decisions, self.settings, total_timesteps), **self.algo_kwargs}
        env = RemapInvalid(run.env) if remap else run.env
        vec_env = DummyVecEnv([lambda: Monitor(env)])
        try:
            model = self.algo(self.settings.policy, vec_env, seed=run.seed, device="cpu", verbose=0, **kwargs)
        except AssertionError as e:  # SB3 asserts the action space it supports
            raise ConfigError(f"{self.name} cannot search this env: {e} The NAS env's actions are "
                              f"{run.env.action_space}.") from e
        # SB3's values go to the run's TensorBoard through the callback; an output of its own would be a
        # second run in the folder, on a timesteps axis.
        model.set_logger(Logger(folder=None, output_formats=[]))
        model.learn(total_timesteps=total_timesteps, callback=_StopAtBudget(run), log_interval=1)
        if not run.done:
            logger.warning(
                "%s used its %d timesteps with %d of %d architectures evaluated; most episodes ended on invalid "
                "actions. Use invalid_actions='remap', raise timestep_factor or use sb3-contrib:MaskablePPO.",
                self.name, total_timesteps, run.num_evaluated, run.budget.evaluations,
            )


def _agent(family: str, algorithm: str) -> type[SB3Agent]:
    algo = _algorithm_class(family, algorithm)  # unknown names fail here, with the known ones
    return type(f"{family}:{algorithm}", (SB3Agent,), {
        "name": f"{family}:{algorithm}", "family": family, "algorithm": algo.__name__,
        "__module__": __name__, "__doc__": f"{algo.__name__} from {FAMILIES[family]} as a search method.",
    })


def stable_baselines3_agent(algorithm: str) -> type[SB3Agent]:
    """The search method ``sb3:ALGORITHM`` (an algorithm class of ``stable_baselines3``, e.g. ``A2C``, ``DQN``)."""
    return _agent("sb3", algorithm)


def sb3_contrib_agent(algorithm: str) -> type[SB3Agent]:
    """The search method ``sb3-contrib:ALGORITHM`` (e.g. ``TRPO``, ``QRDQN``, ``MaskablePPO``)."""
    return _agent("sb3-contrib", algorithm)
