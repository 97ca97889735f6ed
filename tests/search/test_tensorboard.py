"""A run's TensorBoard: one run folder, x = evaluations, one point per tag and step, across kills and resumes.

The event files are read back one by one with TensorBoard's own reader, in the order TensorBoard reads
them (by name). ``EventAccumulator`` on the folder would hide the defect: it drops the points whose step
goes backwards ("out of order event.step ... Removing N scalars") and shows what is left.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from tensorboard.compat.proto.event_pb2 import SessionLog
from test_resume_kill import complete_lines, records, search_command

from nas_gym.search.searcher import run_search

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: The embedded NAS-Bench-201 table with its latency column (the multi-objective methods need it).
TABLE = {"latency_column": "latency_ms", "latency_weight": 0}
SUPERNET = {"evaluator": "supernet", "task": "digits", "latency_weight": 0,
            "evaluator_kwargs": {"inline_steps": 2, "pretrain_epochs": 1, "bn_batches": 1}}
PPO = {"episodes_per_update": 4, "num_minibatches": 2, "n_epochs": 2}
#: agent: (env kwargs, agent kwargs, budget)
METHODS = {
    "random": (TABLE, {}, 20),
    "reinforce": (TABLE, {"batch_size": 4}, 22),
    "mo_reinforce": (TABLE, {"batch_size": 4}, 22),
    "ppo": (TABLE, PPO, 24),
    "mo_ppo": (TABLE, PPO, 24),
    "enas": (SUPERNET, {"batch_size": 4, "top_k": 2}, 12),
}
#: Written once per evaluation, at step ``index + 1``.
PER_EVALUATION = ("nas/reward", "nas/val_accuracy", "nas/best_reward", "nas/num_evaluated", "nas/search_cost_s")


def event_files(folder: Path) -> list[Path]:
    """Every event file under ``folder``, subfolders included, in TensorBoard's order within a folder."""
    return sorted(folder.rglob("events.out.tfevents.*"))


def file_points(path: Path) -> list[tuple[str, int, float]]:
    """(tag, step, value) of every summary value in one event file, in order."""
    found = []
    for event in LegacyEventFileLoader(str(path)).Load():
        # A START session log makes TensorBoard drop every point already read from its step on.
        assert event.session_log.status != SessionLog.START, f"{path.name} purges earlier points"
        found.extend((value.tag, event.step, value.simple_value) for value in event.summary.value)
    return found


def points(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) of every summary value in the run's event files, tag by tag, in TensorBoard's reading order."""
    found: dict[str, list[tuple[int, float]]] = {}
    for path in event_files(folder):
        for tag, step, value in file_points(path):
            found.setdefault(tag, []).append((step, value))
    return found


def check_one_curve_per_tag(folder: Path, budget: int) -> dict[str, list[tuple[int, float]]]:
    """One run (event files only in ``folder`` itself), steps rising per tag, ``nas/*`` at 1..budget once each."""
    files = event_files(folder)
    assert files, f"no event files in {folder}"
    assert {p.parent for p in files} == {folder}, f"a second TensorBoard run: {sorted(map(str, files))}"
    found = points(folder)
    for tag, tag_points in found.items():
        steps = [s for s, _ in tag_points]
        assert all(a < b for a, b in zip(steps, steps[1:], strict=False)), f"{tag}: steps {steps}"
    for tag in PER_EVALUATION:
        assert [s for s, _ in found[tag]] == list(range(1, budget + 1)), tag
    history = records(folder / "history.jsonl")
    assert [v for _, v in found["nas/reward"]] == pytest.approx([r["reward"] for r in history], abs=1e-6)
    assert [v for _, v in found["nas/best_reward"]] == pytest.approx([r["best_reward"] for r in history], abs=1e-6)
    costs = [v for _, v in found["nas/search_cost_s"]]
    assert costs == sorted(costs), "the search cost must not start again at a resume"
    return found


@pytest.mark.parametrize("agent", list(METHODS))
def test_a_run_and_its_resume_write_one_curve_per_tag(agent, tmp_path):
    env_kwargs, agent_kwargs, budget = METHODS[agent]
    out = tmp_path / "run"
    run_search(agent, "NAS-Bench-201-v0", env_kwargs, budget=budget, seed=1, out_dir=out, agent_kwargs=agent_kwargs)
    found = check_one_curve_per_tag(out, budget)
    assert {"hyperparameters/text_summary", "eval/best_reward"} <= set(found)
    if agent != "random":
        assert "losses/policy_loss" in found and "losses/entropy" in found
    if agent == "ppo":  # SB3's own values, under their own tags, in the same run
        assert {"losses/value_loss", "sb3/train/loss", "sb3/rollout/ep_rew_mean"} <= set(found)
        assert not {tag for tag in found if tag.startswith("sb3/nas")}

    # Resume as after a kill that lost the last history line but none of the events, and cut an event
    # short: the replayed evaluations are in the first event file already and must not be written again.
    [first] = event_files(out)
    with first.open("ab") as f:
        f.write(first.read_bytes()[:10])  # a record's length and part of its checksum
    lines = (out / "history.jsonl").read_bytes().splitlines(keepends=True)
    (out / "history.jsonl").write_bytes(b"".join(lines[:-1]))  # ENAS keeps the supernet states of the last two
    (out / "summary.json").unlink()
    summary = run_search(agent, "NAS-Bench-201-v0", env_kwargs, budget=budget, seed=1, out_dir=out,
                         agent_kwargs=agent_kwargs)
    assert summary["resumed_from"] == budget - 1
    assert len(event_files(out)) == 2
    again = check_one_curve_per_tag(out, budget)
    assert [len(again[tag]) for tag in ("hyperparameters/text_summary", "eval/best_reward")] == [1, 1]


def _kill_after(cmd: list[str], out: Path, lines: int, timeout_s: float = 300.0) -> int:
    """Start ``cmd``; SIGKILL it once the history holds ``lines`` lines and its own event file has a point on disk.

    Returns:
        The complete history lines on disk after the kill.
    """
    history, before = out / "history.jsonl", set(event_files(out))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if complete_lines(history) >= lines:
            new = [p for p in event_files(out) if p not in before]
            if new and any(tag == "nas/reward" for tag, _, _ in file_points(new[0])):
                break
        time.sleep(0.003)
    assert proc.poll() is None, f"the run ended before the kill: {proc.stderr.read().decode()}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return complete_lines(history)


@pytest.mark.slow
# The in-process test above covers every method's resume; this adds real SIGKILLs mid-write, on the method
# with the most writers (its own logger and SB3's).
@pytest.mark.parametrize(("agent", "budget"), [("ppo", 60)])
def test_kills_and_resumes_keep_each_step_once(agent, budget, tmp_path):
    """``nas-gym search`` SIGKILLed twice (the second time past its replay), then run to the end."""
    env_kwargs, agent_kwargs, _ = METHODS[agent]
    out = tmp_path / "run"
    cmd = [*search_command(agent, "NAS-Bench-201-v0", env_kwargs, budget, 2, out),
           "--agent-kwargs", json.dumps(agent_kwargs)]
    at = _kill_after(cmd, out, budget // 3)
    assert at < budget - 1
    _kill_after(cmd, out, at + (budget - at) // 2)
    done = subprocess.run(cmd, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert len(event_files(out)) == 3  # each process's points in a file of its own, each file with some
    check_one_curve_per_tag(out, budget)
