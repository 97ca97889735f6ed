"""Bad input: each case raises a typed ``nas_gym`` error whose message says what was expected and how to fix it."""

import json
import sqlite3
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import (
    CacheError,
    ConfigError,
    DataError,
    EpisodeEndedError,
    InvalidActionError,
    NASGymError,
)
from nas_gym.search.run import Budget, ResumeError, SearchRun
from nas_gym.search.searcher import run_search
from nas_gym.storage.cache import EvalCache
from nas_gym.tasks.base import make_task

TINY = {"space_kwargs": {"num_layers": 1}, "evaluator_kwargs": {"epochs": 1}, "cache": False, "latency": "none"}


def _slice(nb201_table, tmp_path, rows=40, name="slice.csv"):
    """A real slice of the shared table: header and the first ``rows`` rows."""
    with open(nb201_table, encoding="utf-8") as f:
        lines = [next(f) for _ in range(rows + 1)]
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _table_env(path, **kwargs):
    return gym.make("NAS-Bench-201-v0", table=str(path), val_column="c100_valid", test_column="c100_test", **kwargs)


# -- env arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bogus": 1}, r"unknown argument 'bogus'\. Valid arguments: space, space_kwargs"),
        ({"latency_wieght": 0}, r"unknown argument 'latency_wieght'\. Did you mean 'latency_weight'\?"),
        ({"space": "layerz"}, r"Unknown space 'layerz'\. Did you mean 'layers'\?"),
        ({"space": 3}, r"space must be a string, got 3"),
        ({"space_kwargs": {"num_layerz": 2}}, r"no argument 'num_layerz'\. Did you mean 'num_layers'\?"),
        ({"space_kwargs": [2]}, r"space_kwargs must be a dict .* such as \{'num_layers': 2\}; got \[2\]"),
        ({"space_kwargs": {"ops": ["conv3"]}}, r"Unknown op 'conv3'\. Did you mean 'conv'\?"),
        ({"task": "mnist"}, r"Unknown task 'mnist'\. Did you mean 'mnist1d'\?"),
        ({"task_kwargs": {"pth": "x.npz"}}, r"task_kwargs has no argument 'pth'\. Did you mean 'path'\?"),
        ({"task": "npz"}, r"Task 'npz' needs path="),
        ({"reward": "hing"}, r"Unknown reward 'hing'\. Did you mean 'hinge'\?"),
        ({"evaluator_kwargs": {"epoch": 1}}, r"evaluator_kwargs has no argument 'epoch'\. Did you mean 'epochs'\?"),
        ({"evaluator_kwargs": {"epochs": 0}}, r"epochs must be an integer >= 1, got 0"),
        ({"evaluator_kwargs": {"task": "digits"}}, r"no argument 'task' \(the env sets it\)"),
        ({"latency_kwargs": {"repeat": 3}}, r"latency_kwargs has no argument 'repeat'\. Did you mean 'repeats'\?"),
        ({"latency_target_ms": 0}, r"latency_target_ms must be a number > 0"),
        ({"latency_target_ms": -2.5}, r"latency_target_ms must be a number > 0"),
        ({"latency_target_ms": float("nan")}, r"latency_target_ms must be a finite number, got nan"),
        ({"latency_weight": -1}, r"latency_weight must be a finite number ≥ 0"),
        ({"latency_weight": "0.1"}, r"latency_weight must be a finite number, got '0.1'"),
        ({"invalid_action_penalty": "x"}, r"invalid_action_penalty must be a finite number"),
        ({"cache": 3}, r"cache must be True, False or a file path, got 3"),
        ({"latency_column": "lat_fpga_ms"}, r"latency_column='lat_fpga_ms' name columns of a table, but no table"),
        ({"val_column": "acc"}, r"val_column='acc' name columns of a table, but no table was given"),
    ],
)
def test_bad_env_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        gym.make("NAS-v0", **{"cache": False, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val_column": "c100_val"}, r"val column 'c100_val' not found\. Did you mean 'c100_valid'\?"),
        ({"latency_column": "lat_tpu_ms"}, r"latency column 'lat_tpu_ms' not found.* Available columns: .*lat_fpga_ms"),
        ({"arch_column": "arch"}, r"arch column 'arch' not found\. Did you mean 'arch_str'\?"),
    ],
)
def test_unknown_column_or_device(nb201_kwargs, kwargs, match):
    with pytest.raises(DataError, match=match):
        gym.make("NAS-Bench-201-v0", **{**nb201_kwargs, **kwargs})


def test_latency_target_not_positive_with_a_device(nb201_kwargs):
    with pytest.raises(ConfigError, match=r"latency_target_ms must be a number > 0 \(milliseconds\), got -1"):
        gym.make("NAS-Bench-201-v0", **{**nb201_kwargs, "latency_column": "lat_fpga_ms", "latency_target_ms": -1})


@pytest.mark.parametrize("budget", [0, -3, 2.5])
def test_impossible_budget(nb201_kwargs, budget):
    with pytest.raises(ConfigError, match=rf"budget must be an integer ≥ 1 .*got {budget}"):
        SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=budget)
    with pytest.raises(ConfigError, match="budget seconds must be > 0"):
        Budget(3, seconds=0)


def test_cli_negative_budget_is_a_clean_error(tmp_path, nb201_kwargs):
    proc = subprocess.run(
        [sys.executable, "-m", "nas_gym.cli", "search", "--env", "NAS-Bench-201-v0",
         "--env-kwargs", json.dumps(nb201_kwargs), "--budget", "-3", "--out", str(tmp_path / "run")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "nas-gym search: error: argument --budget: must be at least 1, got -3" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


def test_cli_bad_env_kwargs_then_fixed_reuses_the_folder(tmp_path, nb201_kwargs):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "nas_gym.cli", "search", "--env", "NAS-Bench-201-v0", "--budget", "3",
           "--no-progress", "--out", str(out), "--env-kwargs"]
    proc = subprocess.run([*cmd, json.dumps({**nb201_kwargs, "latency_wieght": 0})], capture_output=True, text=True)
    assert proc.returncode == 2 and "Did you mean 'latency_weight'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Nothing was evaluated, so the same folder takes the corrected arguments.
    proc = subprocess.run([*cmd, json.dumps(nb201_kwargs)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len((out / "history.jsonl").read_text().splitlines()) == 3


# -- actions ------------------------------------------------------------------------


def test_step_after_termination(nb201_kwargs):
    env = gym.make("NAS-Bench-201-v0", **nb201_kwargs)
    env.reset(seed=0)
    for _ in range(6):
        *_, terminated, _, _ = env.step(3)
    assert terminated
    with pytest.raises(EpisodeEndedError, match=r"episode has ended .*call reset\(\) before step\(\)"):
        env.step(0)


@pytest.mark.parametrize("action", [5, -1, 10**30])
def test_out_of_space_action_raises_even_in_penalty_mode(nb201_kwargs, action):
    env = gym.make("NAS-Bench-201-v0", **nb201_kwargs)  # invalid_action="penalty", the default
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="must be an integer in 0..4"):
        env.step(action)
    _, _, terminated, _, info = env.step(0)  # the episode goes on: nothing was decided
    assert not terminated and info["step"] == 1


def test_masked_action_raise_mode():
    env = gym.make("NAS-v0", **TINY, invalid_action="raise")
    _, info = env.reset(seed=0)
    masked = np.flatnonzero(~info["action_mask"])
    if len(masked) == 0:  # the first decision may allow every action; walk to one that masks some
        for _ in range(env.unwrapped.space.num_decisions - 1):
            _, _, _, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
            masked = np.flatnonzero(~info["action_mask"])
            if len(masked):
                break
    with pytest.raises(InvalidActionError, match=rf"Action {masked[0]} is invalid at step \d+ .*valid actions"):
        env.step(int(masked[0]))


@pytest.mark.parametrize("action", ["3", 1.5, float("nan"), float("inf"), None, [1, 2], np.array([1, 2])])
def test_non_integer_actions_raise_in_either_mode(nb201_kwargs, action):
    for mode in ("penalty", "raise"):
        env = gym.make("NAS-Bench-201-v0", **nb201_kwargs, invalid_action=mode)
        env.reset(seed=0)
        with pytest.raises(InvalidActionError, match=r"Action must be an integer in 0\.\.4"):
            env.unwrapped.step(action)


@pytest.mark.parametrize("action", [np.int64(3), np.uint8(3), 3.0, np.float32(3), np.array(3), np.array([3])])
def test_integral_actions_of_any_type_are_taken(nb201_kwargs, action):
    env = gym.make("NAS-Bench-201-v0", **nb201_kwargs)
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.unwrapped.step(action)
    assert not terminated and obs[0] == 4


# -- failed training ------------------------------------------------------------------


def _first_arch(env):
    _, info = env.reset(seed=0)
    terminated = False
    while not terminated:
        _, reward, terminated, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    return reward, info


def test_divergence_is_recorded_with_chance_reward():
    env = gym.make("NAS-v0", **{**TINY, "evaluator_kwargs": {"epochs": 1, "lr": 1e30}})
    reward, info = _first_arch(env)
    assert info["diverged"] is True and info["timed_out"] is False
    assert reward == info["val_accuracy"] == pytest.approx(0.1)  # chance on 10 digits


def test_time_limit_is_recorded_with_partial_model_reward(tmp_path):
    kwargs = {**TINY, "evaluator_kwargs": {"epochs": 50, "max_seconds": 0.01}}
    reward, info = _first_arch(gym.make("NAS-v0", **kwargs))
    assert info["timed_out"] is True and info["diverged"] is False
    assert 0.0 <= reward == info["val_accuracy"] <= 1.0 and info["cost_s"] < 5
    summary = run_search("random", "NAS-v0", kwargs, budget=2, seed=0, out_dir=tmp_path)
    history = [json.loads(x) for x in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [r["timed_out"] for r in history] == [True, True] and summary["best"]["timed_out"] is True


# -- dataset files ---------------------------------------------------------------------


def _npz(tmp_path, name="data.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


X = np.random.default_rng(0).random((30, 8)).astype(np.float32)
Y = np.arange(30) % 3


def test_good_npz_loads(tmp_path):
    task = make_task("npz", path=_npz(tmp_path, x=X, y=Y))
    assert task.num_classes == 3 and task.input_shape == (1, 8)


def test_npz_object_array_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}] * 30, dtype=object), y=Y)
    with pytest.raises(DataError, match=r"not a readable \.npz .*Object arrays are refused \(allow_pickle=False\)"):
        make_task("npz", path=str(path))


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": X}, r"missing array\(s\) \['y'\]; found \['x'\]"),
        ({"x": X, "y": Y[:20]}, r"x has 30 rows but y has 20"),
        ({"x": X, "y": Y.astype(np.complex64)}, r"'y' must be a 1-D array of integer class labels"),
        ({"x": X, "y": np.stack([Y, Y], 1).astype(float)}, r"float regression targets and must be 1-D"),
        ({"x": X, "y": np.where(Y > 1, np.inf, Y * 1.0)}, r"'y' contains NaN or Inf targets"),
        ({"x": X, "y": Y * 1.0, "x_val": X, "y_val": Y, "x_test": X, "y_test": Y * 1.0},
         r"some target arrays are floats \(regression\) and some integers"),
        ({"x": X, "y": -Y}, r"'y' must be a 1-D array of integer class labels"),
        ({"x": X, "y": Y * 10**9}, r"integer class labels in 0\.\.99999"),
        ({"x": X[:, :, None, None, None], "y": Y}, r"'x' must have shape \(N, D\), \(N, H, W\) or \(N, C, H, W\)"),
        ({"x": np.where(X > 0.5, np.nan, X), "y": Y}, r"'x' contains NaN or Inf"),
        ({"x": X.astype(str), "y": Y}, r"'x' must be numeric"),
        ({"x": X[:, :0], "y": Y}, r"every example needs at least one value"),
        ({"x": X[:5], "y": Y[:5]}, r"need at least 10 examples"),
        ({"x": X, "y": Y, "x_val": X}, r"'x_val' and 'y_val' come in pairs"),
        ({"x": X, "y": Y, "x_val": X, "y_val": Y}, r"give both x_val/y_val and x_test/y_test, or neither"),
        ({"x": X, "y": Y, "x_val": X[:, :4], "y_val": Y, "x_test": X, "y_test": Y}, r"x_val examples have shape"),
        ({"x": X, "y": Y, "x_val": X[:0], "y_val": Y[:0], "x_test": X, "y_test": Y}, r"x_val has no rows"),
    ],
)
def test_malformed_npz(tmp_path, arrays, match):
    with pytest.raises(DataError, match=match):
        make_task("npz", path=_npz(tmp_path, **arrays))


def test_npz_not_a_zip_or_single_npy_or_truncated(tmp_path):
    text = tmp_path / "text.npz"
    text.write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match=r"text\.npz: not a readable \.npz file"):
        make_task("npz", path=str(text))
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, X)
    with pytest.raises(DataError, match=r"holds a single \.npy array, expected a \.npz archive"):
        make_task("npz", path=str(single))
    good = _npz(tmp_path, x=X, y=Y)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(open(good, "rb").read()[:500])
    with pytest.raises(DataError, match=r"cut\.npz: not a readable \.npz file"):
        make_task("npz", path=str(cut))
    with pytest.raises(DataError, match=r"does not exist"):
        make_task("npz", path=str(tmp_path / "absent.npz"))


def test_malformed_npz_through_the_env(tmp_path):
    path = _npz(tmp_path, x=X, y=-Y)
    with pytest.raises(DataError, match="integer class labels"):
        gym.make("NAS-v0", **TINY, task="npz", task_kwargs={"path": path})


# -- table files -------------------------------------------------------------------------


def test_table_slice_loads(nb201_table, tmp_path):
    env = _table_env(_slice(nb201_table, tmp_path), latency_weight=0)
    assert env.unwrapped.table.rows == 40


def _edit(path, fn):
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(fn(lines)), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda ls: ls[:1], r"the table has no rows"),
        (lambda ls: [], r"the file is empty"),
        (lambda ls: [*ls[:3], ls[3].rstrip("\n") + ",extra\n", *ls[4:]], r"row 2 \(line 4\) has 10 fields, expected 9"),
        (lambda ls: [*ls[:2], ls[2].replace(ls[2].split(",")[3], "abc", 1), *ls[3:]], r"row 1, column 'c100_valid'"),
        (lambda ls: [*ls[:2], ls[2].replace(ls[2].split(",")[3], "nan", 1), *ls[3:]], r"missing, NaN or infinite"),
        (lambda ls: [*ls[:2], ls[2].replace(ls[2].split(",")[3], "170", 1), *ls[3:]], r"accuracy 170 is outside"),
        (lambda ls: [*ls, ls[5]], r"rows 4 and 40 hold the same arch string"),
        (lambda ls: [*ls[:2], ls[2].replace("~0|", "~7|", 1), *ls[3:]], r"row 1, column 'arch_str': .* is not an"),
    ],
)
def test_malformed_csv_table(nb201_table, tmp_path, edit, match):
    path = _edit(_slice(nb201_table, tmp_path), edit)
    with pytest.raises(DataError, match=match):
        _table_env(path, latency_weight=0)


def test_binary_and_json_and_unknown_format_tables(nb201_table, tmp_path):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"arch_str,c100_valid\n\xff\xfe\x00garbage\n")
    with pytest.raises(DataError, match=r"binary\.csv: not a UTF-8 text file"):
        _table_env(binary)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"arch_str": "x", ')
    with pytest.raises(DataError, match=r"bad\.json: not valid JSON"):
        _table_env(bad_json)
    obj_json = tmp_path / "obj.json"
    obj_json.write_text('{"arch_str": "x"}')
    with pytest.raises(DataError, match=r"expected a JSON list of records"):
        _table_env(obj_json)
    pickle_file = tmp_path / "table.pkl"
    pickle_file.write_bytes(b"\x80\x04\x95")
    with pytest.raises(DataError, match=r"unknown table format '\.pkl'; expected one of \.csv, .*\.json, \.parquet"):
        _table_env(pickle_file)


# -- cache files ------------------------------------------------------------------------


def test_cache_not_sqlite(tmp_path):
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match=r"cache\.sqlite.*is not a readable SQLite database.*Delete the file"):
        EvalCache(str(path))
    with pytest.raises(CacheError, match="Delete the file to start a fresh cache"):
        gym.make("NAS-v0", **{**TINY, "cache": str(path)})


def test_cache_foreign_database(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    conn.close()
    with pytest.raises(CacheError, match=r"is another program's SQLite database \(tables: songs\)"):
        EvalCache(str(path))


def test_cache_corrupt_record(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = EvalCache(str(path))
    cache.put("k", {"a": 1})
    cache._db.execute("UPDATE nas_gym_evaluations SET record = '{not json'")
    with pytest.raises(CacheError, match=r"c\.sqlite'?: holds a corrupt record.*Delete the file"):
        cache.get("k")
    cache.close()


def test_cache_corrupt_pages_after_open(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = EvalCache(str(path))
    for i in range(300):
        cache.put(f"k{i}", {"payload": "x" * 200})
    cache.close()
    with sqlite3.connect(path) as conn:  # fold the WAL into the main file, then damage its data pages
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(3 * page, len(data), page):
        data[offset : offset + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=r"c\.sqlite'?: (is corrupt|is not a readable|could not be read)"):
        cache = EvalCache(str(path))
        for i in range(300):
            cache.get(f"k{i}")


# -- run folders -----------------------------------------------------------------------


def test_corrupt_history_lines(tmp_path, nb201_kwargs):
    run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=4, seed=0, out_dir=tmp_path)
    history = tmp_path / "history.jsonl"
    good = history.read_bytes()
    history.write_bytes(good.replace(b"{", b"\xff", 1))
    with pytest.raises(ConfigError, match=r"history\.jsonl line 1 is not valid JSON.*remove the run folder"):
        run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=4, seed=0, out_dir=tmp_path)
    history.write_bytes(b"[1, 2]\n" + good.split(b"\n", 1)[1])
    with pytest.raises(ConfigError, match=r"line 1 is not a history record \(missing arch, cached"):
        run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=4, seed=0, out_dir=tmp_path)
    lines = good.splitlines(keepends=True)
    history.write_bytes(lines[1] + lines[0])
    with pytest.raises(ConfigError, match=r"line 1 has index 1, expected 0"):
        run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=4, seed=0, out_dir=tmp_path)
    record = json.loads(lines[0])
    history.write_bytes(json.dumps({**record, "arch": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}).encode()
                        + b"\n")
    with pytest.raises(ResumeError, match=r"evaluation 0 was .* but the method now proposes"):
        run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=4, seed=0, out_dir=tmp_path)
    (tmp_path / "run.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"run\.json is not a run's settings"):
        run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=4, seed=0, out_dir=tmp_path)


def test_every_error_is_a_nas_gym_error():
    for cls in (ConfigError, DataError, CacheError, InvalidActionError, EpisodeEndedError, ResumeError):
        assert issubclass(cls, NASGymError)


# -- security -----------------------------------------------------------------------------


def test_no_unpickling_in_library_code():
    """User files are never unpickled: no pickle/torch.load/allow_pickle=True in the package, agents or baselines."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    risky = re.compile(r"pickle\.loads?\(|allow_pickle\s*=\s*True|\bdill\b|joblib\.load|yaml\.load\(|shelve\.open")
    offenders = []
    for folder in ("nas_gym", "agents", "baselines", "scripts"):
        for path in sorted((root / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            offenders += [f"{path.name}: {m.group(0)}" for m in risky.finditer(text)]
            for call in re.finditer(r"torch\.load\(([^)]*)\)", text):
                if "weights_only=True" not in call.group(1):
                    offenders.append(f"{path.name}: torch.load without weights_only=True")
    assert not offenders, offenders
