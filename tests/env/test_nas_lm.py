"""NAS-LM-v0 and MO-NAS-LM-v0: both checkers, bits per character in info, history and TensorBoard, the CLI."""

from __future__ import annotations

import json
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import nas_gym
from nas_gym.cli import main
from nas_gym.error import ConfigError
from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.spaces import make_space
from nas_gym.tasks import make_task

#: A small space trained for two steps: the checkers' many episodes stay quick.
TINY = {"cache": False, "space_kwargs": {"depths": [1, 2], "widths": [32], "heads": [0, 2], "ffn_ratios": [1]},
        "evaluator_kwargs": {"optimizer": "adamw", "steps": 2, "batch_size": 4},
        "latency_kwargs": {"warmup": 1, "repeats": 2}}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _play(env, arch_text: str, seed: int = 0):
    space = env.unwrapped.space
    env.reset(seed=seed)
    for a in space.from_string(arch_text).indices:
        _, reward, terminated, _, info = env.step(a)
    assert terminated
    return reward, info


def test_ids_are_registered_with_their_defaults():
    for env_id in ("NAS-LM-v0", "MO-NAS-LM-v0"):
        assert env_id in nas_gym.ENV_IDS and gym.spec(f"nas_gym/{env_id}").kwargs == gym.spec(env_id).kwargs
        kwargs = nas_gym.ENV_IDS[env_id]
        assert (kwargs["space"], kwargs["task"], kwargs["evaluator"]) == ("transformer", "pydoc_topics", "train")
        assert kwargs["evaluator_kwargs"]["optimizer"] == "adamw" and kwargs["evaluator_kwargs"]["steps"] >= 1
    assert nas_gym.ENV_IDS["MO-NAS-LM-v0"]["objectives"] == ["val_accuracy", "latency_ms"]
    env = gym.make("NAS-LM-v0", cache=False).unwrapped
    assert env.parts.latency == "measured" and env.parts.task.is_language_model
    assert env.space.num_decisions == 14
    env.close()


def test_gymnasium_and_sb3_checkers_pass_on_nas_lm():
    env = gym.make("NAS-LM-v0", **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)


def test_gymnasium_and_sb3_checkers_pass_on_the_scalarised_mo_nas_lm():
    from mo_gymnasium.wrappers import LinearReward

    env = gym.make("MO-NAS-LM-v0", **TINY).unwrapped
    assert env.reward_space.shape == (2,)
    _, info = env.reset(seed=0)
    done = False
    while not done:
        _, reward, done, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    assert reward.tolist() == pytest.approx([info["val_accuracy"], -info["latency_ms"]])
    scalar = LinearReward(env, weight=np.array([0.5, 0.5]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # MO-Gymnasium hands out one weight array in every info, and the checker checks a wrapper: both its doing.
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version")
        warnings.filterwarnings("ignore", message=".*info.*same object", category=UserWarning)
        sb3_check_env(scalar, warn=True)


def test_an_evaluation_reports_bits_per_character_and_is_deterministic():
    env = gym.make("NAS-LM-v0", **TINY)
    reward, info = _play(env, "w32|h2-r1-gelu|noattn-r1-relu")
    assert set(info) >= {"val_bpc", "test_bpc", "val_accuracy", "latency_ms", "params", "flops"}
    assert 0 < info["val_bpc"] < 10 and 0 < info["test_bpc"] < 10
    assert 0 <= info["val_accuracy"] <= 1 and info["latency_ms"] > 0
    # Scored again in another env from scratch: the same figures (seeded, deterministic on the CPU).
    again = _play(gym.make("NAS-LM-v0", **TINY), "w32|h2-r1-gelu|noattn-r1-relu")[1]
    assert (again["val_bpc"], again["val_accuracy"]) == (info["val_bpc"], info["val_accuracy"])
    assert reward == pytest.approx(info["val_accuracy"] - info["latency_penalty"])


def test_bpc_is_cross_entropy_in_bits_and_falls_with_training():
    task = make_task("pydoc_topics")
    space = make_space("transformer")
    arch = space.from_string("w32|h1-r1-relu")
    short = TrainingEvaluator(task, optimizer="adamw", steps=1, batch_size=8).evaluate(arch)
    longer = TrainingEvaluator(task, optimizer="adamw", steps=40, batch_size=8, lr=3e-3).evaluate(arch)
    assert short.val_bpc > longer.val_bpc and longer.val_accuracy > short.val_accuracy
    # Before much training the model predicts nearly uniformly: about log2(vocabulary) bits.
    assert short.val_bpc == pytest.approx(math.log2(task.num_classes), abs=0.3)
    assert TrainingEvaluator(task, steps=3).settings()["steps"] == 3
    assert "steps" not in TrainingEvaluator(task).settings()  # earlier cache keys keep their form
    # Under a step budget a fidelity counts rounds of steps (tests/test_fidelity.py), never more rounds than steps.
    stepped = TrainingEvaluator(task, steps=3)
    assert stepped.max_epochs() == 3 and stepped.round_steps(2) == 2
    with pytest.raises(ConfigError, match=r"1\.\.3 \(rounds of steps\)"):
        stepped.evaluate_at(arch, 4)
    with pytest.raises(ConfigError, match="steps must be None or an integer >= 1"):
        TrainingEvaluator(task, steps=0)


def test_the_cli_searches_nas_lm_and_writes_bpc_to_history_and_tensorboard(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["search", "--agent", "evolution", "--env", "NAS-LM-v0", "--budget", "3", "--seed", "0",
            "--env-kwargs", json.dumps(TINY), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == 3 and all(r["val_bpc"] > 0 and r["test_bpc"] > 0 for r in history)
    acc = EventAccumulator(str(out))
    acc.Reload()
    assert [e.value for e in acc.Scalars("nas/val_bpc")] == pytest.approx([r["val_bpc"] for r in history])
    assert "Best architecture" in capsys.readouterr().out


def test_a_step_budget_spans_passes_over_the_training_windows():
    from nas_gym.tasks.text import text_task

    task = text_task("toy", ["abcdefgh" * 40] * 10)  # 8 training documents: 40 windows
    evaluator = TrainingEvaluator(task, optimizer="adamw", steps=13, batch_size=4)
    taken = []
    evaluator._epoch = _recording(evaluator._epoch, taken)
    metrics = evaluator.evaluate(make_space("transformer").from_string("w32|h1-r1-relu"))
    assert taken == [10, 3] and metrics.extra["epochs_run"] == 2


def _recording(one_pass, taken):
    def run(*args):
        result = one_pass(*args)
        taken.append(result[3])
        return result

    return run
