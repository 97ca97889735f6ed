"""Scripts run through their real command line on tiny budgets."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*args, timeout=300):
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_bench_nb201_smoke(nb201_table):
    out = _run("scripts/bench_nb201.py", "--table", nb201_table, "--seeds", "2", "--budget", "5",
               "--agents", "random", "evolution", "--workers", "1")
    assert "| random |" in out and "| evolution |" in out


@pytest.mark.slow
def test_bench_env_smoke(nb201_table):
    out = _run("scripts/bench_env.py", "--table", nb201_table, "--steps", "3000", "--evaluations", "1",
               "--latency-archs", "5")
    for needle in ("ratio", "median s/eval", "load time", "Spearman"):
        assert needle in out


@pytest.mark.slow
def test_bench_supernet_smoke(tmp_path):
    out = _run("scripts/bench_supernet.py", "--parts", "rank", "ceiling", "cost", "percentile", "--archs-nb201", "6",
               "--ceiling-seeds", "1",
               "--archs-nasv0", "2", "--methods", "rsps", "--seeds", "2", "--first-seed", "3", "--budget", "4",
               "--agent-kwargs", '{"top_k": 2}',
               "--evaluator-kwargs", '{"pretrain_epochs": 1, "bn_batches": 1}', "--out", str(tmp_path))
    for needle in ("| NAS-Bench-201-v0 | 6 |", "| NAS-v0 | 2 |", "÷ one stand-alone", "| rsps |", "table percentile",
                   "| stand-alone, training seed 1 |", "| mean of the retrainings (1) |",
                   "against the mean of the table", "seeds 3-4, one supernet seed"):
        assert needle in out
    figures = json.loads((tmp_path / "bench_supernet.json").read_text())
    assert figures["ceiling"]["n"] == 6 and [r["seed"] for r in figures["ceiling"]["seeds"]] == [1]
    assert "τ by val loss" in out and set(figures["rank"][0]["by_loss"]) == {"kendall_tau", "spearman_rho"}
    # The mean of one retraining is that retraining.
    assert figures["ceiling"]["retrainings_mean_vs_table"] == {k: v for k, v in figures["ceiling"]["seeds"][0].items()
                                                               if k != "seed"}
    # --first-seed and --agent-kwargs reach the searches: seeds 3 and 4, each retraining its top 2.
    for seed in (3, 4):
        summary = json.loads((tmp_path / f"nb201-rsps-{seed}" / "summary.json").read_text())
        assert summary["seed"] == seed and summary["standalone"]["top_k"] == 2
    assert not (tmp_path / "nb201-rsps-0").exists()
    # The supernet's τ in the ceiling part is the rank part's, on the same cells.
    assert figures["ceiling"]["supernet_vs_table"]["kendall_tau"] == figures["rank"][0]["kendall_tau"]
