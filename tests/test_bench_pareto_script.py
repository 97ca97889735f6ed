"""scripts/bench_pareto.py through its real command line on a tiny budget."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args, timeout=300):
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_bench_pareto_smoke(nb201_table):
    out = _run("scripts/bench_pareto.py", "--table", nb201_table, "--seeds", "1", "--budget", "6",
               "--agents", "nsga2", "mo_evolution", "random", "--workers", "1")
    for agent in ("nsga2", "mo_evolution", "random"):
        row = next(line for line in out.splitlines() if line.startswith(f"| {agent} |"))
        fraction = float(row.split("|")[2].split("±")[0])
        assert 0.0 <= fraction <= 1.0
    assert "reference point: accuracy 0.6517" in out and "lat_fpga_ms" in out


def test_bench_pareto_skips_without_the_table(tmp_path):
    out = _run("scripts/bench_pareto.py", "--table", str(tmp_path / "absent.csv"), "--seeds", "1", "--budget", "2")
    assert "is absent" in out


def test_level_fronts_fall_from_the_true_front(nb201_table):
    out = _run("scripts/bench_pareto.py", "--table", nb201_table, "--seeds", "1", "--budget", "2",
               "--agents", "random", "--workers", "1", "--levels")
    assert "84 latency levels" in out  # FPGA latency is a function of the op counts: few distinct values
    row = next(line for line in out.splitlines() if line.startswith("| fraction |"))
    fractions = [float(x) for x in row.split("|")[2:-1]]
    assert fractions[0] == 1.0  # each level's best cell makes the true front
    assert all(a > b for a, b in zip(fractions, fractions[1:], strict=False)) and fractions[1] < 0.97


def test_bench_pareto_takes_seeds_and_hyperparameters(nb201_table):
    out = _run("scripts/bench_pareto.py", "--table", nb201_table, "--seeds", "2", "--first-seed", "5", "--budget", "6",
               "--agents", "nsga2", "mo_evolution", "--workers", "1", "--agent-kwargs", '{"screen_size": 1}')
    assert "seeds 5-6" in out
    assert sum(line.startswith(("| nsga2 |", "| mo_evolution |")) for line in out.splitlines()) == 2
    bad = subprocess.run([sys.executable, "scripts/bench_pareto.py", "--table", nb201_table, "--seeds", "1",
                          "--budget", "2", "--agents", "nsga2", "--agent-kwargs", '{"screen": 3}'],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "has no hyperparameter 'screen'" in bad.stderr
