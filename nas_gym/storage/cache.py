"""A persistent evaluation cache shared by processes, so no architecture is trained twice.

:class:`EvalCache` is one SQLite file (WAL mode) holding JSON records under
string keys. Several processes may use one file at once: each opens its own
connection (also after ``fork``), and :meth:`EvalCache.claim` lets exactly one
of them own the work for a key while the others :meth:`EvalCache.wait` for
its result. A claim whose owner died (its pid is gone on this host) or that
is older than ``stale_after_s`` is taken over.

:class:`~nas_gym.evaluators.cached.CachedEvaluator` puts the cache in front of
any evaluator, keyed by :func:`cache_key` on the space, the canonical
architecture, the evaluator's name and its settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import platformdirs

from nas_gym.error import CacheError, ConfigError

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "NAS_GYM_CACHE_DIR"
CACHE_FILE = "evaluations.sqlite"
SCHEMA_VERSION = 1

_TABLE = "nas_gym_evaluations"
_META = "nas_gym_meta"
_PENDING, _DONE = "pending", "done"


def default_cache_dir() -> str:
    """Folder of the default cache file: ``$NAS_GYM_CACHE_DIR``, else the user cache dir."""
    return os.environ.get(CACHE_DIR_ENV) or platformdirs.user_cache_dir("nas_gym")


def cache_key(space_key: str, arch_string: str, evaluator_name: str, settings: dict[str, Any]) -> str:
    """Key of one evaluation: the sha256 of canonical JSON of its four parts.

    Args:
        space_key: ``SearchSpace.key`` (space name and configuration digest).
        arch_string: String form of the (canonical) architecture.
        evaluator_name: ``Evaluator.name``.
        settings: ``Evaluator.settings()``; plain data only.

    Returns:
        64 hex digits.

    Raises:
        ConfigError: ``settings`` holds something that is not plain JSON data.
    """
    try:
        text = json.dumps(
            {"space": space_key, "arch": arch_string, "evaluator": evaluator_name, "settings": settings},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"Evaluator settings must be plain JSON data (str, number, bool, None, list, dict) "
            f"to form a cache key; got {settings!r} ({e}). Convert the offending value to plain data."
        ) from e
    return hashlib.sha256(text.encode()).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class EvalCache:
    """Evaluation records in one SQLite file, safe for several processes at once.

    Args:
        path: The cache file (or a folder to hold ``evaluations.sqlite``);
            default ``<default_cache_dir()>/evaluations.sqlite``.
        stale_after_s: A pending claim older than this is taken over even if
            its owner may still be alive (owners on other hosts cannot be
            checked). Set it above the longest evaluation.
        timeout_s: How long one statement waits for another process's lock.

    Raises:
        CacheError: The file is not SQLite, is another program's database,
            has another schema version, or cannot be opened.
    """

    def __init__(self, path: str | None = None, *, stale_after_s: float = 3600.0, timeout_s: float = 60.0) -> None:
        path = os.fspath(path) if path is not None else os.path.join(default_cache_dir(), CACHE_FILE)
        if os.path.isdir(path):
            path = os.path.join(path, CACHE_FILE)
        self.path = os.path.abspath(path)
        self.stale_after_s = float(stale_after_s)
        self.timeout_s = float(timeout_s)
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        # SQLite forbids touching a connection inherited over fork, closing
        # included (closing may checkpoint the parent's WAL), so after a fork
        # the inherited one is parked here and never used again.
        self._inherited: list[sqlite3.Connection] = []
        self._connect()

    # -- connection -----------------------------------------------------------
    def _fail(self, problem: str, err: Exception | None = None) -> CacheError:
        detail = f" ({err})" if err is not None else ""
        return CacheError(
            f"Evaluation cache {self.path!r}: {problem}{detail}. Expected a nas_gym cache "
            f"(SQLite, schema version {SCHEMA_VERSION}). Delete the file to start a fresh cache, "
            f"or pass another path (cache='/other/file.sqlite' or ${CACHE_DIR_ENV})."
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        except OSError as e:
            raise self._fail("cannot create its folder", e) from None
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE)
            # so a claim's read-then-write is atomic across processes.
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise self._fail("cannot be opened", e) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            # Schema first: a foreign database must be refused before WAL
            # mode (a persistent setting) would change it.
            self._init_schema(conn)
            self._enable_wal(conn)
        except sqlite3.OperationalError as e:
            conn.close()
            raise self._fail(f"stayed locked by another process for {self.timeout_s} s", e) from None
        except (sqlite3.DatabaseError, UnicodeDecodeError) as e:  # the latter: text the corruption garbled
            conn.close()
            raise self._fail("is not a readable SQLite database", e) from None
        except CacheError:
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                conn.execute(f"CREATE TABLE {_META} (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
                conn.execute(f"INSERT INTO {_META} VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                conn.execute(
                    f"CREATE TABLE {_TABLE} (key TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT, "
                    "pid INTEGER, host TEXT, claimed_at REAL, updated_at REAL NOT NULL)"
                )
            elif {_META, _TABLE} <= tables:
                row = conn.execute(f"SELECT value FROM {_META} WHERE name = 'schema_version'").fetchone()
                if row is None or row[0] != str(SCHEMA_VERSION):
                    found = "none" if row is None else row[0]
                    raise self._fail(f"has schema version {found}")
            else:
                raise self._fail(f"is another program's SQLite database (tables: {', '.join(sorted(tables))})")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # WAL lets readers and one writer proceed at once. Switching needs a
        # moment alone with the file, and SQLite reports a busy file here
        # without calling its busy handler, so retry until timeout_s.
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
                continue
            if mode.lower() != "wal":
                logger.warning("%s: SQLite kept journal mode %r (no WAL on this file system?).", self.path, mode)
            return

    @contextlib.contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """Yield this process's connection under the lock; SQLite failures become a :class:`CacheError`.

        Corruption may sit in a page that opening the file never read, so it
        can surface on any statement, not only in :meth:`_connect`.
        """
        with self._lock:
            try:
                yield self._db
            except sqlite3.OperationalError as e:
                if "locked" in str(e) or "busy" in str(e):
                    raise self._fail(f"stayed locked by another process for {self.timeout_s} s", e) from None
                raise self._fail("could not be read or written", e) from None
            except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
                raise self._fail("is corrupt", e) from None

    def _record(self, text: str) -> dict[str, Any]:
        try:
            record = json.loads(text)
        except (TypeError, json.JSONDecodeError) as e:
            raise self._fail("holds a corrupt record", e) from None
        if not isinstance(record, dict):
            raise self._fail(f"holds a record that is not a JSON object ({text[:60]!r})")
        return record

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CacheError(f"Evaluation cache {self.path!r} is closed; make a new EvalCache to use it again.")
        if self._pid != os.getpid():
            self._inherited.append(self._conn)
            return self._connect()
        return self._conn

    def close(self) -> None:
        """Close this process's connection; later calls raise :class:`CacheError`."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __getstate__(self) -> dict[str, Any]:
        # Pickled for another process (spawn): only the settings travel; the
        # receiver opens its own connection.
        return {"path": self.path, "stale_after_s": self.stale_after_s, "timeout_s": self.timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], stale_after_s=state["stale_after_s"], timeout_s=state["timeout_s"])

    def __enter__(self) -> EvalCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EvalCache({self.path!r})"

    # -- records --------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        """Return the finished record under ``key``, or None (missing or only claimed)."""
        with self._using() as db:
            row = db.execute(f"SELECT record FROM {_TABLE} WHERE key = ? AND status = ?", (key, _DONE)).fetchone()
        return None if row is None else self._record(row[0])

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` (JSON-serialisable) under ``key``, replacing any claim or record.

        Raises:
            ConfigError: ``record`` is not JSON-serialisable.
        """
        try:
            text = json.dumps(record, sort_keys=True)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"Cache records must be plain JSON data; got {record!r} ({e}).") from e
        with self._using() as db:
            db.execute(
                f"INSERT OR REPLACE INTO {_TABLE} (key, status, record, pid, host, claimed_at, updated_at) "
                "VALUES (?, ?, ?, NULL, NULL, NULL, ?)",
                (key, _DONE, text, time.time()),
            )

    def __len__(self) -> int:
        """Count the finished records."""
        with self._using() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM {_TABLE} WHERE status = ?", (_DONE,)).fetchone()[0])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def clear(self) -> None:
        """Delete every record and claim."""
        with self._using() as db:
            db.execute(f"DELETE FROM {_TABLE}")

    # -- claims -----------------------------------------------------------------
    def _stale(self, pid: int | None, host: str | None, claimed_at: float | None) -> bool:
        if claimed_at is None or time.time() - claimed_at > self.stale_after_s:
            return True
        return host == self._host and pid is not None and not _pid_alive(pid)

    def claim(self, key: str) -> bool:
        """Try to become the one process that computes ``key``.

        Atomic across processes: of several callers at once, exactly one gets
        True. A stale claim (dead owner on this host, or older than
        ``stale_after_s``) is taken over.

        Returns:
            True if this process now owns ``key`` and should compute and
            :meth:`put` it (or :meth:`release` it on failure); False if the
            record exists or another live process owns it.
        """
        with self._using() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(f"SELECT status, pid, host, claimed_at FROM {_TABLE} WHERE key = ?", (key,)).fetchone()
                owned = row is None or (row[0] == _PENDING and self._stale(*row[1:]))
                if owned:
                    if row is not None:
                        logger.info("Taking over stale claim on %s from pid %s on %s.", key[:12], row[1], row[2])
                    now = time.time()
                    db.execute(
                        f"INSERT OR REPLACE INTO {_TABLE} (key, status, record, pid, host, claimed_at, updated_at) "
                        "VALUES (?, ?, NULL, ?, ?, ?, ?)",
                        (key, _PENDING, os.getpid(), self._host, now, now),
                    )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return owned

    def release(self, key: str) -> None:
        """Drop this process's pending claim on ``key`` (after a failed evaluation)."""
        with self._using() as db:
            db.execute(
                f"DELETE FROM {_TABLE} WHERE key = ? AND status = ? AND pid = ? AND host = ?",
                (key, _PENDING, os.getpid(), self._host),
            )

    def wait(self, key: str, *, timeout_s: float | None = None, poll_s: float = 0.05) -> dict[str, Any] | None:
        """Wait for the owner of ``key``'s claim to put its record.

        Args:
            key: The key another process claimed.
            timeout_s: Give up after this many seconds; None waits as long as
                the claim stays live.
            poll_s: Seconds between looks at the file.

        Returns:
            The record; or None once no live claim is left (released, stale,
            or never made), so the caller may :meth:`claim` it itself.

        Raises:
            TimeoutError: ``timeout_s`` passed while the claim was still live.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            with self._using() as db:
                row = db.execute(
                    f"SELECT status, record, pid, host, claimed_at FROM {_TABLE} WHERE key = ?", (key,)
                ).fetchone()
            if row is None:
                return None
            if row[0] == _DONE:
                return self._record(row[1])
            if self._stale(*row[2:]):
                return None
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"Waited {timeout_s} s for pid {row[2]} on {row[3]} to finish evaluation {key[:12]} "
                    f"in {self.path!r}; raise timeout_s or lower stale_after_s."
                )
            time.sleep(poll_s)
