"""The run folder: what one search leaves on disk, and the one place that reads and writes it.

A run folder holds

- ``run.json``: the run's settings (env id and kwargs, agent, seed, the
  method's hyperparameters), written once, compared on resume;
- ``history.jsonl``: one :class:`~nas_gym.env.evaluation.Evaluation` record per
  line, in evaluation order, appended and flushed one line at a time, so a
  kill (SIGKILL included) loses at most the line being written, which is
  dropped when the folder is opened again;
- ``summary.json``: best architecture and its metrics, written atomically at
  the end;
- ``pareto.json``: where evaluations have latency, the non-dominated set of
  the feasible ones (every metric) and its hypervolume;
- ``state/evaluator-<n>.pt``: where the env's evaluator has a state of its
  own that evaluations change (the ``supernet`` evaluator's shared weights),
  that state after evaluation ``n``, saved before record ``n`` is appended;
  the last two are kept, so one always matches the history after a kill;
- ``run.lock``: held while a process writes the folder;
- TensorBoard event files (written by :class:`nas_gym.search.logger.RunLogger`).

:class:`RunFolder` writes a run (:meth:`RunFolder.open` locks it and returns
the records an interrupted run left, for replay) and reads finished or
unfinished ones (:meth:`RunFolder.read_history`, :meth:`RunFolder.read_summary`,
:meth:`RunFolder.read_meta`), which is how ``nas-gym benchmark`` looks at the
folders of its runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked
    fcntl = None

from nas_gym.env.evaluation import REPLAY_KEYS
from nas_gym.error import ConfigError

logger = logging.getLogger(__name__)

META_FILE = "run.json"
HISTORY_FILE = "history.jsonl"
SUMMARY_FILE = "summary.json"
PARETO_FILE = "pareto.json"
LOCK_FILE = "run.lock"
STATE_DIR = "state"
#: Evaluator states kept: the one that matches the history, and one more for a kill between state and record.
STATES_KEPT = 2


def run_meta(
    env_id: str, env_kwargs: dict[str, Any], agent: str, seed: int, hparams: dict[str, Any]
) -> dict[str, Any]:
    """The settings ``run.json`` holds, as they read back from JSON (tuples become lists).

    A run folder is resumed only by a run whose settings are exactly these.
    """
    meta = {"env_id": env_id, "env_kwargs": env_kwargs, "agent": agent, "seed": int(seed), "hparams": hparams}
    return json.loads(json.dumps(meta, default=str))


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class RunFolder:
    """One run's folder on disk.

    Args:
        path: The folder (created by :meth:`open` when missing).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock: IO[str] | None = None
        self._history: IO[str] | None = None

    @property
    def meta_path(self) -> Path:
        """``run.json``."""
        return self.path / META_FILE

    @property
    def history_path(self) -> Path:
        """``history.jsonl``."""
        return self.path / HISTORY_FILE

    @property
    def summary_path(self) -> Path:
        """``summary.json``."""
        return self.path / SUMMARY_FILE

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- writing a run ----------------------------------------------------------------
    def open(self, meta: dict[str, Any]) -> list[dict[str, Any]]:
        """Lock the folder for this process and return the records an interrupted run of ``meta`` left.

        A folder with no evaluation recorded takes ``meta`` as its settings;
        one with a history must have been written with exactly ``meta``. A
        history line cut short by a kill is dropped (that evaluation runs again).

        Args:
            meta: The run's settings (see :func:`run_meta`).

        Returns:
            The history records, in order (empty for a new run).

        Raises:
            ConfigError: Another live process writes the folder; the folder
                holds a different run; or its files are not a run's.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = self._acquire_lock()
        try:
            records = self._previous(json.loads(json.dumps(meta, default=str)))
            self._history = open(self.history_path, "a", encoding="utf-8")  # noqa: SIM115  (held until close)
        except BaseException:
            self.close()
            raise
        if records:
            logger.info("Resuming %s: replaying %d recorded evaluations", self.path, len(records))
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Append one history record and flush it to disk."""
        if self._history is None:
            raise ConfigError(f"{self} is not open for writing: call open(meta) first.")
        self._history.write(json.dumps(record) + "\n")
        self._history.flush()

    def save_state(self, evaluations: int, state: dict[str, Any]) -> None:
        """Save the evaluator's ``state`` after ``evaluations`` evaluations (atomically; older ones pruned)."""
        import torch

        folder = self.path / STATE_DIR
        folder.mkdir(exist_ok=True)
        path = folder / f"evaluator-{evaluations}.pt"
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        for old in sorted(self._states(), reverse=True)[STATES_KEPT:]:
            (folder / f"evaluator-{old}.pt").unlink(missing_ok=True)

    def load_state(self, evaluations: int) -> dict[str, Any] | None:
        """The evaluator state saved after ``evaluations`` evaluations (``weights_only``), or None if there is none."""
        import torch

        path = self.path / STATE_DIR / f"evaluator-{evaluations}.pt"
        if not path.exists():
            return None
        return torch.load(path, weights_only=True)

    def _states(self) -> list[int]:
        folder = self.path / STATE_DIR
        if not folder.is_dir():
            return []
        return [int(p.stem.split("-")[1]) for p in folder.glob("evaluator-*.pt") if p.stem.split("-")[1].isdigit()]

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` atomically."""
        _write_atomically(self.summary_path, json.dumps(summary, indent=2))

    def write_pareto(self, pareto: dict[str, Any]) -> None:
        """Write ``pareto.json`` atomically."""
        _write_atomically(self.path / PARETO_FILE, json.dumps(pareto, indent=2))

    def close(self) -> None:
        """Close the history and release the lock."""
        if self._history is not None:
            self._history.close()
            self._history = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _acquire_lock(self) -> IO[str] | None:
        """Hold ``run.lock`` while this process writes the run, so two processes never append to one history.

        The OS drops the lock when its holder dies (SIGKILL included), so a
        killed run never blocks its own resume; a live one (e.g. a worker
        orphaned by a killed parent) makes the second process stop with an
        error instead. None where the platform has no ``fcntl``.
        """
        if fcntl is None:
            return None
        lock = open(self.path / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115  (held until close())
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise ConfigError(
                f"Run folder {self.path} is in use by another process (pid {holder}): wait for it to finish or "
                "stop it, then run the same command again to resume; or pick another --out."
            ) from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        return lock

    def _previous(self, meta: dict[str, Any]) -> list[dict[str, Any]]:
        meta_path, history_path = self.meta_path, self.history_path
        recorded = history_path.exists() and history_path.stat().st_size > 0
        # A folder with no evaluation recorded holds nothing to resume (e.g. the
        # env refused its arguments): it simply takes the new settings.
        if meta_path.exists() and recorded:
            try:
                previous = json.loads(meta_path.read_bytes())
            except ValueError as e:  # JSONDecodeError or UnicodeDecodeError
                raise ConfigError(
                    f"{meta_path} is not valid JSON ({e}); remove the run folder or pick another --out."
                ) from e
            if not isinstance(previous, dict):
                raise ConfigError(f"{meta_path} is not a run's settings (a JSON object); pick another --out.")
            if previous != meta:
                diff = sorted(k for k in meta if previous.get(k) != meta[k])
                raise ConfigError(
                    f"Run folder {self.path} holds a different run (differs in {', '.join(diff)}): "
                    "run again with the same arguments to resume it, or pick another --out."
                )
        elif recorded:
            raise ConfigError(f"{history_path} exists but {meta_path} does not; pick another --out.")
        else:
            _write_atomically(meta_path, json.dumps(meta, indent=2))
        if not history_path.exists():
            return []
        data = history_path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            with open(history_path, "r+b") as f:  # drop the line a kill cut short
                f.truncate(len(complete))
        records = []
        for n, line in enumerate(complete.splitlines()):
            try:
                record = json.loads(line)
            except ValueError as e:  # JSONDecodeError or UnicodeDecodeError
                raise ConfigError(f"{history_path} line {n + 1} is not valid JSON ({e}); remove the run folder.") from e
            missing = set(REPLAY_KEYS) - set(record) if isinstance(record, dict) else REPLAY_KEYS
            if missing:
                raise ConfigError(
                    f"{history_path} line {n + 1} is not a history record (missing {', '.join(sorted(missing))}); "
                    "remove the run folder or pick another --out."
                )
            if record.get("index") != n:
                raise ConfigError(f"{history_path} line {n + 1} has index {record.get('index')}, expected {n}.")
            records.append(record)
        return records

    # -- reading a run (no lock: the benchmark reads folders other processes write) --------
    def read_meta(self) -> dict[str, Any] | None:
        """``run.json``, or None when it is missing or not valid JSON."""
        return _read_json(self.meta_path)

    def read_summary(self) -> dict[str, Any] | None:
        """``summary.json``, or None when it is missing or not valid JSON (a run still going, or killed)."""
        return _read_json(self.summary_path)

    def read_pareto(self) -> dict[str, Any] | None:
        """``pareto.json``, or None when the run had no latency (or is not finished)."""
        return _read_json(self.path / PARETO_FILE)

    def read_history(self) -> list[dict[str, Any]]:
        """Every complete record of ``history.jsonl``, in order (empty when there is none)."""
        if not self.history_path.is_file():
            return []
        with open(self.history_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def history_digest(self, drop: tuple[str, ...] = ("cost_s",)) -> str:
        """SHA-256 of the history with the ``drop`` fields left out of every record.

        Two runs that evaluated the same architectures with the same results
        have the same digest; by default the one timing field, ``cost_s``, is
        left out (on an env that measures latency on this host, drop
        ``latency_ms`` and the rewards made from it too).
        """
        h = hashlib.sha256()
        for record in self.read_history():
            h.update(json.dumps({k: v for k, v in record.items() if k not in drop}, sort_keys=True).encode() + b"\n")
        return h.hexdigest()

    def count_evaluations(self) -> int:
        """Lines of ``history.jsonl`` (without parsing them)."""
        if not self.history_path.is_file():
            return 0
        with open(self.history_path, "rb") as f:
            return sum(1 for line in f if line.strip())


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None
