"""Smoke test of scripts/build_table.py through its real command line, on the first few classes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nas_gym  # noqa: F401
from nas_gym.evaluators.table import TableEvaluator, TabularBenchmark
from nas_gym.spaces.nb201 import NB201Space

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "build_table.py"


def build(work: Path, out: Path, limit: int, *extra: str) -> subprocess.CompletedProcess:
    # A sliver of the training split keeps each class well under a second.
    cmd = [
        sys.executable, str(SCRIPT), "--task", "mnist1d", "--train-fraction", "0.02", "--workers", "2",
        "--limit", str(limit), "--work-dir", str(work), "--out", str(out), *extra,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_build_resume_and_load(tmp_path, nb201_table):
    work, out = tmp_path / "work", tmp_path / "table.csv.gz"
    space = NB201Space()

    first = build(work, out, 3, "--reference", nb201_table)
    assert first.returncode == 0, first.stderr
    assert "0 of 3 classes already" in first.stdout
    trained = records(work / "train.jsonl")
    assert sorted(r["class_id"] for r in trained) == [0, 1, 2]

    # A kill mid-write leaves a torn last line; the resumed build drops it and retrains nothing done.
    with open(work / "train.jsonl", "a", encoding="utf-8") as f:
        f.write('{"class_id": 3, "arch"')
    second = build(work, out, 5, "--reference", nb201_table)
    assert second.returncode == 0, second.stderr
    assert "3 of 5 classes already" in second.stdout and "2 to train" in second.stdout
    assert "3 of 5 classes already" in second.stdout.split("Latency:")[1]
    resumed = records(work / "train.jsonl")
    assert resumed[:3] == trained
    assert sorted(r["class_id"] for r in resumed) == [0, 1, 2, 3, 4]

    table = TabularBenchmark.load(
        out,
        space=space,
        val_column="val_accuracy",
        test_column="test_accuracy",
        latency_column="latency_ms",
        cost_column="train_seconds",
    )
    assert table.percent == {"val_accuracy": False, "test_accuracy": False}
    class_of = {c: space.from_string(r["arch"]) for c, r in ((r["class_id"], r) for r in resumed)}
    # Every cell of the five classes is there, with its class's figures, in NB201 index order.
    cells = [a for a in space.enumerate() if space.canonical(a) in class_of.values()]
    assert len(table) == len(cells)
    assert table.column("arch_index").tolist() == sorted(table.column("arch_index").tolist())
    evaluator = TableEvaluator(table)
    for cell in cells[:: max(1, len(cells) // 25)]:
        row = table.lookup(cell)
        rep = class_of[int(table.column("class_id")[row])]
        assert space.canonical(cell) == rep
        record = next(r for r in resumed if r["arch"] == str(rep))
        metrics = evaluator.evaluate(cell)
        assert metrics.val_accuracy == pytest.approx(record["val_accuracy"], abs=1e-5)
        assert metrics.params == record["params"] and metrics.flops == record["flops"]
        assert metrics.latency_ms > 0
    with gzip.open(out, "rt", encoding="utf-8") as f:
        assert f.readline().strip() == (
            "arch_index,arch_str,val_accuracy,test_accuracy,params,flops,train_seconds,latency_ms,class_id,no_path"
        )
    card = out.with_name("table.md").read_text(encoding="utf-8")
    assert "Partial build:** 5 of 6466 classes" in card and "Spearman" in card

    # Rerunning a finished build trains nothing and rewrites the same table.
    before = out.read_bytes()
    third = build(work, out, 5, "--reference", nb201_table)
    assert third.returncode == 0, third.stderr
    assert "5 to train" not in third.stdout and "0 to train" in third.stdout
    assert out.read_bytes() == before


def test_resume_refuses_other_settings(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "settings.json").write_text(json.dumps({"task": "mnist1d", "epochs": 9}), encoding="utf-8")
    result = build(work, tmp_path / "t.csv.gz", 1, "--reference", "None")
    assert result.returncode != 0
    assert "Pass the same settings to resume" in result.stderr
    assert not (work / "train.jsonl").exists()


@pytest.mark.slow
def test_a_build_with_curves_serves_fidelities(tmp_path, nb201_table):
    work, out = tmp_path / "work", tmp_path / "table.csv.gz"
    done = build(work, out, 2, "--reference", nb201_table, "--epochs", "2", "--curve", "--latency-repeats", "3")
    assert done.returncode == 0, done.stderr
    assert all(len(r["learning_curve"]) == 2 for r in records(work / "train.jsonl"))
    env = gym.make("NAS-Bench-201-v0", table=str(out), val_column="val_accuracy", test_column="test_accuracy")
    table = env.unwrapped.table
    assert env.unwrapped.parts.evaluator.max_epochs() == 2
    np.testing.assert_array_equal(table.column("val_accuracy@2"), table.column("val_accuracy"))
    row = table.arch_at(0)
    env.reset(options={"epochs": 1})
    info = {}
    for a in row.indices:
        _, _, _, _, info = env.step(a)
    assert info["epochs"] == 1 and info["val_accuracy"] == table.column("val_accuracy@1")[0]
