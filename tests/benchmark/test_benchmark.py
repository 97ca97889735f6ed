"""The benchmark runner: real runs on the NB201 table, figures checked against the histories, resume."""

import csv
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from nas_gym import cli
from nas_gym.benchmark import _T975, hypervolume, pareto_front, run_benchmark, summarize
from nas_gym.error import ConfigError
from nas_gym.search.searcher import load_searcher

SEEDS, BUDGET = 3, 20
LATENCY = {"latency_column": "lat_fpga_ms", "latency_weight": 0.5, "latency_target_ms": 5}


def _agents():
    try:
        load_searcher("evolution")
    except ImportError:
        return ["random"]
    return ["random", "evolution"]


@pytest.fixture(scope="module")
def bench(nb201_kwargs, tmp_path_factory):
    """One benchmark through the real command line (2 worker processes)."""
    out = tmp_path_factory.mktemp("bench") / "out"
    agents = _agents()
    script = Path(sys.executable).with_name("nas-gym")  # the installed console command
    prog = [str(script)] if script.is_file() else [sys.executable, "-m", "nas_gym.cli"]
    cmd = [
        *prog, "benchmark", "--agents", ",".join(agents),
        "--env", "NAS-Bench-201-v0", "--env-kwargs", json.dumps(nb201_kwargs), "--seeds", str(SEEDS),
        "--budget", str(BUDGET), "--out", str(out), "--workers", "2", "--no-progress",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out, agents


# -- independent recomputation from the files ---------------------------------------
def _history(folder):
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


def _ci(values):
    """Mean and a 95 % percentile-bootstrap interval of the mean, by an independent draw (another generator)."""
    x = np.asarray(values, dtype=float)
    idx = np.random.default_rng(12345).integers(0, len(x), (200_000, len(x)))
    low, high = np.percentile(x[idx].mean(axis=1), [2.5, 97.5])
    return x.mean(), low, high


def _table_rewards(path, latency=None):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    val = np.array([float(r["c100_valid"]) / 100 for r in rows])
    if latency is None:
        return val, val, None
    lat = np.array([float(r[latency["latency_column"]]) for r in rows])
    hinge = val - latency["latency_weight"] * np.maximum(0, lat / latency["latency_target_ms"] - 1)
    return hinge, val, lat


def _expected(out, agents, table_path, latency=None):
    rewards, _, _ = _table_rewards(table_path, latency)
    optimum, top1 = rewards.max(), np.percentile(rewards, 99)
    expected = {}
    for agent in agents:
        best, test, regret, evals = [], [], [], []
        for seed in range(SEEDS):
            h = _history(out / agent / f"seed{seed}")
            assert len(h) == BUDGET
            r = [x["reward"] for x in h]
            best_val = max(h, key=lambda x: x["val_accuracy"])  # max() keeps the first of ties
            best.append(max(r))
            test.append(best_val["test_accuracy"])
            regret.append(optimum - max(r))
            reached = [i + 1 for i in range(BUDGET) if max(r[: i + 1]) >= top1]
            evals.append(reached[0] if reached else math.inf)
        expected[agent] = {"best": _ci(best), "test": _ci(test), "regret": _ci(regret), "evals": evals}
    return expected


def _md_rows(path):
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("method",) and not set(line) <= set("|- "):
            rows[cells[0]] = cells
    return rows


def _cell(cell):
    """(mean, low, high) of a summary.md cell, ``mean [low, high]``."""
    mean, low, high = (float(x) for x in re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", cell).groups())
    return mean, low, high


def _close(parsed, value, digits):
    assert abs(parsed - value) <= 0.5 * 10**-digits + 1e-9, (parsed, value)


# -- tests ----------------------------------------------------------------------------
def test_cli_writes_files_with_labelled_figures(bench):
    import matplotlib.image as mpimg

    out, agents = bench
    for name in ("summary.md", "summary.json", "curves.png", "benchmark.json"):
        assert (out / name).is_file(), name
    assert not (out / "pareto.png").exists()  # no latency in play
    for agent in agents:
        for seed in range(SEEDS):
            folder = out / agent / f"seed{seed}"
            assert (folder / "summary.json").is_file()
            assert any(p.name.startswith("events.out.tfevents") for p in folder.iterdir())
    image = mpimg.imread(out / "curves.png")
    assert image.shape[0] > 300 and image.shape[1] > 500 and image.std() > 0.01
    text = (out / "summary.md").read_text()
    assert "command: `nas-gym benchmark --agents" in text and f"--budget {BUDGET}" in text


def test_summary_figures_match_histories(bench, nb201_table):
    out, agents = bench
    expected = _expected(out, agents, nb201_table)
    summary = summarize(out)
    rows = _md_rows(out / "summary.md")
    assert list(rows) == agents
    rewards = _table_rewards(nb201_table)[0]
    # What each figure can be: a run scored by the table earns one of its rewards; an accuracy is in [0, 1].
    bounds = {"best": (rewards.min(), rewards.max()), "test": (0.0, 1.0),
              "regret": (0.0, rewards.max() - rewards.min())}
    for agent in agents:
        e, s, row = expected[agent], summary["methods"][agent], rows[agent]
        assert row[1] == str(SEEDS) and s["runs"] == SEEDS
        for key, stat, col, scale, digits in (
            ("best", "best_reward", 2, 1, 4), ("test", "test_accuracy", 3, 100, 2), ("regret", "regret", 5, 1, 4),
        ):
            mean, low, high = e[key]
            values = s[stat]["values"]
            assert s[stat]["mean"] == pytest.approx(mean, abs=1e-12)
            # The bootstrap interval of the mean: within the values (so within what the figure can be), and
            # the same as an independent bootstrap up to Monte-Carlo error.
            assert bounds[key][0] - 1e-12 <= min(values) <= s[stat]["low"] <= mean <= s[stat]["high"] <= max(values)
            tol = 0.02 * (max(values) - min(values)) + 1e-12
            assert (s[stat]["low"], s[stat]["high"]) == pytest.approx((low, high), abs=tol)
            md_mean, md_low, md_high = _cell(row[col])
            _close(md_mean, mean * scale, digits)
            _close(md_low, s[stat]["low"] * scale, digits)
            _close(md_high, s[stat]["high"] * scale, digits)
        assert row[4] == "—"  # no latency column
        median = np.median(e["evals"])
        reached = sum(math.isfinite(x) for x in e["evals"])
        want = f"> {BUDGET}" if math.isinf(median) else f"{median:g}"
        assert row[6] == f"{want} ({reached}/{SEEDS} reached)"
        assert s["evals_to_top1"]["values"] == [None if math.isinf(x) else x for x in e["evals"]]
        assert len(s["curve"]["mean"]) == BUDGET
    assert summary["table"]["optimum_reward"] == pytest.approx(_table_rewards(nb201_table)[0].max())
    assert summary["table"]["exhaustive"] is True


def test_resume_redoes_only_unfinished_runs(bench, nb201_kwargs, tmp_path):
    src, agents = bench
    out = tmp_path / "out"
    shutil.copytree(src, out)
    redo = [("random", 1), (agents[-1], 2)]
    before = {f: _history(out / f[0] / f"seed{f[1]}") for f in redo}
    # One run lost its summary (killed just before writing it), one was killed half-way.
    (out / "random" / "seed1" / "summary.json").unlink()
    cut = out / agents[-1] / "seed2"
    (cut / "summary.json").unlink()
    lines = (cut / "history.jsonl").read_text().splitlines(keepends=True)
    (cut / "history.jsonl").write_text("".join(lines[: BUDGET // 2]) + lines[BUDGET // 2][:15])
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/seed*/*")}

    result = run_benchmark(agents, "NAS-Bench-201-v0", nb201_kwargs, seeds=SEEDS, budget=BUDGET, out_dir=out,
                           workers=1, progress=False)

    assert sorted((a, s) for _, a, s in result.ran) == sorted(set(redo))
    assert len(result.skipped) == len(agents) * SEEDS - len(set(redo)) and not result.failed
    for path, stamp in stamps.items():
        if (path.parent.parent.name, int(path.parent.name[4:])) not in redo:
            assert path.stat().st_mtime_ns == stamp, path
    for (agent, seed), history in before.items():
        assert _history(out / agent / f"seed{seed}") == history  # deterministic: same run again
    assert summarize(out)["methods"] == summarize(src)["methods"]


def _hv_by_sweep(lat, acc, ref):
    """Hypervolume integrated over every latency breakpoint (independent of the library's front)."""
    xs = np.unique(np.append(lat[lat < ref], ref))
    area = 0.0
    for left, right in zip(xs[:-1], xs[1:], strict=True):
        height = max((a for lt, a in zip(lat, acc, strict=True) if lt <= left), default=0.0)
        area += (right - left) * height
    return area


def test_latency_benchmark_pareto_and_hypervolume(nb201_kwargs, nb201_table, tmp_path):
    import matplotlib.image as mpimg

    out = tmp_path / "lat"
    env_kwargs = {**nb201_kwargs, **LATENCY}
    result = run_benchmark(["random"], "NAS-Bench-201-v0", env_kwargs, seeds=2, budget=BUDGET, out_dir=out,
                           workers=1, progress=False)
    assert not result.failed
    assert mpimg.imread(out / "pareto.png").shape[0] > 300
    summary = result.summary
    assert summary["latency_in_play"]
    _, val, lat = _table_rewards(nb201_table, LATENCY)
    ref = 1.1 * lat.max()
    assert summary["pareto"]["ref_latency_ms"] == pytest.approx(ref)
    true_hv = _hv_by_sweep(lat[pareto_front(lat, val)], val[pareto_front(lat, val)], ref)
    assert summary["pareto"]["front_hv"] == pytest.approx(true_hv)
    fractions = summary["methods"]["random"]["hv_fraction"]["values"]
    for seed, fraction in enumerate(fractions):
        h = _history(out / "random" / f"seed{seed}")
        run_hv = _hv_by_sweep(np.array([r["latency_ms"] for r in h]), np.array([r["val_accuracy"] for r in h]), ref)
        assert fraction == pytest.approx(run_hv / true_hv)
        assert 0 < fraction <= 1
    row = _md_rows(out / "summary.md")["random"]
    _close(_cell(row[-1])[0], np.mean(fractions), 4)
    _close(_cell(row[4])[0], np.mean([max(_history(out / "random" / f"seed{s}"), key=lambda r: r["val_accuracy"])
                                    ["latency_ms"] for s in range(2)]), 3)


def test_failing_runs_are_reported_and_others_continue(nb201_table, tmp_path, capsys):
    # A 40-row slice of the table: random search soon proposes an uncovered arch and the run fails.
    lines = Path(nb201_table).read_text().splitlines(keepends=True)
    small = tmp_path / "slice.csv"
    small.write_text("".join(lines[:41]))
    out = tmp_path / "fail"
    argv = ["benchmark", "--agents", "random", "--env", "NAS-Bench-201-v0", "--env-kwargs",
            json.dumps({"table": str(small), "val_column": "c100_valid", "test_column": "c100_test",
                        "latency_weight": 0}), "--seeds", "2", "--budget", "5", "--out", str(out),
            "--workers", "1", "--no-progress"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert re.search(r"random/seed0: DataError: .*does not cover", err) and "random/seed1" in err
    assert "DataError" in (out / "random" / "seed0" / "error.txt").read_text()
    assert "| random | 0 |" in (out / "summary.md").read_text()


def test_config_errors(nb201_kwargs, bench, tmp_path):
    with pytest.raises(ConfigError, match="Unknown agent 'randon'. Did you mean 'random'"):
        run_benchmark(["randon"], "NAS-Bench-201-v0", nb201_kwargs, out_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"agent kwargs name methods \['tpe'\] that are not benchmarked"):
        run_benchmark(["random"], "NAS-Bench-201-v0", nb201_kwargs, out_dir=tmp_path, progress=False,
                      agent_kwargs={"tpe": {}})
    src, agents = bench
    out = tmp_path / "other"
    shutil.copytree(src, out)
    with pytest.raises(ConfigError, match="holds a finished run with other settings .*budget: folder has 20"):
        run_benchmark(agents, "NAS-Bench-201-v0", nb201_kwargs, seeds=SEEDS, budget=10, out_dir=out,
                      progress=False)
    assert len(list(out.glob("*/seed*/summary.json"))) == len(agents) * SEEDS  # nothing deleted


def test_statistics_helpers():
    for df, t in enumerate(_T975, start=1):
        assert t == pytest.approx(stats.t.ppf(0.975, df), abs=1e-3)
    lat, acc = np.array([1.0, 2.0, 2.0, 3.0, 4.0]), np.array([0.5, 0.7, 0.6, 0.65, 0.9])
    assert list(pareto_front(lat, acc)) == [0, 1, 4]
    # Rectangles up to (5 ms, 0): [1,2]x0.5 + [2,4]x0.7 + [4,5]x0.9.
    assert hypervolume(lat, acc, 5.0) == pytest.approx(0.5 + 1.4 + 0.9)
    assert hypervolume(lat, acc, 5.0) == pytest.approx(_hv_by_sweep(lat, acc, 5.0))


def test_grid_of_env_settings(nb201_kwargs, tmp_path):
    settings = [nb201_kwargs, {**nb201_kwargs, **LATENCY}]
    result = run_benchmark(["random"], "NAS-Bench-201-v0", settings, seeds=1, budget=5, out_dir=tmp_path,
                           workers=1, progress=False)
    names = ["latency_weight=0", "latency_column=lat_fpga_ms,latency_target_ms=5,latency_weight=0.5"]
    assert sorted(result.summary["settings"]) == sorted(names)
    assert (tmp_path / names[0] / "random" / "seed0" / "summary.json").is_file()
    assert not (tmp_path / names[0] / "pareto.png").exists() and (tmp_path / names[1] / "pareto.png").is_file()
    text = (tmp_path / "summary.md").read_text()
    assert all(f"## {n}" in text for n in names) and text.count("| random | 1 |") == 2


def test_eval_workers_reach_every_run(nb201_kwargs, tmp_path, bench):
    """--eval-workers 2: each run evaluates two architectures at once; random search's histories stay the same."""
    src, _ = bench
    out = tmp_path / "eval_workers"
    result = run_benchmark(["random"], "NAS-Bench-201-v0", nb201_kwargs, seeds=2, budget=BUDGET, out_dir=out,
                           workers=2, eval_workers=2, progress=False)
    assert not result.failed and len(result.ran) == 2
    for seed in range(2):
        folder = out / "random" / f"seed{seed}"
        assert json.loads((folder / "summary.json").read_text())["workers"] == 2
        assert _history(folder) == _history(src / "random" / f"seed{seed}")
    assert json.loads((out / "benchmark.json").read_text())["eval_workers"] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eval_workers": 0}, "eval_workers must be an integer"),
        ({"workers": True}, "workers must be an integer"),
        ({"backend": "rey"}, "Did you mean 'ray'"),
        ({"ray_address": "127.0.0.1:6379"}, "needs backend='ray'"),
    ],
)
def test_benchmark_parallel_arguments_are_checked(nb201_kwargs, tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        run_benchmark(["random"], "NAS-Bench-201-v0", nb201_kwargs, seeds=1, budget=2, out_dir=tmp_path / "x",
                      progress=False, **kwargs)
    assert not (tmp_path / "x").exists()


def test_a_benchmark_at_an_equal_budget_of_epochs(tmp_path):
    """Hyperband (several fidelities) beside random search (full trainings), both stopped at 12 epochs trained."""
    kwargs = {"space_kwargs": {"num_layers": 2}, "latency": "none", "cache": str(tmp_path / "c.sqlite"),
              "evaluator_kwargs": {"epochs": 3, "train_fraction": 0.1, "num_threads": 1}}
    out = tmp_path / "bench"
    result = run_benchmark(["hyperband", "random"], "NAS-v0", kwargs, seeds=2, budget=12, budget_epochs=12,
                           out_dir=out, workers=1, progress=False)
    assert not result.failed and len(result.ran) == 4
    methods = result.summary["methods"]
    for agent in ("hyperband", "random"):
        assert methods[agent]["runs"] == 2 and len(methods[agent]["curve"]["mean"]) == 12
    # Random search's first full training (3 epochs) ends its curve's NaN start.
    assert np.isnan(methods["random"]["curve"]["mean"][1]) and not np.isnan(methods["random"]["curve"]["mean"][2])
    assert "12 epochs trained per run" in (out / "summary.md").read_text()
    again = run_benchmark(["hyperband", "random"], "NAS-v0", kwargs, seeds=2, budget=12, budget_epochs=12,
                          out_dir=out, workers=1, progress=False)
    assert len(again.skipped) == 4 and not again.ran
    with pytest.raises(ConfigError, match="trains nothing"):
        run_benchmark(["random"], "NAS-Bench-201-v0", {}, seeds=1, budget=5, budget_epochs=5, out_dir=tmp_path / "t")
