"""Tabular benchmarks: precomputed results looked up instead of trained.

:class:`TabularBenchmark` loads a table with one row per architecture (an arch
string column plus numeric columns such as validation accuracy or latency on
a device) from CSV (plain or gzip-compressed, ``.csv.gz``), JSON (a list of
records) or Parquet (with ``pyarrow``).
Files are validated once, strictly, so a bad table fails at load with the
file, row, column and fix named, never midway through a search. Nothing is
ever unpickled.

:class:`TableEvaluator` turns a table into an :class:`Evaluator`: each
evaluation is an O(1) dictionary lookup.

Loaded tables are memoised per process (keyed by the file's absolute path,
modification time, size, the columns used and the space), so many
environments in one process share one table.
"""

from __future__ import annotations

import collections
import csv
import functools
import gzip
import json
import logging
import math
import os
import re
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError, DataError, MissingDependencyError, did_you_mean
from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.spaces.base import Architecture, SearchSpace

logger = logging.getLogger(__name__)

FORMATS = (".csv", ".csv.gz", ".json", ".parquet")

# Tables are a few MB each; a handful covers every benchmark a process uses
# while bounding memory if a long-lived process loads many variants.
_MEMO_SIZE = 8
_memo: collections.OrderedDict[tuple, TabularBenchmark] = collections.OrderedDict()
_memo_lock = threading.Lock()


def _read_csv(path: Path, opener: Callable[..., IO[str]] = open) -> tuple[list[str], dict[str, Sequence[Any]]]:
    try:
        with opener(path, "rt", newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            # Blank lines (e.g. a trailing newline) carry no row.
            body = [row for row in reader if row]
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: not a UTF-8 text file ({e}); expected a CSV table. Is it binary or in another encoding?"
        ) from e
    except csv.Error as e:
        raise DataError(f"{path}: not a well-formed CSV file ({e}). Fix the file or export the table again.") from e
    if not header:
        raise DataError(
            f"{path}: the file is empty; expected a header line of column names and one row per architecture."
        )
    header = [h.strip() for h in header]
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise DataError(
                f"{path}: row {i} (line {i + 2}) has {len(row)} fields, expected {len(header)} "
                f"({', '.join(header)}). Fix the row; quote values that contain commas."
            )
    columns = list(zip(*body, strict=True)) if body else [() for _ in header]
    return header, dict(zip(header, columns, strict=True))


def _read_json(path: Path) -> tuple[list[str], dict[str, Sequence[Any]]]:
    try:
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(
            f'{path}: not valid JSON ({e}). Expected a list of records like [{{"arch_str": ..., ...}}].'
        ) from e
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(
            f"{path}: expected a JSON list of records (objects), got {type(records).__name__}. "
            'Write it as [{"arch_str": ..., "val": ...}, ...].'
        )
    header = list(records[0]) if records else []
    return header, {name: [r.get(name) for r in records] for name in header}


def _read_parquet(path: Path) -> tuple[list[str], dict[str, Sequence[Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise MissingDependencyError(
            f"{path}: reading Parquet needs pyarrow (pip install pyarrow); or convert the table to CSV."
        ) from e
    try:
        data = pq.read_table(path)
    except Exception as e:  # pyarrow raises several unrelated types for bad files
        raise DataError(f"{path}: not a readable Parquet file ({e}).") from e
    return list(data.column_names), {name: data.column(name).to_pylist() for name in data.column_names}


def _read_csv_gz(path: Path) -> tuple[list[str], dict[str, Sequence[Any]]]:
    try:
        return _read_csv(path, gzip.open)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(
            f"{path}: not a readable gzip file ({e}). Compress the CSV with gzip, or rename it to .csv if it is plain."
        ) from e


_READERS = {".csv": _read_csv, ".csv.gz": _read_csv_gz, ".json": _read_json, ".parquet": _read_parquet}


def _numeric(path: Path, name: str, values: Sequence[Any]) -> tuple[np.ndarray | None, str | None]:
    """Convert a column to float64; return ``(array, None)`` or ``(None, problem)``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        array = None
    if array is None or array.ndim != 1:
        for i, value in enumerate(values):
            try:
                float(value)
            except (ValueError, TypeError, OverflowError):
                return None, (
                    f"{path}: row {i}, column {name!r}: value {value!r} is not a number. "
                    "Fix or remove the row; every value in this column must be numeric."
                )
        # Python reads a few spellings numpy does not (e.g. "1_000").
        array = np.array([float(v) for v in values], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        i = int(bad[0])
        return None, (
            f"{path}: row {i}, column {name!r}: value {values[i]!r} is missing, NaN or infinite "
            f"({len(bad)} such row(s) in this column). Fill in or remove those rows."
        )
    array.flags.writeable = False
    return array, None


class TabularBenchmark:
    """A validated table of precomputed results, one row per architecture.

    Build it with :meth:`load`. Accuracy columns (``val_column``,
    ``test_column``) are stored as fractions in [0, 1]; other columns keep the
    file's units.

    Attributes:
        path: Absolute path of the file.
        space: The search space the arch strings belong to.
        mtime_ns: Modification time of the file when loaded.
        size_bytes: Size of the file when loaded.
        columns: Every column name in the file, in file order.
        roles: Column used for each role (``arch``, ``val``, ``test``,
            ``latency``, ``cost``); None where a role has no column.
        percent: For each accuracy column, whether it was converted from %.
    """

    def __init__(
        self,
        path: Path,
        space: SearchSpace,
        *,
        roles: dict[str, str | None],
        percent: bool | None,
    ) -> None:
        """Read and validate ``path``; use :meth:`load`, which memoises."""
        self.path = path
        self.space = space
        if not path.is_file():
            problem = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise DataError(
                f"Table file {str(path)!r} {problem}. Pass the path of a {'/'.join(FORMATS)} file "
                "with an arch string column and one row per architecture."
            )
        stat = path.stat()
        self.mtime_ns = stat.st_mtime_ns
        self.size_bytes = stat.st_size
        suffix = ".csv.gz" if path.name.lower().endswith(".csv.gz") else path.suffix.lower()
        if suffix not in _READERS:
            raise DataError(f"{path}: unknown table format {suffix!r}; expected one of {', '.join(FORMATS)}.")
        header, raw = _READERS[suffix](path)
        self.columns: tuple[str, ...] = tuple(header)
        self.roles = dict(roles)
        if not raw or not len(next(iter(raw.values()))):
            raise DataError(f"{path}: the table has no rows; expected one row per architecture below the header.")
        for role, name in roles.items():
            if name is not None and name not in raw:
                raise DataError(
                    f"{path}: {role} column {name!r} not found.{did_you_mean(name, header)} "
                    f"Available columns: {', '.join(header) or '(none)'}. Pass {role}_column=<one of them>."
                )
        self._index, self._indices = self._parse_archs(raw[roles["arch"]])

        # Used columns must be clean now; the others are checked when read,
        # so a table with one broken, unused column still loads.
        self._columns: dict[str, np.ndarray] = {}
        self._problems: dict[str, str] = {}
        used = {name for role, name in roles.items() if role != "arch" and name is not None}
        for name in header:
            if name == roles["arch"]:
                continue
            array, problem = _numeric(path, name, raw[name])
            if problem is not None:
                if name in used:
                    raise DataError(problem)
                self._problems[name] = problem
                continue
            self._columns[name] = array
        self.percent: dict[str, bool] = {}
        for role in ("val", "test"):
            name = roles[role]
            if name is not None and name not in self.percent:
                self._columns[name] = self._to_fraction(name, self._columns[name], percent)

    def _parse_archs(self, strings: Sequence[Any]) -> tuple[dict[tuple[int, ...], int], np.ndarray]:
        name = self.roles["arch"]
        index: dict[tuple[int, ...], int] = {}
        from_string = self.space.from_string
        for i, text in enumerate(strings):
            if not isinstance(text, str):
                raise DataError(
                    f"{self.path}: row {i}, column {name!r}: expected an arch string, got {text!r}. "
                    f"Write the architecture in the string form of space {self.space.name!r}."
                )
            try:
                key = from_string(text).indices
            except ArchitectureError as e:
                raise DataError(
                    f"{self.path}: row {i}, column {name!r}: {text!r} is not an architecture of space "
                    f"{self.space.name!r} ({e}). Fix the string or load the table with the matching space."
                ) from e
            first = index.setdefault(key, i)
            if first != i:
                same = (
                    "the same arch string" if strings[first] == text else f"the same architecture as {strings[first]!r}"
                )
                raise DataError(
                    f"{self.path}: column {name!r}: rows {first} and {i} hold {same} ({text!r}). "
                    "Each architecture must appear once; remove or merge the duplicate rows."
                )
        indices = np.array(list(index), dtype=np.int16).reshape(len(index), self.space.num_decisions)
        indices.flags.writeable = False
        return index, indices

    def _to_fraction(self, name: str, values: np.ndarray, percent: bool | None) -> np.ndarray:
        in_percent = bool(values.max() > 1.0) if percent is None else percent
        top = 100.0 if in_percent else 1.0
        bad = np.flatnonzero((values < 0.0) | (values > top))
        if len(bad):
            i = int(bad[0])
            how = "given in %" if in_percent else "given as fractions"
            raise DataError(
                f"{self.path}: row {i}, column {name!r}: accuracy {float(values[i]):g} is outside [0, {top:g}] "
                f"(the column is {how}; percent={percent}). Fix the value, or pass percent=True/False "
                "to say how the accuracies are given."
            )
        self.percent[name] = in_percent
        if not in_percent:
            return values
        fractions = values / 100.0
        fractions.flags.writeable = False
        return fractions

    # -- loading -------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        space: SearchSpace,
        arch_column: str = "arch_str",
        val_column: str | None,
        test_column: str | None = None,
        latency_column: str | None = None,
        cost_column: str | None = None,
        percent: bool | None = None,
    ) -> TabularBenchmark:
        """Load and validate a table, or return the copy this process already loaded.

        Args:
            path: A ``.csv`` or ``.csv.gz``, ``.json`` (list of records) or ``.parquet`` file.
            space: The space whose string form the arch column uses.
            arch_column: Column of architecture strings.
            val_column: Validation accuracy column (None for a table used
                only for latency).
            test_column: Test accuracy column, if any.
            latency_column: Latency column in milliseconds, if any.
            cost_column: Column of evaluation cost in seconds (e.g. training
                time), if any.
            percent: Whether accuracies are given in %; None detects it per
                column (a column whose maximum exceeds 1 is in %).

        Returns:
            The table; the same object for the same file, columns and space.

        Raises:
            DataError: The file is missing, empty or malformed: a missing
                column, a duplicate or unparseable arch string, or a
                non-numeric, NaN or out-of-range value in a used column.
            MissingDependencyError: A Parquet file without pyarrow installed.
        """
        resolved = Path(path).expanduser().resolve()
        roles = {
            "arch": arch_column,
            "val": val_column,
            "test": test_column,
            "latency": latency_column,
            "cost": cost_column,
        }
        try:
            stat = resolved.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None  # the constructor raises the helpful error
        key = (str(resolved), stamp, tuple(roles.items()), percent, space.key)
        with _memo_lock:
            if stamp is not None and key in _memo:
                _memo.move_to_end(key)
                return _memo[key]
            table = cls(resolved, space, roles=roles, percent=percent)
            logger.info("Loaded %d-row table %s for space %s.", len(table), resolved, space.key)
            _memo[key] = table
            while len(_memo) > _MEMO_SIZE:
                _memo.popitem(last=False)
            return table

    # -- access ----------------------------------------------------------------
    @property
    def rows(self) -> int:
        """Number of rows (architectures)."""
        return len(self._indices)

    def __len__(self) -> int:
        return self.rows

    def __repr__(self) -> str:
        return f"TabularBenchmark({str(self.path)!r}, rows={self.rows}, space={self.space.key!r})"

    def __contains__(self, arch: Architecture) -> bool:
        return arch.indices in self._index

    def column(self, name: str) -> np.ndarray:
        """Values of a numeric column, one per row (read-only).

        Accuracy columns used as ``val``/``test`` are fractions; others are
        as in the file.

        Raises:
            DataError: The column is absent, non-numeric or has missing values.
        """
        if name in self._columns:
            return self._columns[name]
        if name in self._problems:
            raise DataError(self._problems[name])
        numeric = [c for c in self.columns if c in self._columns]
        raise DataError(
            f"{self.path}: column {name!r} not found or not numeric.{did_you_mean(name, numeric)} "
            f"Numeric columns: {', '.join(numeric)}."
        )

    def reference(self, arch: Architecture) -> tuple[float, float | None]:
        """``arch``'s stand-alone test accuracy (NaN without a test column) and latency (None without one).

        What an evaluator that scores otherwise (``zero_cost``, ``supernet``) reports from the env's table.
        """
        row = self.lookup(arch, canonical=True)
        test = math.nan if self.roles["test"] is None else float(self.column(self.roles["test"])[row])
        latency = None if self.roles["latency"] is None else float(self.column(self.roles["latency"])[row])
        return test, latency

    def lookup(self, arch: Architecture, *, canonical: bool = False) -> int:
        """Row index of ``arch``.

        Args:
            arch: An architecture of this table's space.
            canonical: Also try ``space.canonical(arch)`` when ``arch`` itself
                is not in the table.

        Raises:
            ConfigError: ``arch`` belongs to a differently configured space.
            DataError: The table does not cover ``arch``.
        """
        if arch.space.key != self.space.key:
            raise ConfigError(
                f"Architecture {str(arch)!r} is from space {arch.space.key!r}, but table {self.path.name} "
                f"covers space {self.space.key!r}. Build architectures with the table's space."
            )
        row = self._index.get(arch.indices)
        if row is None and canonical:
            row = self._index.get(self.space.canonical(arch).indices)
        if row is None:
            raise DataError(
                f"Table {self.path} ({self.rows} rows) does not cover architecture {str(arch)!r}"
                f"{' or its canonical form' if canonical else ''}. Search a space the table covers, "
                "or evaluate by training instead."
            )
        return row

    def arch_at(self, row: int) -> Architecture:
        """Return the architecture stored in ``row``."""
        if not -self.rows <= row < self.rows:
            raise ConfigError(f"Row {row} is out of range for a table of {self.rows} rows.")
        return Architecture(self.space, tuple(self._indices[row].tolist()))

    def best(self, column: str | None = None, *, minimize: bool = False) -> int:
        """Row index with the largest (or, with ``minimize``, smallest) value; first on ties.

        Args:
            column: A numeric column; defaults to the validation column.
            minimize: Pick the smallest value (for latency or cost).
        """
        name = column or self.roles["val"]
        if name is None:
            raise ConfigError(f"Table {self.path.name} has no validation column; pass column=<a numeric column>.")
        values = self.column(name)
        return int(values.argmin() if minimize else values.argmax())

    @functools.cached_property
    def is_exhaustive(self) -> bool:
        """Whether the table covers every architecture of its space."""
        return self.rows == self.space.size()


class TableEvaluator(Evaluator):
    """Evaluate by looking an architecture up in a :class:`TabularBenchmark`.

    An architecture missing from the table is looked up by its canonical form
    (tables often store one representative per isomorphism class).

    Args:
        table: A table loaded with a ``val_column``.

    Raises:
        ConfigError: The table has no validation column.
        DataError: A ``params`` or ``flops`` column is not clean.
    """

    def __init__(self, table: TabularBenchmark) -> None:
        if table.roles["val"] is None:
            raise ConfigError(
                f"TableEvaluator needs a validation column, but {table.path.name} was loaded with "
                "val_column=None. Load it with val_column=<accuracy column>."
            )
        self.table = table
        role = table.roles
        self._val = table.column(role["val"])
        self._test = table.column(role["test"]) if role["test"] else None
        self._latency = table.column(role["latency"]) if role["latency"] else None
        self._cost = table.column(role["cost"]) if role["cost"] else None
        # params/flops are optional extras picked up by name; they must be counts.
        self._params = table.column("params") if "params" in table.columns else None
        self._flops = table.column("flops") if "flops" in table.columns else None
        self._curve = self._epoch_columns(role["val"])
        self._test_curve = self._epoch_columns(role["test"]) if role["test"] else {}

    def _epoch_columns(self, name: str) -> dict[int, np.ndarray]:
        """Columns ``{name}@{e}`` (the metric after epoch e), by epoch, as fractions like ``name`` itself."""
        table, found = self.table, {}
        pattern = re.compile(rf"^{re.escape(name)}@(\d+)$")
        for column in table.columns:
            if (m := pattern.match(column)) and int(m.group(1)) >= 1:
                found[int(m.group(1))] = table._to_fraction(column, table.column(column), table.percent.get(name))
        return dict(sorted(found.items()))

    def max_epochs(self) -> int | None:
        """The last epoch the table's ``{val_column}@{e}`` columns record; None without such columns."""
        return max(self._curve) if self._curve else None

    def evaluate_at(self, arch: Architecture, epochs: int) -> Metrics:
        """Metrics of ``arch`` after ``epochs`` epochs, from the table's per-epoch columns.

        ``{val_column}@{epochs}`` (and ``{test_column}@{epochs}`` if present,
        else NaN) give the accuracies; ``learning_curve`` lists the
        validation accuracy at every recorded epoch up to ``epochs``, and
        ``cost_s`` is the cost column scaled by ``epochs`` over the last
        recorded epoch.

        Raises:
            ConfigError: The table has no column for that epoch.
        """
        if epochs not in self._curve:
            raise ConfigError(f"{self.table.path.name} records validation accuracy after epochs "
                              f"{list(self._curve) or 'none'} ({self.table.roles['val']}@<epoch> columns), "
                              f"not after {epochs!r}.")
        full = self.evaluate(arch)
        row = full.extra["table_row"]
        test = self._test_curve.get(epochs)
        full.val_accuracy = float(self._curve[epochs][row])
        full.test_accuracy = math.nan if test is None else float(test[row])
        full.cost_s *= epochs / max(self._curve)
        full.extra.update(epochs=int(epochs), learning_curve=[float(c[row]) for e, c in self._curve.items()
                                                              if e <= epochs])
        return full

    def evaluate(self, arch: Architecture) -> Metrics:
        """Metrics of ``arch`` from its table row.

        Raises:
            DataError: The table does not cover ``arch`` or its canonical form.
        """
        row = self.table.lookup(arch, canonical=True)
        return Metrics(
            val_accuracy=float(self._val[row]),
            test_accuracy=math.nan if self._test is None else float(self._test[row]),
            latency_ms=None if self._latency is None else float(self._latency[row]),
            params=0 if self._params is None else int(round(self._params[row])),
            flops=0 if self._flops is None else int(round(self._flops[row])),
            cost_s=0.0 if self._cost is None else float(self._cost[row]),
            extra={"table_row": row},
        )

    def settings(self) -> dict[str, Any]:
        """Return the table file (path, mtime, size), the columns used and the space."""
        table = self.table
        return {
            "kind": "table",
            "path": str(table.path),
            "mtime_ns": table.mtime_ns,
            "size_bytes": table.size_bytes,
            "columns": {k: v for k, v in table.roles.items() if v is not None},
            "percent": table.percent,
            "space": table.space.key,
        }
