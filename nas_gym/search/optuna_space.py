"""Drive a nas_gym env's search space from an Optuna study, hard limits included.

The public API, for your own Optuna study (see the docs page "Optuna studies"):

- :func:`suggest_architecture`: ask a trial for one valid architecture of an
  env's space, as the env's actions (masks respected).
- :func:`objective`: an Optuna objective (``study.optimize``, or ask-and-tell)
  that suggests an architecture, plays it through ``env.reset``/``env.step``
  and returns the env's reward, with the env's hard limits (``params_limit``,
  ``latency_limit_ms``) set as the trial's Optuna constraint :data:`CONSTRAINT`.

>>> import gymnasium as gym, optuna, nas_gym
>>> from nas_gym.search.optuna_space import objective
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> env = gym.make("NAS-Bench-201-v0", cache=False)
>>> study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
>>> study.optimize(lambda trial: objective(trial, env), n_trials=5)
>>> study.best_trial.user_attrs["arch"].startswith("|")
True

The lower-level pieces the built-in methods (``tpe``, ``nsga2``, ``asha``,
``bohb``) use are here too: :func:`suggest_indices` works on a bare
:class:`~nas_gym.spaces.SearchSpace`, and :func:`constraint_violation` reads
an evaluation's violation of the limits. Constraints are set with
``trial.set_constraint`` (Optuna 5's replacement of the samplers' deprecated
``constraints_func``; a value > 0 is infeasible), which Optuna's TPE,
NSGA-II and GP samplers read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ConfigError
from nas_gym.search.pools import play_episode
from nas_gym.spaces import SearchSpace

if TYPE_CHECKING:
    import gymnasium as gym
    import optuna

    from nas_gym.env.nas_env import NASEnv
    from nas_gym.env.parts import EnvParts

__all__ = [
    "CONSTRAINT",
    "TRIAL_ATTRS",
    "constraint_violation",
    "objective",
    "suggest_architecture",
    "suggest_indices",
]

#: Name of the one constraint the Optuna methods set on a trial (the env's ``constraint_violation``).
CONSTRAINT = "constraint_violation"
#: Keys of the final ``info`` that :func:`objective` keeps on the trial as user attributes (where present).
TRIAL_ATTRS = ("arch", "val_accuracy", "test_accuracy", "latency_ms", "params", "feasible", "constraint_violation")


def suggest_indices(trial: optuna.trial.BaseTrial, space: SearchSpace) -> tuple[int, ...]:
    """Ask ``trial`` for one architecture, decision by decision, respecting the space's masks.

    Optuna fixes a parameter's distribution per name, while a masked space
    allows different choices after different prefixes. Each decision is
    therefore a conditional parameter whose name says which choices it ranges
    over: the decision's name when all its choices are valid (always, in
    NB201), ``"{name}[{valid choices}]"`` for a partial mask, and no parameter
    at all when only one choice is valid (a don't-care decision). Suggested
    values are always valid, so nothing needs repairing, and the sampler never
    learns from values the env would refuse.

    Args:
        trial: An Optuna trial (from ``study.ask()``).
        space: The search space.

    Returns:
        Choice indices of a valid architecture (the env's actions).
    """
    prefix: list[int] = []
    for decision in space.decisions:
        valid = np.flatnonzero(space.valid_choices(prefix))
        if len(valid) == 1:
            prefix.append(int(valid[0]))
            continue
        name = decision.name
        if len(valid) < decision.n:
            name = f"{name}[{','.join(decision.choices[j] for j in valid)}]"
        prefix.append(int(trial.suggest_categorical(name, [int(j) for j in valid])))
    return tuple(prefix)


def _nas_env(env: gym.Env) -> NASEnv:
    """The :class:`~nas_gym.env.nas_env.NASEnv` under ``env``'s wrappers.

    Raises:
        ConfigError: ``env`` is not a nas_gym env.
    """
    from nas_gym.env.nas_env import NASEnv

    inner = getattr(env, "unwrapped", env)
    if not isinstance(inner, NASEnv):
        raise ConfigError(
            f"Expected a nas_gym env (gym.make('NAS-Bench-201-v0') or another nas_gym id), got "
            f"{type(inner).__name__}. For a bare SearchSpace, use suggest_indices(trial, space)."
        )
    return inner


def suggest_architecture(trial: optuna.trial.BaseTrial, env: gym.Env) -> list[int]:
    """Ask ``trial`` for one valid architecture of ``env``'s search space, as the env's actions.

    One categorical Optuna parameter per decision (see :func:`suggest_indices`
    for how masked decisions are named), so any Optuna sampler can drive the
    space (TPE, random, NSGA-II, GP, ...). Every suggestion is valid under the
    env's action masks: playing it never triggers the env's invalid-action rule.

    Args:
        trial: An Optuna trial (inside ``study.optimize``'s objective, or from ``study.ask()``).
        env: A nas_gym env, wrapped or not (``gym.make("NAS-Bench-201-v0")``).

    Returns:
        The actions to play through ``env.reset``/``env.step``, one per decision, in order.

    Raises:
        ConfigError: ``env`` is not a nas_gym env.
    """
    return list(suggest_indices(trial, _nas_env(env).space))


def objective(trial: optuna.trial.BaseTrial, env: gym.Env) -> float | tuple[float, ...]:
    """An Optuna objective: suggest an architecture, play it through ``env``, return the env's reward.

    Use it as ``study.optimize(lambda trial: objective(trial, env), n_trials=...)``
    with ``direction="maximize"``. The trial keeps the final ``info``'s
    :data:`TRIAL_ATTRS` as user attributes (``study.best_trial.user_attrs["arch"]``).

    When the env has hard limits (``params_limit``, ``latency_limit_ms``),
    the trial also gets the env's ``constraint_violation`` as the Optuna
    constraint :data:`CONSTRAINT` (> 0: infeasible), so a constrained sampler
    (TPE, NSGA-II, GP) ranks infeasible trials after the feasible ones, and
    ``study.best_trial`` is the best feasible one. The returned value is the
    env's reward either way, which already pays an infeasible architecture
    less than every feasible one with a non-negative reward.

    Args:
        trial: The trial ``study.optimize`` passes (or one from ``study.ask()``).
        env: A nas_gym env, wrapped or not.

    Returns:
        The env's reward; for an env with ``objectives`` (``MO-NAS-Bench-201-v1``),
        a tuple with one float per objective, all to maximise
        (``optuna.create_study(directions=["maximize"] * len(...))``).

    Raises:
        ConfigError: ``env`` is not a nas_gym env.
    """
    reward, info = play_episode(env, suggest_architecture(trial, env))
    for key in TRIAL_ATTRS:
        if key in info:
            value = info[key]
            trial.set_user_attr(key, value.item() if isinstance(value, np.generic) else value)
    if has_limits(_nas_env(env).parts):
        trial.set_constraint(CONSTRAINT, constraint_violation(info))
    if np.ndim(reward):
        return tuple(float(r) for r in reward)
    return float(reward)


def has_limits(parts: EnvParts) -> bool:
    """Whether the env has hard limits (``latency_limit_ms``, ``params_limit``), so trials carry a constraint."""
    return parts.latency_limit_ms is not None or parts.params_limit is not None


def constraint_violation(info: Mapping[str, Any]) -> float:
    """How far an evaluation is beyond the env's hard limits, as an Optuna constraint (> 0: infeasible).

    The env's ``constraint_violation`` (≥ 0, 0 when feasible); 0 for an
    ``info`` without the key (written before hard limits existed).

    >>> constraint_violation({"feasible": False, "constraint_violation": 0.25})
    0.25
    >>> constraint_violation({"val_accuracy": 0.9})
    0.0
    """
    return max(float(info.get(CONSTRAINT) or 0.0), 0.0)
