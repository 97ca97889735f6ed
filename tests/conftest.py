"""Shared fixtures: the real NAS-Bench-201 table from ../shared/data and an isolated cache dir."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_TABLE = REPO.parent / "shared" / "data" / "nb201_cifar.csv"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test's evaluation cache and latency tables out of the user's cache dir."""
    monkeypatch.setenv("NAS_GYM_CACHE_DIR", str(tmp_path_factory.mktemp("nas_gym_cache")))


@pytest.fixture(scope="session")
def nb201_table() -> str:
    """Path of the shared NAS-Bench-201 table; skips the test where it is absent."""
    if not SHARED_TABLE.is_file():
        pytest.skip(f"{SHARED_TABLE} is absent (shared NAS-Bench-201 data)")
    return str(SHARED_TABLE)


@pytest.fixture(scope="session")
def nb201_kwargs(nb201_table) -> dict:
    """Env kwargs of NAS-Bench-201-v0 on CIFAR-100 columns, pure accuracy."""
    return {"table": nb201_table, "val_column": "c100_valid", "test_column": "c100_test", "latency_weight": 0}


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
