"""nas-gym train: a run's architecture trained fully, saved, loaded back, resumed after a kill, fine-tuned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_gym.cli import main
from nas_gym.error import ConfigError, DataError
from nas_gym.model.folder import build_model, load_model, save_model
from nas_gym.model.retrain import choose_from_run, ranked_architectures, train
from nas_gym.model.training import TrainConfig, fit, lr_factor, translate
from nas_gym.tasks.base import make_task

ARCH = "conv3x3-8-relu|max_pool3x3|identity|identity"
FAST = ["--epochs", "2", "--batch-size", "128", "--no-progress", "--patience", "0", "--num-threads", "1"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A two-evaluation search on NAS-v0 with one epoch per candidate."""
    out = tmp_path_factory.mktemp("run") / "run"
    kwargs = {"evaluator_kwargs": {"epochs": 1, "train_fraction": 0.3}, "latency": "none",
              "space_kwargs": {"filters": [8], "num_layers": 4}}
    assert main(["search", "--budget", "2", "--out", str(out), "--no-progress",
                 "--env-kwargs", json.dumps(kwargs)]) == 0
    return out


def test_train_writes_a_model_folder_that_loads_back_exactly(run_folder, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", str(run_folder), "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "the search's short training" in printed and "load_model" in printed
    for name in ("model.safetensors", "model.json", "metrics.json", "checkpoint.pt", "train.json"):
        assert (out / name).is_file(), name
    assert list((out / "tb").iterdir()), "TensorBoard scalars"
    config = json.loads((out / "model.json").read_text())
    best = ranked_architectures([json.loads(line) for line in (run_folder / "history.jsonl").open()])[0]
    assert config["network"]["arch"] == best["arch"]
    assert config["network"]["input_shape"] == [1, 8, 8] and config["network"]["num_classes"] == 10
    assert config["training"]["epochs"] == 2 and config["source"]["rank"] == 1
    assert config["nas_gym_version"] and config["format"] == "nas_gym.model/1"
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["curve"]) == 2 and metrics["params"] > 0

    import nas_gym

    model, loaded = nas_gym.load_model(out)
    again, _ = load_model(out)
    task = make_task("digits")
    x = torch.from_numpy(task.x_test)
    with torch.no_grad():
        logits = model(x)
        assert torch.equal(logits, again(x))
    # The saved weights are the ones training reported on: same test accuracy, to the last example.
    accuracy = float((logits.argmax(1) == torch.from_numpy(task.y_test)).double().mean())
    assert accuracy == metrics["test_accuracy"] == loaded["metrics"]["test_accuracy"]
    # A second call with the same settings only reads the finished folder back.
    assert main(["train", str(run_folder), "--out", str(out), *FAST]) == 0
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_save_and_load_round_trip_is_exact(tmp_path):
    task = make_task("digits")
    network = {"space": "layers", "space_kwargs": {}, "arch": "conv3x3-16-relu|identity|identity|identity",
               "task": "digits", "task_kwargs": {}, "input_shape": [1, 8, 8], "num_classes": 10, "scaling": None}
    model = build_model(network, seed=3)
    fit(model, task, TrainConfig(epochs=1, batch_size=256, patience=None, device="cpu", num_threads=1), progress=False)
    save_model(tmp_path, model, {"network": network})
    loaded, _ = load_model(tmp_path)
    x = torch.from_numpy(task.x_val)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(),
                                                      strict=True))


def test_a_killed_train_resumes_from_its_last_checkpoint_and_ends_as_an_uninterrupted_one(run_folder, tmp_path):
    args = ["train", str(run_folder), "--arch", ARCH, "--epochs", "6", "--batch-size", "128", "--patience", "0",
            "--no-progress", "--num-threads", "1"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "nas_gym.cli", *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = killed / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= done < 6, "the kill came after the first checkpoint and before the end"
    assert not (killed / "model.json").exists()

    assert main([*args, "--out", str(killed)]) == 0
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    resumed = json.loads((killed / "metrics.json").read_text())
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert resumed["resumed_from"] == done and straight["resumed_from"] == 0
    assert resumed["curve"] == straight["curve"]
    a, _ = load_model(killed)
    b, _ = load_model(tmp_path / "straight")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_a_checkpoint_of_other_settings_is_refused(run_folder, tmp_path):
    out = str(tmp_path / "m")
    assert main(["train", str(run_folder), "--arch", ARCH, "--out", out, *FAST]) == 0
    with pytest.raises(ConfigError, match="holds another training"):
        train(choose_from_run(run_folder, arch=ARCH), TrainConfig(epochs=3), out, progress=False)


def test_fine_tuning_moves_a_model_to_another_task_of_the_same_rank(run_folder, tmp_path, capsys):
    digits = make_task("digits")
    keep = digits.y_train < 5  # a 5-class task on the same 8x8 images: the head is new, the rest is kept
    npz = tmp_path / "five.npz"
    np.savez(npz, x=digits.x_train[keep][:, 0], y=digits.y_train[keep])
    source = tmp_path / "source"
    assert main(["train", str(run_folder), "--arch", ARCH, "--out", str(source), *FAST]) == 0
    tuned = tmp_path / "tuned"
    assert main(["train", "--from", str(source), "--task", "npz", "--task-kwargs", json.dumps({"path": str(npz)}),
                 "--out", str(tuned), *FAST]) == 0
    assert "initialised afresh: head" in capsys.readouterr().out
    metrics = json.loads((tuned / "metrics.json").read_text())
    assert metrics["transfer"]["initialised"] == ["head.fc.weight", "head.fc.bias"]
    assert metrics["transfer"]["copied"] == len(load_model(source)[0].state_dict()) - 2
    model, config = load_model(tuned)
    assert config["network"]["num_classes"] == 5 and config["source"]["from"] == str(source)
    assert model(torch.from_numpy(digits.x_test[:4])).shape == (4, 5)

    signal_npz = tmp_path / "signal.npz"
    np.savez(signal_npz, x=np.random.default_rng(0).normal(size=(60, 16)), y=np.arange(60) % 3)
    assert main(["train", "--from", str(source), "--task", "npz", "--task-kwargs",
                 json.dumps({"path": str(signal_npz)}), "--out", str(tmp_path / "bad"), *FAST]) == 2
    assert "the input rank must match" in capsys.readouterr().err


def test_clear_errors(run_folder, tmp_path, nb201_kwargs, capsys):
    with pytest.raises(ConfigError, match="--rank must be between 1 and"):
        choose_from_run(run_folder, rank=99)
    with pytest.raises(DataError, match="not a run folder"):
        choose_from_run(tmp_path)
    assert main(["train"]) == 2
    assert "exactly one of them" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="no CUDA|without CUDA"):
        TrainConfig(device="cuda")
    with pytest.raises(ConfigError, match="fp16"):
        TrainConfig(device="cpu", precision="fp16")
    with pytest.raises(DataError, match="no model.json"):
        load_model(tmp_path)
    table_run = tmp_path / "table_run"
    assert main(["search", "--env", "NAS-Bench-201-Latency-v0", "--budget", "2", "--out", str(table_run),
                 "--no-progress", "--env-kwargs", json.dumps(nb201_kwargs)]) == 0
    with pytest.raises(ConfigError, match="has no task to train on: pass --task"):
        train(choose_from_run(table_run), TrainConfig(epochs=1), tmp_path / "x", progress=False)


def test_schedule_and_augmentation():
    assert lr_factor(0, 100, 10) == pytest.approx(0.1) and lr_factor(10, 100, 10) == 1.0
    assert lr_factor(100, 100, 10) == pytest.approx(0.0)
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    shifted = translate(x, torch.Generator().manual_seed(0), 1)
    assert shifted.shape == x.shape
    # Each image is its own shift of the original: every kept value sits one row/column away at most.
    for i in range(2):
        assert set(shifted[i].flatten().tolist()) - {0.0} <= set(x[i].flatten().tolist())
