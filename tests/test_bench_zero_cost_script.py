"""scripts/bench_zero_cost.py through its real command line: our ρ, on CIFAR-100, and the Suite's beside them."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args, timeout=300):
    proc = subprocess.run([sys.executable, "scripts/bench_zero_cost.py", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _table(out: str, heading: str) -> dict[str, list[str]]:
    """{proxy: cells} of the markdown table under the heading that starts with ``heading``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"### {heading}"))
    rows = {}
    for line in lines[start + 4:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def _suite_file(path: Path) -> Path:
    """A file in NAS-Bench-Suite-Zero's format: nwot orders accuracy, synflow reverses it, no zico."""
    records = {}
    for i in range(6):
        records[f"({i}, 0, 0, 0, 0, 0)"] = {
            "idx": str(i), "arch": f"({i}, 0, 0, 0, 0, 0)", "val_accuracy": 50.0 + i,
            "nwot": {"score": 300.0 + i * i, "time": 0.5}, "synflow": {"score": -float(i), "time": 0.5},
            "params": {"score": 1.0, "time": 0.1} if i else {"score": 0.5, "time": 0.1},
        }
    path.write_text(json.dumps({"cifar10": records, "cifar100": records}))
    return path


def test_cifar_column_and_the_suites_values(nb201_table, tmp_path):
    out = _run("--cells", "12", "--archs", "0", "--workers", "1", "--cifar", nb201_table,
               "--suite-zero", str(_suite_file(tmp_path / "zc_nasbench201.json")))
    ours = _table(out, "nb201 (embedded MNIST-1D table)")
    c100 = _table(out, "nb201, proxies on MNIST-1D, against NAS-Bench-201's CIFAR-100")
    assert set(ours) == set(c100) == {"synflow", "naswot", "grad_norm", "snip", "fisher", "zico", "params", "flops"}
    for proxy in ours:  # the same scores (and timings) against another truth
        assert ours[proxy][1:] == c100[proxy][1:] and -1 <= float(c100[proxy][0]) <= 1
    suite = _table(out, "NAS-Bench-Suite-Zero's released NB201 scores")
    assert suite["naswot"][:2] == ["1.000 (6)", "1.000 (6)"]  # the Suite's nwot is our naswot
    assert suite["synflow"][0] == "-1.000 (6)"
    assert suite["zico"] == ["—", "—", "—"] and suite["naswot"][2] == "—"  # no zico; no ImageNet16 in this file
    assert suite["params"][0] == "0.655 (6)"  # ties share their mean rank (scipy's Spearman)


def test_absent_files_are_skipped_cleanly(tmp_path):
    out = _run("--cells", "3", "--archs", "0", "--workers", "1", "--cifar", str(tmp_path / "absent.csv"),
               "--suite-zero", str(tmp_path / "absent.json"))
    assert "CIFAR-100 comparison skipped" in out and "NAS-Bench-Suite-Zero part skipped" in out
    assert "### nb201 (embedded MNIST-1D table): 3 architectures" in out
