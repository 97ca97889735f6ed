"""The public Optuna API (``nas_gym.search.optuna_space``): masks, hard limits as constraints, seeds, its docs."""

from __future__ import annotations

import inspect
from pathlib import Path

import gymnasium as gym
import numpy as np
import optuna
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ConfigError
from nas_gym.search import optuna_space
from nas_gym.search.optuna_space import CONSTRAINT, objective, suggest_architecture

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(env, sampler, n_trials: int, directions: tuple[str, ...] = ("maximize",)) -> optuna.Study:
    study = optuna.create_study(sampler=sampler, directions=list(directions))
    study.optimize(lambda trial: objective(trial, env), n_trials=n_trials)
    return study


def _by_hand(env, actions):
    """The final reward and info of ``actions`` played through ``env.reset``/``env.step`` here."""
    env.reset()
    for action in actions:
        _, reward, terminated, _, info = env.step(action)
    assert terminated
    return reward, info


def test_the_public_api_is_exported_and_documented():
    assert {"suggest_architecture", "objective", "suggest_indices", "constraint_violation", "CONSTRAINT"} <= set(
        optuna_space.__all__
    )
    for name in ("suggest_architecture", "objective"):
        doc = inspect.getdoc(getattr(optuna_space, name))
        assert "Args:" in doc and "Returns:" in doc and "Raises:" in doc, name
    page = (REPO / "docs" / "optuna.md").read_text(encoding="utf-8")
    assert "from nas_gym.search.optuna_space import objective" in page
    assert "suggest_architecture(trial, env)" in page and "params_limit=" in page
    assert "- Optuna studies: optuna.md" in (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    assert "nas_gym.search.optuna_space" in (REPO / "docs" / "api" / "search.md").read_text(encoding="utf-8")


def test_suggestions_respect_the_masks_and_rewards_come_from_the_env():
    # The layers space masks the fields of identity slots and skip connections; "raise" turns any refused action
    # into an error instead of the penalty.
    env = gym.make("NAS-Surrogate-v0", invalid_action="raise")
    space = env.unwrapped.space
    study = _study(env, optuna.samplers.RandomSampler(seed=0), 40)
    hand = gym.make("NAS-Surrogate-v0", invalid_action="raise")
    masked = 0
    for trial in study.trials:
        actions = suggest_architecture(optuna.trial.FixedTrial(trial.params), env)
        assert len(actions) == space.num_decisions
        for k, action in enumerate(actions):
            valid = space.valid_choices(actions[:k])
            assert valid[action], (trial.number, k)
            masked += int(valid.sum() == 1)
        assert space.validate(actions) == tuple(actions)
        reward, info = _by_hand(hand, actions)
        assert trial.value == reward and trial.user_attrs["arch"] == info["arch"]
        assert trial.user_attrs["params"] == info["params"] and not info["invalid_action"]
    # Masked decisions (one valid choice) are no Optuna parameters: the masks were exercised.
    assert masked > 0
    assert min(len(t.params) for t in study.trials) < space.num_decisions
    assert not study.trials[0].constraints  # no hard limits, no constraint


@pytest.mark.parametrize("limit", [{"params_limit": 15_000}, {"latency_limit_ms": 0.5}])
def test_a_hard_limit_becomes_the_trials_constraint(limit):
    env = gym.make("NAS-Bench-201-v0", cache=False, **limit)
    study = _study(env, optuna.samplers.TPESampler(seed=0), 30)
    hand = gym.make("NAS-Bench-201-v0", cache=False, **limit)
    feasible = []
    for trial in study.trials:
        reward, info = _by_hand(hand, [int(trial.params[d.name]) for d in env.unwrapped.space.decisions])
        violation = trial.constraints[CONSTRAINT]
        assert trial.value == reward
        assert violation == info["constraint_violation"] == trial.user_attrs["constraint_violation"]
        assert (violation == 0) == info["feasible"] == trial.user_attrs["feasible"]
        if violation > 0:
            assert trial.value == pytest.approx(min(info["val_accuracy"] - info["latency_penalty"], 0.0) - violation)
            assert trial.value < 0
        else:
            feasible.append(trial)
    assert 0 < len(feasible) < len(study.trials)  # the limit binds on this study
    best = study.best_trial
    assert best.user_attrs["feasible"] and best.value == max(t.value for t in feasible)


def test_a_study_repeats_for_a_seed():
    env = gym.make("NAS-Bench-201-v0", cache=False)

    def trials(seed: int) -> list[tuple[dict, float]]:
        return [(t.params, t.value) for t in _study(env, optuna.samplers.TPESampler(seed=seed), 25).trials]

    first = trials(3)
    assert trials(3) == first
    assert trials(4) != first


def test_objective_returns_one_value_per_objective():
    env = gym.make("MO-NAS-Bench-201-v1", cache=False)
    study = _study(env, optuna.samplers.NSGAIISampler(seed=0), 12, directions=("maximize", "maximize"))
    hand = gym.make("MO-NAS-Bench-201-v1", cache=False)
    for trial in study.trials:
        reward, info = _by_hand(hand, [int(trial.params[d.name]) for d in env.unwrapped.space.decisions])
        assert np.asarray(trial.values, dtype=np.float32).tolist() == reward.tolist()
        assert trial.values[1] == pytest.approx(-info["latency_ms"])
    assert study.best_trials


def test_objective_in_ask_and_tell_plays_the_same_episode():
    env = gym.make("NAS-Bench-201-v0", cache=False)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    trial = study.ask()
    value = objective(trial, env)
    study.tell(trial, value)
    actions = suggest_architecture(optuna.trial.FixedTrial(study.trials[0].params), env)
    reward, info = _by_hand(gym.make("NAS-Bench-201-v0", cache=False), actions)
    assert value == reward and study.trials[0].user_attrs["arch"] == info["arch"]


def test_an_env_that_is_not_nas_gym_is_refused():
    study = optuna.create_study()
    with pytest.raises(ConfigError, match=r"Expected a nas_gym env .* got CartPoleEnv\. For a bare SearchSpace"):
        suggest_architecture(study.ask(), gym.make("CartPole-v1"))
