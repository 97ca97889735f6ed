"""Property-based fuzzing: random kwargs, actions and corrupted files may only raise ``nas_gym`` errors.

Each target is a function that runs one case and lets any exception that is
not a :class:`nas_gym.error.NASGymError` escape; :data:`TARGETS` pairs it with
its hypothesis strategy so ``scripts/bench_reliability.py`` can run the very
same cases and count them.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import inspect
import io
import json
import math
import os
import sqlite3
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nas_gym
from nas_gym.data import NB201_DATASETS
from nas_gym.error import NASGymError
from nas_gym.search.searcher import run_search
from nas_gym.storage.cache import EvalCache
from nas_gym.tasks.base import make_task

#: The packaged NAS-Bench-201 CIFAR table (nas_gym/data/nb201_cifar.md).
PACKAGED_TABLE = NB201_DATASETS["cifar100"].path
NB201 = {"val_column": "c100_valid", "test_column": "c100_test", "latency_weight": 0}
#: Examples per target; raise it (e.g. NAS_GYM_FUZZ_EXAMPLES=2000) for a longer hunt.
FUZZ = settings(max_examples=int(os.environ.get("NAS_GYM_FUZZ_EXAMPLES", 40)), deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

@contextlib.contextmanager
def nas_gym_errors_only():
    """Let a case end normally or with a ``NASGymError``; anything else escapes."""
    with contextlib.suppress(NASGymError):
        yield


# -- corruption -------------------------------------------------------------------

corruptions = st.tuples(
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=6),
    st.one_of(st.none(), st.floats(0, 1)),
)


def corrupt(data: bytes, corruption: tuple[list[tuple[float, int]], float | None]) -> bytes:
    """Overwrite bytes at relative positions, then optionally truncate at a relative length."""
    flips, cut = corruption
    out = bytearray(data)
    for where, value in flips:
        if out:
            out[int(where * len(out))] = value
    if cut is not None:
        out = out[: int(cut * len(out))]
    return bytes(out)


# -- env kwargs ---------------------------------------------------------------------

ENV_KEYS = [p for p in inspect.signature(nas_gym.NASEnv.__init__).parameters if p not in ("self", "unknown")]
SUB_KEYS = ["num_layers", "ops", "epochs", "lr", "path", "split_seed", "repeats", "batch_size", "max_seconds",
            "task", "seed", "skip", "bogus"]
WORDS = ["layers", "nb201", "layerz", "digits", "npz", "mnist", "table", "train", "hinge", "linear", "mnasnet",
         "acc", "c100_valid", "c100_test", "c10_test", "lat_fpga_ms", "lat_tpu_ms", "arch_str", "arch_index", "auto",
         "none", "measured", "op_table", "penalty", "raise", "ansi", "human", "conv", "", "<table>", "<file>"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 8), st.integers(), st.floats(), st.sampled_from(WORDS),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(SUB_KEYS), st.one_of(scalars, st.lists(st.sampled_from(WORDS), max_size=2)),
                    max_size=3),
)
env_cases = st.tuples(
    st.sampled_from(["NAS-Bench-201-v0", "NAS-v0"]),
    st.dictionaries(st.sampled_from([*ENV_KEYS, "bogus", "latency_wieght", "spaces"]), values, max_size=5),
)


def _materialise(value, folder: str):
    """Swap placeholder words for real paths: the packaged table, or a scratch file in ``folder``."""
    if value == "<table>":
        return str(PACKAGED_TABLE)
    if value == "<file>":
        return os.path.join(folder, "scratch.bin")
    if isinstance(value, list):
        return [_materialise(v, folder) for v in value]
    if isinstance(value, dict):
        return {k: _materialise(v, folder) for k, v in value.items()}
    return value


def fuzz_env_kwargs(case) -> None:
    """Build an env from random kwargs; if it builds and looks results up in a table, play an episode."""
    env_id, kwargs = case
    with tempfile.TemporaryDirectory() as folder:
        kwargs = {k: _materialise(v, folder) for k, v in kwargs.items()}
        if isinstance(kwargs.get("cache"), str):
            # Never let a fuzzed cache path point at a real file (the packaged table) or the working dir.
            kwargs["cache"] = os.path.join(folder, "cache.sqlite")
        base = {**NB201, "table": str(PACKAGED_TABLE)} if env_id == "NAS-Bench-201-v0" else {"cache": False}
        with nas_gym_errors_only():
            if kwargs.get("render_mode") is None or isinstance(kwargs["render_mode"], str):
                env = gym.make(env_id, **{**base, **kwargs})
            else:  # gym.make itself calls str methods on render_mode before the env sees it
                env = nas_gym.NASEnv(**{**gym.spec(env_id).kwargs, **base, **kwargs})
            try:
                _, info = env.reset(seed=0)
                if env.unwrapped.table is None:
                    return  # would train: building is what is fuzzed here
                rng = np.random.default_rng(0)
                terminated = False
                while not terminated:
                    _, _, terminated, _, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
            finally:
                env.close()


# -- action sequences ---------------------------------------------------------------

actions = st.one_of(
    st.integers(-2, 6),
    st.integers(),
    st.floats(),
    st.builds(np.int64, st.integers(-2, 6)),
    st.builds(lambda v: np.array([v]), st.integers(-1, 5)),
    st.builds(lambda v: np.float32(v), st.integers(0, 4)),
    st.sampled_from(["reset", "reset", "a", None, (1,), np.array([1, 2])]),
)
action_cases = st.tuples(
    st.sampled_from(["NAS-Bench-201-v0", "NAS-v0"]),
    st.sampled_from(["penalty", "raise"]),
    st.lists(actions, max_size=25),
)
TINY_TRAINING = {"space_kwargs": {"num_layers": 1}, "latency": "none",
                 "evaluator_kwargs": {"epochs": 1, "train_fraction": 0.05}}


def fuzz_actions(case) -> None:
    """Step random actions (out of range, masked, negative, floats, numpy, junk) with resets in between."""
    env_id, mode, sequence = case
    kwargs = {**NB201, "table": str(PACKAGED_TABLE)} if env_id == "NAS-Bench-201-v0" else TINY_TRAINING
    env = gym.make(env_id, **kwargs, invalid_action=mode)
    env.reset(seed=0)
    for action in sequence:
        if isinstance(action, str) and action == "reset":
            env.reset()
            continue
        with nas_gym_errors_only():
            _, reward, terminated, truncated, info = env.step(action)
            assert math.isfinite(reward) and not truncated
            assert info["action_mask"].dtype == bool
            if terminated:
                assert "arch" in info or info["invalid_action"]
    env.close()


# -- corrupted files ----------------------------------------------------------------


@functools.cache
def _table_slice() -> bytes:
    with gzip.open(PACKAGED_TABLE, "rb") as f:
        return b"".join(next(f) for _ in range(31))


table_cases = st.tuples(st.sampled_from([".csv", ".json"]), corruptions)


def fuzz_table(case) -> None:
    """Load a corrupted slice of the real table (as CSV or JSON); if it loads, look every row up."""
    suffix, corruption = case
    data = _table_slice()
    if suffix == ".json":
        lines = data.decode().splitlines()
        header = lines[0].split(",")
        data = json.dumps([dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"table{suffix}"
        path.write_bytes(corrupt(data, corruption))
        with nas_gym_errors_only():
            env = gym.make("NAS-Bench-201-v0", table=str(path), **{**NB201, "latency_column": "lat_fpga_ms"})
            table = env.unwrapped.table
            for row in range(table.rows):
                env.reset()
                for a in table.arch_at(row).indices:
                    _, reward, *_ = env.step(a)
                assert math.isfinite(reward)
            env.close()


@functools.cache
def _npz_bytes(compressed: bool) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buffer, x=rng.random((40, 6)).astype(np.float32), y=np.arange(40) % 4)
    return buffer.getvalue()


npz_cases = st.tuples(st.booleans(), corruptions)


def fuzz_npz(case) -> None:
    """Load a corrupted ``.npz`` as a task."""
    compressed, corruption = case
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data.npz")
        with open(path, "wb") as f:
            f.write(corrupt(_npz_bytes(compressed), corruption))
        with nas_gym_errors_only():
            task = make_task("npz", path=path)
            assert task.num_classes >= 1 and np.isfinite(task.x_train).all()


@functools.cache
def _cache_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "cache.sqlite")
        cache = EvalCache(path)
        for i in range(60):
            cache.put(f"key{i}", {"metrics": {"val_accuracy": i / 60}, "pad": "x" * 100})
        cache.close()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, as after a clean exit
        conn.close()
        with open(path, "rb") as f:
            return f.read()


def fuzz_cache(corruption) -> None:
    """Open a corrupted cache file and use it: read every record, write, claim, count."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "cache.sqlite")
        with open(path, "wb") as f:
            f.write(corrupt(_cache_bytes(), corruption))
        with nas_gym_errors_only():
            with EvalCache(path, timeout_s=2) as cache:
                for i in range(60):
                    cache.get(f"key{i}")
                cache.put("new", {"a": 1})
                cache.claim("other")
                cache.release("other")
                assert len(cache) >= 1


@functools.cache
def _finished_run() -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as folder:
        run_search("random", "NAS-Bench-201-v0", {**NB201, "table": str(PACKAGED_TABLE)}, budget=6, seed=0,
                   out_dir=folder)
        return Path(folder, "run.json").read_bytes(), Path(folder, "history.jsonl").read_bytes()


history_cases = st.tuples(st.booleans(), corruptions)


def fuzz_history(case) -> None:
    """Resume a run whose ``history.jsonl`` (or ``run.json``) was corrupted."""
    in_meta, corruption = case
    meta, history = _finished_run()
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "run.json").write_bytes(corrupt(meta, corruption) if in_meta else meta)
        Path(folder, "history.jsonl").write_bytes(history if in_meta else corrupt(history, corruption))
        with nas_gym_errors_only():
            summary = run_search("random", "NAS-Bench-201-v0", {**NB201, "table": str(PACKAGED_TABLE)}, budget=6,
                                 seed=0, out_dir=folder)
            assert summary["num_evaluated"] == 6


#: name -> (strategy, one-case function); the tests below and scripts/bench_reliability.py run these.
TARGETS = {
    "env_kwargs": (env_cases, fuzz_env_kwargs),
    "actions": (action_cases, fuzz_actions),
    "table_file": (table_cases, fuzz_table),
    "npz_file": (npz_cases, fuzz_npz),
    "cache_file": (corruptions, fuzz_cache),
    "run_folder": (history_cases, fuzz_history),
}


@FUZZ
@given(env_cases)
def test_fuzz_env_kwargs(case):
    fuzz_env_kwargs(case)


@FUZZ
@given(action_cases)
def test_fuzz_actions(case):
    fuzz_actions(case)


@FUZZ
@given(table_cases)
def test_fuzz_table_files(case):
    fuzz_table(case)


@FUZZ
@given(npz_cases)
def test_fuzz_npz_files(case):
    fuzz_npz(case)


@FUZZ
@given(corruptions)
def test_fuzz_cache_files(case):
    fuzz_cache(case)


@FUZZ
@given(history_cases)
def test_fuzz_run_folders(case):
    fuzz_history(case)


@pytest.mark.slow
def test_bench_reliability_script_smoke():
    """scripts/bench_reliability.py through its command line, tiny: both figures print and meet their goal."""
    import re
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_reliability.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--agents", "random", "--budget", "40", "--kills", "2", "--fuzz-cases", "3"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Evaluations lost: 0   duplicated: 0   different from the uninterrupted run: 0" in proc.stdout
    assert re.search(r"Fuzz cases run: 1\d   unexpected exceptions: 0", proc.stdout), proc.stdout
