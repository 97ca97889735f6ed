"""From search to model for language models: train a found transformer, reload it, export it, sample text."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_gym.cli import main
from nas_gym.error import ConfigError, DataError
from nas_gym.model.folder import build_model, load_model, save_model
from nas_gym.model.sample import encode, generate, sample_text, sample_texts
from nas_gym.model.train_config import TASK_DEFAULTS, TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ARCH = "w32|h2-r1-gelu"
FAST = ["--epochs", "1", "--batch-size", "128", "--no-progress", "--num-threads", "1"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A one-evaluation search on NAS-LM-v0 with a 5-step training."""
    out = tmp_path_factory.mktemp("lm_run") / "run"
    kwargs = {"evaluator_kwargs": {"optimizer": "adamw", "steps": 5, "batch_size": 8, "lr": 0.003},
              "latency": "none", "latency_weight": 0}
    assert main(["search", "--agent", "random", "--env", "NAS-LM-v0", "--budget", "1", "--out", str(out),
                 "--no-progress", "--env-kwargs", json.dumps(kwargs)]) == 0
    return out


@pytest.fixture(scope="module")
def lm_folder(run_folder, tmp_path_factory) -> tuple[Path, str]:
    """A tiny transformer trained one epoch with the language-model defaults, exported to ONNX; and what it printed."""
    pytest.importorskip("onnxruntime")
    out = tmp_path_factory.mktemp("lm_model") / "model"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["train", str(run_folder), "--arch", ARCH, "--out", str(out), "--onnx", *FAST]) == 0
    return out, printed.getvalue()


def test_a_found_transformer_trains_with_language_model_defaults_and_reports_bpc(lm_folder):
    out, printed = lm_folder
    assert "val_bpc" in printed and "test_bpc" in printed and f"nas-gym sample {out}" in printed
    config = json.loads((out / "model.json").read_text())
    training = config["training"]
    lm = TASK_DEFAULTS["language_model"]
    assert {k: training[k] for k in ("optimizer", "lr", "weight_decay", "label_smoothing", "clip_grad_norm",
                                     "warmup_epochs")} == {k: lm[k] for k in ("optimizer", "lr", "weight_decay",
                                                                             "label_smoothing", "clip_grad_norm",
                                                                             "warmup_epochs")}
    assert training["epochs"] == 1 and training["batch_size"] == 128
    metrics = config["metrics"]
    vocab = config["network"]["vocabulary"]
    assert config["network"]["task_kind"] == "language_model" and len(vocab) == config["network"]["num_classes"]
    assert vocab[0] == "" and "\n" in vocab
    for split in ("val", "test"):
        # Better than uniform over the vocabulary after one epoch, and the evaluator's unit: nats / ln 2.
        assert 0 < metrics[f"{split}_bpc"] < math.log2(len(vocab))
        assert 0 < metrics[f"{split}_accuracy"] < 1
    curve = json.loads((out / "metrics.json").read_text())["curve"]
    assert curve[0]["val_bpc"] == pytest.approx(curve[0]["val_loss"] / math.log(2))
    assert metrics["onnx_max_abs_diff"] < 1e-4


def test_the_reloaded_model_computes_what_was_trained_and_exported(lm_folder, tmp_path):
    from nas_gym.model.onnx import onnx_session

    out, _ = lm_folder
    model, config = load_model(out)
    assert model.head.weight.data_ptr() == model.embed.token.weight.data_ptr()  # tied again after loading
    x = torch.randint(0, config["network"]["num_classes"], (3, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x)
    (exported,) = onnx_session(out / "model.onnx").run(["logits"], {"input": x.numpy()})
    np.testing.assert_allclose(exported, logits.numpy(), atol=1e-4)
    # Saved again (the tied tensor once) and loaded back: the same logits, bit for bit.
    save_model(tmp_path / "again", model, config)
    again, _ = load_model(tmp_path / "again")
    with torch.no_grad():
        assert torch.equal(again(x), logits)


def test_sampling_is_seeded_and_greedy_at_temperature_zero(lm_folder):
    out, _ = lm_folder
    model, config = load_model(out)
    vocab = config["network"]["vocabulary"]
    a = sample_text(out, prompt="def ", length=40, temperature=0.8, seed=0)
    assert a == sample_text(out, prompt="def ", length=40, temperature=0.8, seed=0)
    assert len(a) == 40 and set(a) <= set(vocab[1:])  # <unk> is never written
    assert sample_texts(out, prompt="def ", length=40, seeds=[0, 1, 2]) == [
        a, *(sample_text(out, prompt="def ", length=40, seed=s) for s in (1, 2))]
    assert len({a, *sample_texts(out, prompt="def ", length=40, seeds=[1, 2])}) > 1
    greedy = sample_text(out, prompt="def ", length=20, temperature=0, seed=0)
    assert greedy == sample_text(out, prompt="def ", length=20, temperature=0, seed=7)
    ids = encode("def ", vocab)
    with torch.no_grad():
        for _ in range(20):
            logits = model(torch.tensor([ids[-64:]]))[0, -1]
            ids.append(int(logits[1:].argmax()) + 1)
    assert greedy == "".join(vocab[i] for i in ids[4:])
    # A character the task never trained on reads as <unk> (id 0); sampling still continues.
    assert encode("€a", vocab) == [0, vocab.index("a")]
    assert len(generate(model, vocab, 64, prompt="€" * 100, length=5, temperature=0)) == 5


def test_nas_gym_sample_prints_one_line_per_seed(lm_folder, capsys):
    out, _ = lm_folder
    assert main(["sample", str(out), "--prompt", "The ", "--length", "30", "--lines", "3", "--seed", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith("The ") for line in lines)
    expected = sample_texts(out, prompt="The ", length=30, seeds=[4, 5, 6])
    assert lines == ["The " + text.replace("\n", "⏎") for text in expected]


def test_sampling_refuses_bad_arguments_and_models_that_are_not_language_models(lm_folder, tmp_path, capsys):
    out, _ = lm_folder
    for bad in (-0.5, math.inf, "hot"):
        with pytest.raises(ConfigError, match="temperature must be a finite number >= 0"):
            sample_text(out, temperature=bad)
    with pytest.raises(ConfigError, match="length must be"):
        sample_text(out, length=-1)
    assert main(["sample", str(out), "--temperature", "-1"]) == 2
    assert "temperature must be" in capsys.readouterr().err
    assert main(["sample", str(out), "--lines", "0"]) == 2
    network = {"space": "layers", "space_kwargs": {"filters": [8], "num_layers": 2}, "arch": "conv3x3-8-relu|identity",
               "task": "digits", "task_kwargs": {}, "input_shape": [1, 8, 8], "num_classes": 10, "scaling": None}
    save_model(tmp_path / "digits", build_model(network, seed=0), {"network": network})
    with pytest.raises(ConfigError, match="Sampling text needs a language model"):
        sample_text(tmp_path / "digits")
    with pytest.raises(DataError, match="not a model folder"):
        sample_text(tmp_path / "nothing")


def test_train_config_defaults_per_task_kind():
    unset = TrainConfig(device="cpu")
    classifier, lm = unset.for_task("classification"), unset.for_task("language_model")
    assert (classifier.optimizer, classifier.lr, classifier.label_smoothing, classifier.clip_grad_norm) == (
        "sgd", 0.05, 0.1, None)
    assert (lm.optimizer, lm.lr, lm.weight_decay, lm.label_smoothing, lm.clip_grad_norm, lm.epochs) == (
        "adamw", 3e-3, 0.01, 0.0, 1.0, 8)
    assert lm.for_task("language_model") == lm and classifier.for_task("classification") == classifier
    assert "clip_grad_norm" not in classifier.to_json()  # a classifier's model.json reads as before
    off = TrainConfig(clip_grad_norm=0, lr=0.01, device="cpu").for_task("language_model")
    assert off.clip_grad_norm == 0 and not off.clips and off.lr == 0.01 and off.optimizer == "adamw"
    assert TrainConfig.from_json(off.to_json()).for_task("language_model") == off
    with pytest.raises(ConfigError, match="clip_grad_norm must be"):
        TrainConfig(clip_grad_norm=-1.0)
    with pytest.raises(ConfigError, match="Unknown task kind"):
        unset.for_task("translation")
    # The CLI leaves the task-dependent options unset unless given (--clip-grad-norm 0: no clipping).
    from nas_gym.cli import build_parser

    args = build_parser().parse_args(["train", "run", "--clip-grad-norm", "0"])
    assert args.clip_grad_norm == 0 and args.optimizer is None and args.lr is None and args.epochs is None
