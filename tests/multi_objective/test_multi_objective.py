"""Multi-objective envs: latency that never silently drops out, vector rewards (MO-Gymnasium), true fronts,
hard limits, the final-step mask convention and the namespaced ids."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import nas_gym
from nas_gym.error import ConfigError, DataError
from nas_gym.multi_objective.pareto import hypervolume, non_dominated
from nas_gym.search.folder import RunFolder
from nas_gym.search.pools import play
from nas_gym.search.searcher import run_search

mo_gymnasium = pytest.importorskip("mo_gymnasium", reason="the 'mo' extra (mo-gymnasium) is not installed")
from mo_gymnasium.wrappers import LinearReward, MORecordEpisodeStatistics  # noqa: E402

NAS_CLI = Path(sys.executable).with_name("nas-gym")
ROW_9930 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def fpga_kwargs(nb201_table):
    """NAS-Bench-201 CIFAR-100 with HW-NAS-Bench's FPGA latency, as the issue's acceptance names it."""
    return {"table": nb201_table, "val_column": "c100_valid", "test_column": "c100_test",
            "latency_column": "lat_fpga_ms"}


def _arch(env, text):
    return env.unwrapped.space.from_string(text).indices


# -- latency that never silently drops out -------------------------------------------------
def test_embedded_table_puts_latency_in_the_reward():
    v0 = gym.make("NAS-Bench-201-v0", latency_weight=0.5)
    info = play(v0, [3] * 6)
    assert v0.unwrapped.parts.latency == "table" and info["latency_ms"] is not None
    assert info["reward"] == pytest.approx(v0.unwrapped.reward_fn(info["val_accuracy"], info["latency_ms"]))
    # v1's default reward has the latency term; v0's default stays pure accuracy, as before.
    v1 = gym.make("NAS-Bench-201-Latency-v0")
    assert v1.unwrapped.reward_fn.latency_weight == 0.1 and v1.unwrapped.parts.latency == "table"
    plain = gym.make("NAS-Bench-201-v0")
    assert plain.unwrapped.parts.latency == "none" and play(plain, [3] * 6)["latency_ms"] is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"latency_weight": 0.5}, r"latency_weight needs latency, but this env has no latency model: pass "
                                  r"latency_column='<column of latency in ms>'"),
        ({"latency_limit_ms": 5.0}, r"latency_limit_ms needs latency, .* pass latency_column="),
        ({"objectives": ["val_accuracy", "latency_ms"]}, r"objectives needs latency"),
        ({"params_limit": 1000}, r"params_limit=1000 needs parameter counts, but table nb201_cifar.csv has no "
                                 r"'params' column"),
        ({"objectives": ["val_acc"]}, r"Unknown objective 'val_acc'\. Did you mean 'val_accuracy'\?"),
        ({"latency_limit_ms": 0}, r"latency_limit_ms must be > 0"),
        ({"params_limit": 2.5}, r"params_limit must be an integer ≥ 1"),
    ],
)
def test_latency_that_cannot_apply_is_an_error(nb201_table, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        gym.make("NAS-Bench-201-Latency-v0", table=nb201_table, val_column="c100_valid", **kwargs)


def test_training_env_without_latency_says_which_model_to_pick():
    with pytest.raises(ConfigError, match=r"pass latency='measured' or latency='op_table'"):
        gym.make("NAS-v0", latency="none", latency_weight=0.3, cache=False)


# -- vector rewards in MO-Gymnasium's convention ------------------------------------------
def test_vector_reward_follows_mo_gymnasium(fpga_kwargs):
    env = gym.make("MO-NAS-Bench-201-v1", **fpga_kwargs)
    base = env.unwrapped
    assert base.reward_dim == 2 and base.reward_space.shape == (2,)
    _, info = env.reset(seed=0)
    for a in _arch(env, ROW_9930)[:-1]:
        _, r, *_ = env.step(a)
        assert isinstance(r, np.ndarray) and r.tolist() == [0.0, 0.0]
    _, r, terminated, _, info = env.step(_arch(env, ROW_9930)[-1])
    assert terminated and r.dtype == np.float32 and base.reward_space.contains(r)
    assert r.tolist() == pytest.approx([info["val_accuracy"], -info["latency_ms"]], rel=1e-6)
    assert info["latency_ms"] == pytest.approx(7.42096) and info["val_accuracy"] == pytest.approx(0.7349, abs=1e-4)

    weighted = LinearReward(MORecordEpisodeStatistics(gym.make("MO-NAS-Bench-201-v1", **fpga_kwargs), gamma=1.0),
                            weight=np.array([1.0, 0.01]))
    _, info = weighted.reset(seed=0)
    total = 0.0
    for a in _arch(env, ROW_9930):
        _, r, terminated, _, info = weighted.step(a)
        total += r
    assert isinstance(r, float) and total == pytest.approx(0.7349 - 0.0742096, abs=1e-4)
    stats = info["episode"]  # MORecordEpisodeStatistics: the vector return of the episode
    assert stats["r"].tolist() == pytest.approx([0.7349, -7.42096], abs=1e-4) and stats["l"] == 6


class _OwnWeights(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Copies ``info["reward_weights"]``: LinearReward hands out its one weight array on every step, which
    Gymnasium's checker flags as infos sharing an object (MO-Gymnasium's doing, not the env's)."""

    def __init__(self, env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "reward_weights": info["reward_weights"].copy()}


# The namespaced ids are the same specs (test_namespaced_ids_are_the_same_envs): checked once, plainly.
@pytest.mark.parametrize("env_id", sorted(nas_gym.ENV_IDS))
def test_every_registered_env_passes_gymnasiums_checker(env_id, nb201_table):
    kwargs = {"table": nb201_table, "val_column": "c100_valid", "latency_column": "lat_fpga_ms"} \
        if "201" in env_id else {} if "Surrogate" in env_id else {"cache": False, "space_kwargs": {"num_layers": 2}}
    if env_id == "NAS-RNN-v0":  # a 3-node cell trained on a tenth of the windows: the checker's episodes stay quick
        kwargs = {"cache": False, "space_kwargs": {"num_nodes": 3},
                  "evaluator_kwargs": {"batch_size": 64, "epochs": 1, "train_fraction": 0.1}}
    if "-LM-" in env_id:  # one-layer transformers trained for two steps
        kwargs = {"cache": False, "space_kwargs": {"depths": [1], "widths": [32]},
                  "evaluator_kwargs": {"optimizer": "adamw", "steps": 2, "batch_size": 4}}
    env = gym.make(env_id, **kwargs).unwrapped
    if env.parts.objectives is not None:
        env = _OwnWeights(LinearReward(env, weight=np.ones(env.reward_dim) / env.reward_dim))  # scalarised
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Checking the scalarised env means checking a wrapper, which the checker notes; nothing else may warn.
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version")
        check_env(env, skip_render_check=True)


def test_namespaced_ids_are_the_same_envs():
    assert gym.spec("nas_gym/NAS-v0").kwargs == gym.spec("NAS-v0").kwargs
    assert gym.spec("nas_gym/NAS-Bench-201-Latency-v0").kwargs == gym.spec("NAS-Bench-201-Latency-v0").kwargs
    assert set(nas_gym.ENV_IDS) <= {k.split("/")[-1] for k in gym.registry if k.startswith("nas_gym/")}


# -- the true front -------------------------------------------------------------------
def test_pareto_front_of_the_embedded_table_is_non_dominated_and_dominates_every_row():
    env = gym.make("NAS-Bench-201-Latency-v0").unwrapped
    front = env.pareto_front()
    table = env.table
    rows = np.column_stack([table.column("val_accuracy"), -np.asarray(table.column("latency_ms"))])
    assert front.shape[1] == 2 and non_dominated(front).all()
    dominated = [(front >= row).all(1).any() for row in rows]  # every row is on or under the front
    assert all(dominated)
    with pytest.raises(ConfigError, match=r"pareto_front\(\) needs a table env"):
        gym.make("NAS-v0", cache=False).unwrapped.pareto_front()


# -- hard limits ---------------------------------------------------------------------
def test_limits_make_every_method_return_a_feasible_best(fpga_kwargs, tmp_path):
    limit = 4.0
    kwargs = {**fpga_kwargs, "latency_weight": 0, "latency_limit_ms": limit}
    env = gym.make("NAS-Bench-201-Latency-v0", **kwargs)
    info = play(env, _arch(env, ROW_9930))  # 7.42 ms: over the limit
    violation = 7.42096 / limit - 1
    assert not info["feasible"] and info["constraint_violation"] == pytest.approx(violation)
    assert info["reward"] == pytest.approx(-violation)  # documented: min(reward, 0) - violation
    for agent in ("random", "evolution", "reinforce", "tpe"):
        summary = run_search(agent, "NAS-Bench-201-Latency-v0", kwargs, budget=40, seed=1, out_dir=tmp_path / agent)
        history = RunFolder(tmp_path / agent).read_history()
        feasible = [r for r in history if r["feasible"]]
        assert feasible and summary["best"]["feasible"] and summary["best"]["latency_ms"] <= limit
        assert summary["best"]["val_accuracy"] == max(r["val_accuracy"] for r in feasible)
        assert any(not r["feasible"] for r in history)  # the limit did bind


def test_cli_latency_limit_prints_the_best_feasible_architecture(fpga_kwargs, tmp_path):
    env_kwargs = json.dumps({**fpga_kwargs, "latency_weight": 0})
    proc = subprocess.run(
        [str(NAS_CLI), "search", "--agent", "random", "--env", "NAS-Bench-201-Latency-v0", "--env-kwargs", env_kwargs,
         "--budget", "30", "--latency-limit-ms", "3.5", "--out", str(tmp_path / "run"), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Best feasible architecture after 30 evaluations" in proc.stdout
    best = json.loads((tmp_path / "run" / "summary.json").read_text())["best"]
    assert best["feasible"] and best["latency_ms"] <= 3.5
    pareto = RunFolder(tmp_path / "run").read_pareto()
    assert pareto["front"] and all(p["feasible"] and p["latency_ms"] <= 3.5 for p in pareto["front"])
    front = pareto["front"]
    ref = pareto["reference_point"]
    assert pareto["hypervolume"] == pytest.approx(hypervolume(
        [p["latency_ms"] for p in front], [p["val_accuracy"] for p in front], ref["latency_ms"], ref["val_accuracy"]))


# -- the final-step mask ---------------------------------------------------------------
def test_masked_sampling_on_a_vector_env_never_meets_an_empty_mask():
    """A CleanRL-style masked policy on a sync vector env: next-step autoreset, logits masked by the info."""
    envs = gym.make_vec("NAS-Bench-201-Latency-v0", num_envs=4, vectorization_mode="sync")
    torch.manual_seed(0)
    policy = torch.nn.Linear(envs.single_observation_space.shape[0], envs.single_action_space.n)
    obs, infos = envs.reset(seed=0)
    episodes = 0
    for _ in range(60):
        logits = policy(torch.as_tensor(obs, dtype=torch.float32))
        mask = torch.as_tensor(infos["action_mask"], dtype=torch.bool)
        logits = torch.where(mask, logits, torch.tensor(-1e8))
        dist = torch.distributions.Categorical(logits=logits)
        assert mask.any(1).all() and not torch.isnan(dist.probs).any()
        action = dist.sample()
        obs, _, terminated, _, infos = envs.step(action.numpy())
        episodes += int(terminated.sum())
    assert episodes >= 4 * 8  # 60 steps of 6-decision episodes, every env finishing several


def test_final_step_mask_is_the_first_decisions():
    env = gym.make("NAS-Bench-201-Latency-v0")
    _, first = env.reset(seed=0)
    info = play(env, [1] * 6)
    assert info["action_mask"].tolist() == first["action_mask"].tolist() == env.unwrapped.action_masks().tolist()


# -- messages that used to mislead ---------------------------------------------------------
def test_negative_int64_labels_are_told_what_is_wrong(tmp_path):
    path = tmp_path / "neg.npz"
    np.savez(path, x=np.zeros((20, 4), np.float32), y=np.arange(-1, 19, dtype=np.int64))
    with pytest.raises(DataError, match=r"got labels from -1 to 18\. Map them to 0\.\.K-1") as err:
        gym.make("NAS-v0", task="npz", task_kwargs={"path": str(path)}, cache=False).unwrapped.task  # noqa: B018
    assert "astype" not in str(err.value)


def test_a_folder_given_as_table_is_told_it_is_a_folder(tmp_path):
    with pytest.raises(DataError, match=r"is a folder, not a file"):
        gym.make("NAS-Bench-201-v0", table=str(tmp_path), val_column="acc")


@pytest.mark.parametrize("objectives", [False, 3, "val_accuracy", [], ["val_accuracy", 1]])
def test_objectives_that_are_not_a_list_of_names_are_refused(objectives):
    """Found by the fuzz test: objectives=False raised a TypeError from tuple() instead of the env's ConfigError."""
    with pytest.raises(ConfigError, match="objectives must be a list of metric names"):
        gym.make("NAS-Bench-201-Latency-v0", objectives=objectives)
