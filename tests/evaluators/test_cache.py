"""Tests of the persistent evaluation cache: records, claims, bad files, and several processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import sqlite3

import pytest

from nas_gym.error import CacheError, ConfigError
from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.cached import CachedEvaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.spaces import make_space
from nas_gym.spaces.base import Architecture
from nas_gym.storage.cache import EvalCache, cache_key, default_cache_dir
from nas_gym.tasks.base import make_task

ARCHS = (
    "conv3x3-16-relu|identity|identity|identity",
    "max_pool3x3|conv3x3-16-gelu|identity|identity",
    "sep_conv3x3-32-swish|identity|identity|identity",
    "dil_conv3x3-16-relu|avg_pool3x3|identity|identity",
)


def small_evaluator() -> TrainingEvaluator:
    """Real training, kept cheap: one epoch on a fifth of digits."""
    return TrainingEvaluator(make_task("digits"), epochs=1, train_fraction=0.2)


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "cache.sqlite")


def test_put_get_len_clear(path):
    cache = EvalCache(path)
    assert cache.get("a") is None and len(cache) == 0
    record = {"val_accuracy": 0.5, "nested": {"x": [1, 2]}, "nan": float("nan")}
    cache.put("a", record)
    got = cache.get("a")
    assert got["nested"] == {"x": [1, 2]} and got["val_accuracy"] == 0.5
    assert len(cache) == 1 and "a" in cache and "b" not in cache
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None
    cache.close()
    with pytest.raises(CacheError, match="is closed"):
        cache.get("a")


def test_records_persist_across_reopen(path):
    with EvalCache(path) as cache:
        cache.put("k", {"v": 1})
    with EvalCache(path) as again:
        assert again.get("k") == {"v": 1}
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_location_follows_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_GYM_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == str(tmp_path / "here")
    assert EvalCache().path == str(tmp_path / "here" / "evaluations.sqlite")
    assert EvalCache(str(tmp_path)).path == str(tmp_path / "evaluations.sqlite")
    monkeypatch.delenv("NAS_GYM_CACHE_DIR")
    assert default_cache_dir().rstrip(os.sep).endswith("nas_gym")


def test_corrupt_file_raises_cache_error(path):
    with open(path, "wb") as f:
        f.write(os.urandom(64) + b"not a database" * 200)
    with pytest.raises(CacheError, match=r"cache\.sqlite.*not a readable SQLite database.*Delete the file"):
        EvalCache(path)


def test_foreign_sqlite_database_raises_and_is_left_alone(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(CacheError, match=r"another program's SQLite database \(tables: users\).*pass another path"):
        EvalCache(path)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_other_schema_version_raises(path):
    EvalCache(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE nas_gym_meta SET value = '99' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(CacheError, match="schema version 99"):
        EvalCache(path)


def test_claim_is_exclusive_until_put_or_release(path):
    cache = EvalCache(path)
    assert cache.claim("k")
    assert not cache.claim("k")
    assert not EvalCache(path).claim("k")  # another connection sees the live claim
    assert cache.get("k") is None and len(cache) == 0
    with pytest.raises(TimeoutError, match="raise timeout_s"):
        cache.wait("k", timeout_s=0.05)
    cache.release("k")
    assert cache.wait("k") is None  # no claim left: the caller may claim it
    assert cache.claim("k")
    cache.put("k", {"v": 2})
    assert cache.wait("k") == {"v": 2}
    assert not cache.claim("k")


def test_old_claims_are_stale(path):
    assert EvalCache(path).claim("k")
    impatient = EvalCache(path, stale_after_s=0.0)
    assert impatient.wait("k") is None
    assert impatient.claim("k")


def _claim_and_exit(cache: EvalCache, key: str) -> None:
    # Uses the connection inherited over fork: the cache must reopen its own.
    if not cache.claim(key):
        raise SystemExit(3)


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_claim_of_a_dead_process_is_taken_over_and_fork_reconnects(path):
    cache = EvalCache(path)
    cache.put("warm", {"v": 0})
    child = mp.get_context("fork").Process(target=_claim_and_exit, args=(cache, "k"))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert cache.get("warm") == {"v": 0}  # the parent's connection still works
    assert cache.wait("k") is None
    assert cache.claim("k")


def test_cache_key_is_canonical():
    settings = {"epochs": 6, "lr": 0.003}
    key = cache_key("layers:abc", "conv", "TrainingEvaluator", settings)
    assert len(key) == 64
    assert key == cache_key("layers:abc", "conv", "TrainingEvaluator", {"lr": 0.003, "epochs": 6})
    assert key != cache_key("layers:abd", "conv", "TrainingEvaluator", settings)
    assert key != cache_key("layers:abc", "conv2", "TrainingEvaluator", settings)
    assert key != cache_key("layers:abc", "conv", "TableEvaluator", settings)
    assert key != cache_key("layers:abc", "conv", "TrainingEvaluator", {**settings, "epochs": 7})
    with pytest.raises(ConfigError, match="plain JSON data"):
        cache_key("s", "a", "e", {"bad": object()})


def test_cached_evaluator_hits_keep_original_cost(path):
    space = make_space("layers")
    ev = CachedEvaluator(small_evaluator(), EvalCache(path))
    first = ev.evaluate(space.from_string(ARCHS[0]))
    assert first.extra["cached"] is False
    # The same network with its identity slot elsewhere is a hit (canonical form).
    second = ev.evaluate(space.from_string("identity|conv3x3-16-relu|identity|identity"))
    assert second.extra["cached"] is True
    assert second.cost_s == first.cost_s > 0
    second.extra["cached"] = first.extra["cached"]
    assert second == first
    fresh = CachedEvaluator(small_evaluator(), EvalCache(path))
    assert fresh.evaluate(space.from_string(ARCHS[0])).extra["cached"] is True
    assert ev.name == "TrainingEvaluator" and ev.settings() == small_evaluator().settings()


def test_cached_evaluator_without_cache_always_evaluates():
    space = make_space("layers")
    ev = CachedEvaluator(small_evaluator(), None)
    for _ in range(2):
        m = ev.evaluate(space.from_string(ARCHS[0]))
        assert m.extra["cached"] is False


class _Failing(Evaluator):
    """Fails once, then scores everything 0.5."""

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, arch: Architecture) -> Metrics:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("out of memory")
        return Metrics(val_accuracy=0.5)


def test_failed_evaluation_releases_its_claim(path):
    arch = make_space("layers").from_string(ARCHS[0])
    ev = CachedEvaluator(_Failing(), EvalCache(path))
    with pytest.raises(RuntimeError, match="out of memory"):
        ev.evaluate(arch)
    assert ev.evaluate(arch).val_accuracy == 0.5  # not stuck behind its own claim


def test_cache_and_cached_evaluator_pickle(path):
    ev = CachedEvaluator(small_evaluator(), EvalCache(path))
    ev.cache.put("k", {"v": 1})
    clone = pickle.loads(pickle.dumps(ev))
    assert clone.cache.get("k") == {"v": 1}
    assert clone.settings() == ev.settings()


def _evaluate_all(path: str, barrier, results) -> None:
    """Worker: evaluate every arch of ARCHS through one shared cache file."""
    space = make_space("layers")
    ev = CachedEvaluator(small_evaluator(), EvalCache(path))
    barrier.wait()
    out = []
    for text in ARCHS:
        m = ev.evaluate(space.from_string(text))
        out.append((text, m.extra["cached"], m.to_dict()))
    results.put(out)


def test_two_processes_train_each_architecture_once(path):
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_evaluate_all, args=(path, barrier, results)) for _ in range(2)]
    for w in workers:
        w.start()
    outs = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(30)
        assert w.exitcode == 0
    for k, text in enumerate(ARCHS):
        (a_text, a_cached, a), (b_text, b_cached, b) = outs[0][k], outs[1][k]
        assert a_text == b_text == text
        assert [a_cached, b_cached].count(False) == 1, f"{text} trained {[a_cached, b_cached].count(False)} times"
        a["extra"].pop("cached")
        b["extra"].pop("cached")
        assert a == b
    assert len(EvalCache(path)) == len(ARCHS)
