"""Multi-objective PPO (random scalarisation per episode, ParEGO-style): determinism, weights, spread, reuse, errors."""

import numpy as np
import pytest

import nas_gym  # noqa: F401  (registers the envs)
import nas_gym.agents.ppo
from nas_gym.agents.ppo import MOPPOSearch, PPOSearch
from nas_gym.error import ConfigError
from nas_gym.multi_objective.scalarization import Scalarizer
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import load_searcher, run_search

#: The embedded NAS-Bench-201 table with its latency column; the env's reward is accuracy only.
NB201_LATENCY = {"latency_column": "latency_ms", "latency_weight": 0}


def _run(agent, seed, budget=30, workers=1, env_kwargs=NB201_LATENCY, **agent_kwargs):
    with SearchRun("NAS-Bench-201-v0", env_kwargs, agent=agent, seed=seed, budget=budget, workers=workers) as run:
        load_searcher(agent)(**agent_kwargs).search(run)
        return run.history


@pytest.fixture
def episodes(monkeypatch):
    """Every episode scalarised: (architecture, weights, reward SB3 gets), in order."""
    seen = []
    scalarized = nas_gym.agents.ppo._scalarized_reward

    def spy(scalarizer, run, key):
        reward = scalarized(scalarizer, run, key)
        seen.append((key, scalarizer.weights.copy(), reward))
        return reward

    monkeypatch.setattr(nas_gym.agents.ppo, "_scalarized_reward", spy)
    return seen


@pytest.mark.parametrize("workers", [1, 2])
def test_same_seed_same_history_and_one_weight_vector_per_episode(episodes, workers):
    first = _run("mo_ppo", 3, workers=workers)
    first_episodes = list(episodes)
    episodes.clear()
    second = _run("mo_ppo", 3, workers=workers)
    assert len(first) == 30 and first == second
    assert len(first_episodes) >= 30, "every scored (or reused) episode is scalarised"
    for (k1, w1, r1), (k2, w2, r2) in zip(first_episodes, episodes, strict=True):
        assert k1 == k2 and np.array_equal(w1, w2) and r1 == r2
    weights = np.stack([w for _, w, _ in first_episodes])
    assert len({tuple(w) for w in weights}) == len(weights), "each episode draws new weights"
    assert (weights >= 0).all() and np.allclose(weights.sum(1), 1.0)
    # The rewards trained on are scalarisations in [0, 1], not the env's (the accuracy here).
    rewards = np.array([r for _, _, r in first_episodes])
    assert ((rewards >= 0) & (rewards <= 1 + 1e-12)).all()
    env_rewards = {r["arch"]: r["reward"] for r in first}
    assert not np.allclose(rewards[:30], [env_rewards[a] for a in [r["arch"] for r in first]])


def test_seeds_draw_different_weights(episodes):
    _run("mo_ppo", 0, budget=10)
    seed0 = np.stack([w for _, w, _ in episodes])
    episodes.clear()
    _run("mo_ppo", 1, budget=10)
    seed1 = np.stack([w for _, w, _ in episodes])
    n = min(len(seed0), len(seed1))
    assert n >= 10 and not np.allclose(seed0[:n], seed1[:n])


def test_env_still_pays_its_reward_and_mo_ppo_is_ppo_with_scalarization():
    assert PPOSearch().scalarization is None and PPOSearch().objectives == ("val_accuracy", "latency_ms")
    assert MOPPOSearch.name == "mo_ppo" and load_searcher("mo_ppo") is MOPPOSearch
    # mo_ppo keeps the MLP settings its fronts were measured with (PPOSearch.MLP).
    assert MOPPOSearch().hparams() == PPOSearch(scalarization="random_linear", **PPOSearch.MLP).hparams()
    mo = _run("mo_ppo", 2, budget=20)
    assert all(r["reward"] == r["val_accuracy"] for r in mo)  # latency_weight=0: the env pays the accuracy
    with SearchRun("NAS-Bench-201-v0", NB201_LATENCY, agent="mo_ppo", seed=2, budget=20) as run:
        PPOSearch(scalarization="random_linear", **PPOSearch.MLP).search(run)
        assert run.history == mo
    assert [r["arch"] for r in _run("ppo", 2, budget=20, **PPOSearch.MLP)] != [r["arch"] for r in mo]


def test_evaluations_move_towards_low_latency_unlike_accuracy_only_ppo():
    # Mean latency (ms) of the last 15 of 30 evaluations on the embedded table, seeds 0-7 (measured:
    # ppo 0.39-0.73, mean 0.58; mo_ppo 0.40-0.53, mean 0.47). Per seed it is noisy at this budget
    # (mo_ppo is lower on 6 of 8 seeds), so the test compares the means over the 8 seeds.
    late = {}
    for agent in ("ppo", "mo_ppo"):
        kwargs = PPOSearch.MLP if agent == "ppo" else {}  # the same policy on both sides
        late[agent] = np.array([np.mean([r["latency_ms"] for r in _run(agent, seed, **kwargs)[15:]])
                                for seed in range(8)])
    assert late["mo_ppo"].mean() < late["ppo"].mean() - 0.05, late
    assert (late["mo_ppo"] < late["ppo"]).sum() >= 5, late


def test_repeats_are_scalarised_from_memory_without_a_second_evaluation(episodes, monkeypatch):
    observed = []
    observe = Scalarizer.observe

    def spy_observe(self, key, info):
        observed.append(key)
        return observe(self, key, info)

    monkeypatch.setattr(Scalarizer, "observe", spy_observe)
    # A large learning rate narrows the policy, so it completes architectures it completed before.
    history = _run("mo_ppo", 0, learning_rate=0.015)  # 51 episodes for 30 evaluations
    assert len(history) == 30 == len(observed) == len({r["arch"] for r in history})
    keys = [k for k, _, _ in episodes]
    assert len(keys) > len(observed) + 5 and set(keys) == set(observed)


def test_tchebycheff_and_other_objectives_run():
    linear = _run("mo_ppo", 0, budget=20)
    tcheb = _run("mo_ppo", 0, budget=20, scalarization="random_tchebycheff")
    assert len(tcheb) == 20 and [r["arch"] for r in tcheb] != [r["arch"] for r in linear]
    # Params need no latency model.
    assert len(_run("mo_ppo", 0, budget=10, env_kwargs={}, objectives=["val_accuracy", "params"])) == 10


@pytest.mark.parametrize("workers", [1, 2])
def test_no_latency_model_raises_config_error_naming_the_fix(workers):
    with pytest.raises(ConfigError, match=r"needs latency_ms .* pass latency_column=\.\.\. .* or latency='measured'"):
        run_search("mo_ppo", "NAS-Bench-201-v0", {}, budget=10, seed=0, workers=workers)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scalarization": "tchebycheff"}, r"scalarization must be one of 'random_linear', 'random_tchebycheff'"),
        ({"objectives": ["latency_ms"]}, r"objectives must name at least two distinct objectives"),
        ({"objectives": ["flops", "flops"]}, r"at least two distinct objectives"),
        ({"objectives": ["val_accuracy", "energy"]}, r"objectives must be a list of items, each one of"),
        ({"episodes_per_update": 3, "num_minibatches": 2}, r"num_minibatches must divide episodes_per_update"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    for cls in (PPOSearch, MOPPOSearch):
        with pytest.raises(ConfigError, match=match):
            cls(**kwargs)
