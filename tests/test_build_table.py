"""Smoke test of scripts/build_table.py through its real command line, on the first few classes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas_gym.evaluators.table import TableEvaluator, TabularBenchmark
from nas_gym.spaces.nb201 import NB201Space

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "build_table.py"


def build(work: Path, out: Path, limit: int, *extra: str) -> subprocess.CompletedProcess:
    # A sliver of digits keeps each class well under a second (generating MNIST-1D costs every worker about 5 s).
    cmd = [
        sys.executable, str(SCRIPT), "--task", "digits", "--train-fraction", "0.05", "--workers", "2",
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


def test_a_build_with_curves_records_them_and_a_table_of_them_serves_fidelities(tmp_path, monkeypatch):
    """--curve, in this process: a class's record holds its learning curve, and the written table serves it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_table", SCRIPT)
    bt = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "build_table", bt)  # dataclasses look their module up there
    spec.loader.exec_module(bt)
    args = bt.Args(task="digits", epochs=2, train_fraction=0.05, curve=True)
    assert args.training_settings()["curve"] is True and "curve" not in bt.Args().training_settings()
    bt._init_worker(args.training_settings())
    space = NB201Space()
    reps, class_of = bt.classes(space)
    record = bt._train((0, reps[0].indices))
    assert len(record["learning_curve"]) == 2 and record["learning_curve"][-1] == record["val_accuracy"]
    rows = bt.expand(space, class_of, {0: record}, {0: 0.1}, None)
    out = tmp_path / "t.csv.gz"
    bt.write_table(out, rows, args.columns)
    table = TabularBenchmark.load(out, space=space, val_column="val_accuracy", test_column="test_accuracy")
    evaluator = TableEvaluator(table)
    assert evaluator.max_epochs() == 2
    at_one = evaluator.evaluate_at(table.arch_at(0), 1)
    assert at_one.val_accuracy == pytest.approx(record["learning_curve"][0], abs=1e-5)
    assert at_one.extra["learning_curve"] == [at_one.val_accuracy]


def test_train_cells_retrains_as_the_build_does_in_input_order_and_the_seed_matters(monkeypatch):
    """train_cells (bench_supernet's noise ceiling): the build's recipe in spawned workers, records in input order."""
    import dataclasses

    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # the spawned workers import build_table by name
    monkeypatch.delitem(sys.modules, "build_table", raising=False)
    import build_table as bt

    args = bt.Args(task="digits", train_fraction=0.05, workers=2)
    reps, _ = bt.classes(NB201Space())
    cells = [reps[c].indices for c in (5, 0, 3)]
    records = bt.train_cells(args, cells)
    assert [r["arch"] for r in records] == [str(reps[c]) for c in (5, 0, 3)]
    # The same figures as the build's own worker function in this process, with the same settings.
    bt._init_worker(args.training_settings())
    in_process = [bt._train((i, cell)) for i, cell in enumerate(cells)]
    assert [r["val_accuracy"] for r in records] == [r["val_accuracy"] for r in in_process]
    other_seed = bt.train_cells(dataclasses.replace(args, seed=1), cells)
    assert [r["val_accuracy"] for r in other_seed] != [r["val_accuracy"] for r in records]
