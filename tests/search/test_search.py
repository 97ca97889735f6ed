"""The search-run API: history, summary, TensorBoard tags, resume by replay, CLI errors."""

import json
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nas_gym.error import ConfigError
from nas_gym.search.run import HISTORY_KEYS, Budget, SearchRun
from nas_gym.search.searcher import run_search


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_run_writes_history_summary_and_tags(tmp_path, nb201_kwargs):
    summary = run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=15, seed=2, out_dir=tmp_path)
    history = _lines(tmp_path / "history.jsonl")
    assert [r["index"] for r in history] == list(range(15))
    assert all(list(r) == list(HISTORY_KEYS) for r in history)
    best = max(r["reward"] for r in history)
    assert [r["best_reward"] for r in history][-1] == best == summary["best"]["reward"]
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["best"]["arch"] == summary["best"]["arch"] and on_disk["num_evaluated"] == 15
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"nas/reward", "nas/best_reward", "nas/num_evaluated", "nas/val_accuracy"} <= set(tags)
    rewards = [e.value for e in acc.Scalars("nas/reward")]
    assert rewards == pytest.approx([r["reward"] for r in history])
    assert [e.step for e in acc.Scalars("nas/best_reward")] == list(range(1, 16))


def test_resume_replays_to_the_same_result(tmp_path, nb201_kwargs):
    full, part = tmp_path / "full", tmp_path / "part"
    run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=20, seed=4, out_dir=full)
    part.mkdir()
    (part / "run.json").write_bytes((full / "run.json").read_bytes())
    data = (full / "history.jsonl").read_bytes()
    (part / "history.jsonl").write_bytes(data[: len(data) // 2])  # cut mid-line, as a SIGKILL would
    summary = run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=20, seed=4, out_dir=part)
    assert (part / "history.jsonl").read_bytes() == data
    assert 0 < summary["resumed_from"] < 20


def test_resume_refuses_a_different_run(tmp_path, nb201_kwargs):
    run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=3, seed=0, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="holds a different run .*seed"):
        run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=3, seed=1, out_dir=tmp_path)


def test_budget_is_exact_and_validated(nb201_kwargs):
    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=4) as run:
        while not run.done:
            run.evaluate(run.space.sample(run.rng))
        assert run.num_evaluated == 4
    for bad in (0, -3, 2.5):
        with pytest.raises(ConfigError, match="budget must be an integer"):
            Budget(bad)


def test_evaluate_accepts_strings_and_indices(nb201_kwargs):
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=2) as run:
        a = run.evaluate(s)
        b = run.evaluate(run.space.from_string(s).indices)
        assert a["arch"] == b["arch"] == s and a["reward"] == b["reward"]


def test_cli_unknown_agent_lists_known(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nas_gym.cli", "search", "--agent", "randon", "--out", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "Unknown agent 'randon'. Did you mean 'random'?" in proc.stderr
    for name in ("evolution", "reinforce", "ppo", "tpe", "darts", "grid"):
        assert name in proc.stderr


def test_cli_bad_env_kwargs_json(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nas_gym.cli", "search", "--env-kwargs", "{table:", "--out", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2 and "expected a JSON object" in proc.stderr
