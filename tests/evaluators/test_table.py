"""Tests of the tabular benchmark and its evaluator, on slices of the real NB201 table."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from nas_gym.error import ConfigError, DataError, MissingDependencyError
from nas_gym.evaluators.table import TableEvaluator, TabularBenchmark
from nas_gym.spaces.layers import LayersSpace
from nas_gym.spaces.nb201 import NB201Space

BEST_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
BEST_ROW = 9930
SLICE_ROWS = 200


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


@pytest.fixture(scope="module")
def lines(nb201_table: str) -> list[str]:
    """Header plus every data line of the real table (skips where it is absent)."""
    return Path(nb201_table).read_text(encoding="utf-8").splitlines()


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def slice_lines(lines: list[str]) -> list[str]:
    """Header, the first 200 rows and row 9930 (the best by CIFAR-100 validation)."""
    return [lines[0], *lines[1 : SLICE_ROWS + 1], lines[BEST_ROW + 1]]


def edit(line: str, column: int, value: str) -> str:
    fields = next(csv.reader([line]))
    fields[column] = value
    return ",".join(fields)


def load(path: Path, space: NB201Space, **kwargs) -> TabularBenchmark:
    kwargs.setdefault("val_column", "c100_valid")
    return TabularBenchmark.load(path, space=space, **kwargs)


# -- a valid slice -------------------------------------------------------------


def test_slice_loads_and_looks_up(tmp_path, space, slice_lines):
    table = load(write(tmp_path / "t.csv", slice_lines), space, test_column="c100_test", latency_column="lat_fpga_ms")
    assert len(table) == table.rows == SLICE_ROWS + 1
    row = table.lookup(space.from_string(BEST_ARCH))
    assert row == SLICE_ROWS
    assert str(table.arch_at(row)) == BEST_ARCH
    assert table.best() == row
    assert table.column("c100_valid")[row] == pytest.approx(0.734933)
    assert table.column("lat_fpga_ms")[row] == pytest.approx(7.42096)
    assert table.percent == {"c100_valid": True, "c100_test": True}
    assert not table.is_exhaustive
    # Unused columns keep the file's units.
    assert table.column("c10_test").max() > 1


def test_values_are_read_only(tmp_path, space, slice_lines):
    table = load(write(tmp_path / "t.csv", slice_lines), space)
    with pytest.raises(ValueError):
        table.column("c100_valid")[0] = 0.0


def test_load_is_memoised_until_the_file_changes(tmp_path, space, slice_lines):
    path = write(tmp_path / "t.csv", slice_lines)
    first = load(path, space)
    assert load(path, space) is first
    assert load(path, space, test_column="c100_test") is not first
    write(path, slice_lines[:-1])
    assert len(load(path, space)) == SLICE_ROWS


def test_fractions_are_kept(tmp_path, space, slice_lines):
    fractions = [slice_lines[0]]
    for line in slice_lines[1:]:
        value = float(next(csv.reader([line]))[3])
        fractions.append(edit(line, 3, repr(value / 100)))
    table = load(write(tmp_path / "t.csv", fractions), space)
    assert table.percent == {"c100_valid": False}
    assert table.column("c100_valid")[-1] == pytest.approx(0.734933)


def test_json_round_trip(tmp_path, space, slice_lines):
    csv_table = load(write(tmp_path / "t.csv", slice_lines), space, latency_column="lat_fpga_ms")
    records = [{k: (v if k == "arch_str" else float(v)) for k, v in row.items()} for row in csv.DictReader(slice_lines)]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    json_table = load(path, space, latency_column="lat_fpga_ms")
    assert len(json_table) == len(csv_table)
    for name in ("c100_valid", "lat_fpga_ms", "c10_test"):
        assert (json_table.column(name) == csv_table.column(name)).all()
    arch = space.from_string(BEST_ARCH)
    assert json_table.lookup(arch) == csv_table.lookup(arch)


def test_csv_gz_reads_like_csv(tmp_path, space, slice_lines):
    plain = load(write(tmp_path / "t.csv", slice_lines), space, test_column="c100_test", latency_column="lat_fpga_ms")
    path = tmp_path / "t.CSV.GZ"  # the suffix is matched case-insensitively, like the others
    path.write_bytes(gzip.compress(("\n".join(slice_lines) + "\n").encode("utf-8")))
    packed = load(path, space, test_column="c100_test", latency_column="lat_fpga_ms")
    assert packed.columns == plain.columns
    assert len(packed) == len(plain)
    for name in ("c100_valid", "c100_test", "lat_fpga_ms", "c10_test"):
        np.testing.assert_array_equal(packed.column(name), plain.column(name))
    assert packed.arch_at(len(packed) - 1) == space.from_string(BEST_ARCH)


def test_csv_gz_that_is_not_gzip(tmp_path, space, slice_lines):
    path = write(tmp_path / "t.csv.gz", slice_lines)
    with pytest.raises(DataError, match="not a readable gzip file"):
        load(path, space)


def test_lookup_outside_the_table(tmp_path, space, slice_lines):
    table = load(write(tmp_path / "t.csv", slice_lines[:50]), space)
    with pytest.raises(DataError, match="does not cover"):
        table.lookup(space.from_string(BEST_ARCH))
    with pytest.raises(ConfigError, match="from space"):
        table.lookup(LayersSpace().sample(np.random.default_rng(0)))


def test_canonical_fallback(tmp_path, space, lines):
    """A table holding one representative answers for the other members of its class."""
    rows = [next(csv.reader([line])) for line in lines[1:]]
    for row in rows:
        arch = space.from_string(row[1])
        canonical = space.canonical(arch)
        if canonical != arch:
            break
    else:
        pytest.skip("every NB201 cell is its own canonical form in this space")
    kept = [line for line in lines[1:] if next(csv.reader([line]))[1] == str(canonical)]
    table = load(write(tmp_path / "t.csv", [lines[0], *kept]), space)
    with pytest.raises(DataError, match="does not cover"):
        table.lookup(arch)
    assert table.lookup(arch, canonical=True) == 0
    assert TableEvaluator(table).evaluate(arch).extra["table_row"] == 0


# -- every validation error -------------------------------------------------------


def test_missing_file(tmp_path, space):
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "absent.csv", space)


def test_missing_column(tmp_path, space, slice_lines):
    path = write(tmp_path / "t.csv", slice_lines)
    with pytest.raises(DataError, match=r"'c100_val' not found\. Did you mean 'c100_valid'\?.*lat_raspi4_ms"):
        load(path, space, val_column="c100_val")
    with pytest.raises(DataError, match="arch column 'arch'"):
        load(path, space, arch_column="arch")


def test_duplicate_arch(tmp_path, space, slice_lines):
    path = write(tmp_path / "t.csv", [*slice_lines, edit(slice_lines[6], 0, "99999")])
    with pytest.raises(DataError, match=r"rows 5 and 201 hold the same arch string"):
        load(path, space)


def test_unknown_arch_string(tmp_path, space, slice_lines):
    bad = slice_lines[4].replace("nor_conv_3x3", "conv_9x9").replace("nor_conv_1x1", "conv_9x9")
    slice_lines[4] = edit(bad, 1, "|conv_9x9~0|+|conv_9x9~0|conv_9x9~1|+|skip_connect~0|conv_9x9~1|conv_9x9~2|")
    with pytest.raises(DataError, match=r"row 3, column 'arch_str': '\|conv_9x9~0\|.* is not an architecture"):
        load(write(tmp_path / "t.csv", slice_lines), space)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("abc", r"row 7, column 'c100_valid': value 'abc' is not a number"),
        ("nan", r"row 7, column 'c100_valid': value 'nan' is missing, NaN"),
        ("", r"row 7, column 'c100_valid': value '' is not a number"),
    ],
)
def test_bad_value_in_used_column(tmp_path, space, slice_lines, value, match):
    slice_lines[8] = edit(slice_lines[8], 3, value)
    with pytest.raises(DataError, match=match):
        load(write(tmp_path / "t.csv", slice_lines), space)


def test_bad_value_in_unused_column_fails_only_when_read(tmp_path, space, slice_lines):
    slice_lines[8] = edit(slice_lines[8], 8, "n/a")
    table = load(write(tmp_path / "t.csv", slice_lines), space)
    assert len(table) == SLICE_ROWS + 1
    with pytest.raises(DataError, match=r"row 7, column 'lat_raspi4_ms': value 'n/a'"):
        table.column("lat_raspi4_ms")


def test_percent_out_of_range(tmp_path, space, slice_lines):
    slice_lines[11] = edit(slice_lines[11], 3, "120.5")
    with pytest.raises(DataError, match=r"row 10, column 'c100_valid': accuracy 120\.5 is outside \[0, 100\]"):
        load(write(tmp_path / "t.csv", slice_lines), space)


def test_forced_fractions_reject_percent(tmp_path, space, slice_lines):
    with pytest.raises(DataError, match=r"row 0, column 'c100_valid': .* outside \[0, 1\].*percent=False"):
        load(write(tmp_path / "t.csv", slice_lines), space, percent=False)


@pytest.mark.parametrize(("text", "match"), [("", "file is empty"), (None, "no rows")])
def test_empty_table(tmp_path, space, slice_lines, text, match):
    path = tmp_path / "t.csv"
    path.write_text(slice_lines[0] + "\n" if text is None else text, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        load(path, space)


def test_empty_json(tmp_path, space):
    path = tmp_path / "t.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        load(path, space)


def test_ragged_csv_row(tmp_path, space, slice_lines):
    slice_lines[3] += ",1.0"
    with pytest.raises(DataError, match=r"row 2 \(line 4\) has 10 fields, expected 9"):
        load(write(tmp_path / "t.csv", slice_lines), space)


def test_json_must_be_records(tmp_path, space):
    path = tmp_path / "t.json"
    path.write_text('{"arch_str": []}', encoding="utf-8")
    with pytest.raises(DataError, match="expected a JSON list of records"):
        load(path, space)


def test_unknown_format(tmp_path, space):
    path = tmp_path / "t.xlsx"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match=r"unknown table format '\.xlsx'"):
        load(path, space)


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
def test_parquet_without_pyarrow(tmp_path, space):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(MissingDependencyError, match="pip install pyarrow"):
        load(path, space)


# -- the evaluator ----------------------------------------------------------------------


def test_evaluator_without_test_or_latency(tmp_path, space, slice_lines):
    evaluator = TableEvaluator(load(write(tmp_path / "t.csv", slice_lines), space))
    metrics = evaluator.evaluate(space.from_string(BEST_ARCH))
    assert metrics.val_accuracy == pytest.approx(0.734933)
    assert math.isnan(metrics.test_accuracy)
    assert metrics.latency_ms is None
    assert metrics.cost_s == 0.0
    assert (metrics.params, metrics.flops) == (0, 0)


def test_evaluator_needs_a_validation_column(tmp_path, space, slice_lines):
    table = load(write(tmp_path / "t.csv", slice_lines), space, val_column=None, latency_column="lat_fpga_ms")
    with pytest.raises(ConfigError, match="needs a validation column"):
        TableEvaluator(table)


def test_evaluator_reads_params_flops_and_cost(tmp_path, space, slice_lines):
    lines = [slice_lines[0] + ",params,flops,train_s"]
    lines += [f"{line},{1000 + i},{2000 + i},{3.5 + i}" for i, line in enumerate(slice_lines[1:])]
    table = load(write(tmp_path / "t.csv", lines), space, cost_column="train_s")
    metrics = TableEvaluator(table).evaluate(space.from_string(BEST_ARCH))
    assert (metrics.params, metrics.flops, metrics.cost_s) == (1200, 2200, 203.5)


# -- the full real table ------------------------------------------------------------------


def test_full_table(space, nb201_table):
    data = Path(nb201_table)
    start = time.perf_counter()
    table = TabularBenchmark.load(
        data, space=space, val_column="c100_valid", test_column="c100_test", latency_column="lat_fpga_ms"
    )
    print(f"\nloaded {len(table)} rows from {data.name} in {time.perf_counter() - start:.3f} s")
    assert len(table) == 15625
    assert table.is_exhaustive
    assert table.best() == BEST_ROW
    assert table.column("c10_test")[table.best("c10_test")] == pytest.approx(94.37, abs=0.005)

    evaluator = TableEvaluator(table)
    metrics = evaluator.evaluate(space.from_string(BEST_ARCH))
    assert metrics.val_accuracy == pytest.approx(0.734933)
    assert metrics.test_accuracy == pytest.approx(0.7351, abs=5e-5)
    assert metrics.latency_ms == pytest.approx(7.42096)
    assert metrics.extra["table_row"] == BEST_ROW

    settings = evaluator.settings()
    assert settings["path"] == str(data.resolve())
    assert settings["mtime_ns"] == data.stat().st_mtime_ns
    assert settings["size_bytes"] == data.stat().st_size
    assert settings["columns"] == {
        "arch": "arch_str",
        "val": "c100_valid",
        "test": "c100_test",
        "latency": "lat_fpga_ms",
    }
    json.dumps(settings)
