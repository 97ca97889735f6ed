"""Fixtures of the Pareto methods' tests (nsga2, mo_evolution): the FPGA-latency table and the hypervolume measure."""

from __future__ import annotations

import pytest

from nas_gym.pareto import hypervolume
from nas_gym.search import SearchRun


@pytest.fixture(scope="module")
def fpga_kwargs(nb201_table) -> dict:
    """The shared CIFAR-100 table with HW-NAS-Bench's FPGA latency (the setting of scripts/bench_pareto.py)."""
    return {"table": nb201_table, "val_column": "c100_valid", "test_column": "c100_test",
            "latency_column": "lat_fpga_ms"}


def _hv_fraction(run: SearchRun) -> float:
    """Hypervolume of the run's evaluated set as a fraction of the table's true front (bench_pareto's measure)."""
    env = run.env.unwrapped
    ref = env.hypervolume_reference()
    front = env.pareto_front(["val_accuracy", "latency_ms"])
    true = hypervolume(-front[:, 1], front[:, 0], ref["latency_ms"], ref["val_accuracy"])
    lat = [r["latency_ms"] for r in run.history]
    acc = [r["val_accuracy"] for r in run.history]
    return hypervolume(lat, acc, ref["latency_ms"], ref["val_accuracy"]) / true


@pytest.fixture()
def hv_fraction():
    """The function from a finished run to its hypervolume fraction of the true front."""
    return _hv_fraction
