"""Shared fixtures: the packaged NAS-Bench-201 CIFAR table and an isolated cache dir."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test's evaluation cache and latency tables out of the user's cache dir."""
    monkeypatch.setenv("NAS_GYM_CACHE_DIR", str(tmp_path_factory.mktemp("nas_gym_cache")))


@pytest.fixture(scope="session")
def nb201_table(tmp_path_factory) -> str:
    """Path of the packaged NAS-Bench-201 CIFAR table as a plain CSV, for tests that read, slice or pass a file.

    The same rows and columns as ``nas_gym/data/nb201_cifar.csv.gz`` (its card: ``nb201_cifar.md``).
    """
    from nas_gym.data import NB201_DATASETS

    path = tmp_path_factory.mktemp("nb201") / "nb201_cifar.csv"
    with gzip.open(NB201_DATASETS["cifar100"].path, "rb") as packed:
        path.write_bytes(packed.read())
    return str(path)


@pytest.fixture(scope="session")
def nb201_kwargs() -> dict:
    """Env kwargs of NAS-Bench-201-v0 on the packaged CIFAR-100 table, pure accuracy."""
    return {"dataset": "cifar100", "latency_weight": 0}


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: Modules whose tests xdist hands out one by one: long, independent tests with no costly module fixture.
#: Every other module stays on one worker (``--dist loadgroup``, a group per module, as ``loadscope`` would),
#: so its module-scoped fixtures (a benchmark run, a Ray cluster) are built once.
SPREAD_MODULES = {"test_docs.py", "test_nsga2.py", "test_mo_evolution.py", "test_resume_kill.py"}
#: Modules that start Ray share one worker: a cluster's teardown (``ray stop --force``) stops every Ray process.
RAY_MODULES = {"test_ray_cluster.py", "test_parallel.py", "test_ray_auth.py"}


def pytest_collection_modifyitems(config, items):
    """Group the tests for ``--dist loadgroup`` (see SPREAD_MODULES and RAY_MODULES)."""
    for item in items:
        name = item.path.name
        if name in RAY_MODULES:
            item.add_marker(pytest.mark.xdist_group("ray"))
        elif name not in SPREAD_MODULES:
            item.add_marker(pytest.mark.xdist_group(str(item.path.relative_to(REPO))))
