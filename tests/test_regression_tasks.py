"""Sequence and regression tasks: their data, MSE/R² scoring, and where regression flows (info, history, benchmark)."""

from __future__ import annotations

import importlib.util
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.benchmark import run_benchmark
from nas_gym.error import ConfigError
from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.spaces import make_space
from nas_gym.tasks.base import MACKEY_GLASS_HORIZON, MACKEY_GLASS_WINDOW, mackey_glass_series, make_task
from nas_gym.tasks.loss import task_score

pytestmark = pytest.mark.usefixtures("one_torch_thread")
needs_statsmodels = pytest.mark.skipif(importlib.util.find_spec("statsmodels") is None,
                                       reason="sunspots reads statsmodels' bundled series (extra 'series')")
#: A fully connected network on the forecasting windows: the quickest real regression run.
FAST = {"space": "mlp", "task": "mackey_glass", "cache": False, "latency": "none",
        "evaluator_kwargs": {"epochs": 3, "num_threads": 1}}


def test_mackey_glass_windows_are_the_series_and_splits_are_chronological():
    task = make_task("mackey_glass")
    assert task.is_regression and task.kind == "regression" and task.num_outputs == 1
    assert task.input_shape == (1, MACKEY_GLASS_WINDOW) and task.spatial_dims == 1
    assert task.y_train.dtype == np.float32 and task.y_train.ndim == 1
    series = mackey_glass_series(1800, 0)
    cut1, cut2 = int(0.6 * 1800), int(0.8 * 1800)
    mean, std = series[:cut1].mean(), series[:cut1].std()
    # Window k of the training stretch and its target, in standardised units.
    k = 17
    np.testing.assert_allclose(task.x_train[k, 0], (series[k : k + MACKEY_GLASS_WINDOW] - mean) / std, rtol=1e-5)
    np.testing.assert_allclose(task.y_train[k], (series[k + MACKEY_GLASS_WINDOW + MACKEY_GLASS_HORIZON - 1] - mean)
                               / std, rtol=1e-5)
    # The validation windows start at the validation stretch: no value of it is a training input or target.
    np.testing.assert_allclose(task.x_val[0, 0], (series[cut1 : cut1 + MACKEY_GLASS_WINDOW] - mean) / std, rtol=1e-5)
    assert len(task.x_test) == (1800 - cut2) - MACKEY_GLASS_WINDOW - MACKEY_GLASS_HORIZON + 1
    # Standardised by the training stretch only: its series has mean 0 and sd 1, the windows nearly so.
    assert abs(task.x_train.mean()) < 0.1 and abs(task.x_train.std() - 1) < 0.1
    # A chaotic series, not a constant or a blow-up.
    assert 0.5 < float(task.y_val.var()) < 2 and np.isfinite(task.x_test).all()


def test_tasks_are_deterministic_and_seeded():
    a, b = mackey_glass_series(300, 3), mackey_glass_series(300, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, mackey_glass_series(300, 4))
    assert make_task("mackey_glass").fingerprint != make_task("mackey_glass", split_seed=1).fingerprint


def test_adding_problem_targets_are_the_sums_of_the_marked_values():
    task = make_task("adding")
    assert task.input_shape == (2, 30) and task.is_regression
    for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
        marks = x[:, 1]
        assert (marks.sum(1) == 2).all()
        np.testing.assert_allclose((x[:, 0] * marks).sum(1), y, rtol=1e-5)
    # The classical baseline: predicting the mean has MSE = Var(U + U) = 1/6.
    assert abs(float(task.y_test.var()) - 1 / 6) < 0.02


@needs_statsmodels
def test_sunspots_is_statsmodels_yearly_series():
    task = make_task("sunspots")
    assert task.input_shape == (1, 20) and task.is_regression
    # 309 years 1700-2008, cut 185/62/62, minus the 20-year windows.
    assert (len(task.x_train), len(task.x_val), len(task.x_test)) == (165, 42, 42)
    # Consecutive windows overlap by all but one year: the series is read in order.
    np.testing.assert_array_equal(task.x_train[1, 0, :-1], task.x_train[0, 0, 1:])
    assert task.y_train[0] == task.x_train[1, 0, -1]


def test_r2_score_and_mse():
    task = make_task("mackey_glass")
    y = torch.from_numpy(task.y_val)
    perfect = task_score(task, y[:, None], y)
    assert perfect[0] == 1.0 and perfect[1] == 0.0 and perfect[2]
    mean = task_score(task, torch.full((len(y), 1), float(y.mean())), y)
    assert mean[0] == pytest.approx(0.0, abs=1e-6) and mean[1] == pytest.approx(float(y.var(unbiased=False)), rel=1e-5)
    worse = task_score(task, -y[:, None], y)  # R² = -3: clipped at 0, the MSE says how bad
    assert worse[0] == 0.0 and worse[1] == pytest.approx(4 * float((y**2).mean()), rel=1e-5)
    assert task_score(task, torch.full((len(y), 1), math.inf), y) == (0.0, None, False)


def test_training_reports_mse_and_r2_consistently():
    task = make_task("mackey_glass")
    evaluator = TrainingEvaluator(task, epochs=3)
    arch = make_space("mlp").from_string("64-relu-none-0|none|none|none")
    m = evaluator.evaluate(arch)
    assert m.val_mse is not None and m.test_mse is not None and not m.diverged
    assert m.val_accuracy == pytest.approx(max(0.0, 1 - m.val_mse / float(task.y_val.var())), rel=1e-5)
    assert m.test_accuracy == pytest.approx(max(0.0, 1 - m.test_mse / float(task.y_test.var())), rel=1e-5)
    assert m.val_accuracy > 0.8  # a one-layer MLP forecasts 12 steps of Mackey-Glass well in 3 epochs
    again = evaluator.evaluate(arch)
    assert (again.val_mse, again.test_mse) == (m.val_mse, m.test_mse)
    # Fidelities report the MSE of the epoch asked for, continued or not.
    low, high = evaluator.evaluate_at(arch, 1), evaluator.evaluate_at(arch, 3)
    assert high.val_mse == m.val_mse and high.extra["resumed_from_epoch"] == 1 and low.val_mse != m.val_mse
    # Classification stays accuracy with no MSE.
    assert TrainingEvaluator("wine", epochs=1).evaluate(arch).val_mse is None


def test_mse_reaches_info_and_history(tmp_path):
    env = gym.make("NAS-v0", **FAST)
    env.reset(seed=0)
    done, info = False, {}
    while not done:
        _, _, done, _, info = env.step(int(np.flatnonzero(info.get("action_mask", env.unwrapped.action_masks()))[-1]))
    assert info["val_mse"] > 0 and info["test_mse"] > 0 and info["reward"] == info["val_accuracy"]
    from nas_gym.cli import main

    assert main(["search", "--agent", "random", "--budget", "3", "--out", str(tmp_path / "run"),
                 "--env-kwargs", json.dumps(FAST), "--no-progress"]) == 0
    lines = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(r["val_mse"] > 0 and r["test_mse"] > 0 for r in lines)


def test_benchmark_reports_best_validation_mse(tmp_path):
    out = tmp_path / "bench"
    result = run_benchmark(["random", "evolution"], "NAS-v0", FAST, seeds=2, budget=3, out_dir=out, progress=False)
    for agent in ("random", "evolution"):
        m = result.summary["methods"][agent]
        for seed, value in zip(m["seeds"], m["best_val_mse"]["values"], strict=True):
            history = [json.loads(x) for x in (out / agent / f"seed{seed}" / "history.jsonl").read_text().splitlines()]
            assert value == min(r["val_mse"] for r in history)
    text = (out / "summary.md").read_text()
    assert "| best val MSE | test MSE of best-val |" in text and "validation R²" in text
    assert (out / "curves.png").stat().st_size > 0


@pytest.mark.parametrize("space", ["layers", "nb201"])
def test_conv_spaces_refuse_regression_tasks(space):
    with pytest.raises(ConfigError, match="regression task. Use space='rnn_cell'"):
        gym.make("NAS-v0", space=space, task="mackey_glass", cache=False)


def test_zero_cost_and_full_training_refuse_regression():
    with pytest.raises(ConfigError, match="zero_cost proxies score classifiers"):
        gym.make("NAS-v0", space="mlp", task="adding", evaluator="zero_cost", cache=False, latency="none")
    from nas_gym.model.train_config import TrainConfig
    from nas_gym.model.training import fit

    task = make_task("adding")
    with pytest.raises(ConfigError, match="regression task"):
        fit(make_space("mlp").build(make_space("mlp").from_string("none|none|none|none"), task), task, TrainConfig())


def test_regression_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 5)).astype(np.float32)
    path = tmp_path / "reg.npz"
    np.savez(path, x=x, y=x.sum(1))
    task = make_task("npz", path=str(path))
    assert task.is_regression and task.num_outputs == 1 and task.y_train.dtype == np.float32
