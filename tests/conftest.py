"""Shared fixtures: the packaged NAS-Bench-201 CIFAR table and an isolated cache dir."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

try:
    from _pytest.nodeid import NodeId  # pytest >= 9.2: structured node ids
except ImportError:
    NodeId = None

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
#: The work units (an xdist group, or one test of a spread module) that take longest, longest first. They
#: start first, and the units not named here follow (those with slow tests first), so the suite ends on short
#: tests that keep both workers busy, not on one long test while the other worker idles: xdist hands out
#: units in collection order (``--no-loadscope-reorder``; its default order, by number of tests, put the docs
#: pages last). Order from ``--durations`` on 2 workers (2026-12-06); re-measure when a unit's cost moves a lot.
LONG_UNITS = (
    "nsga2-fronts",
    "tests/test_benchmark_kill.py",
    "tests/test_docs.py::TestPage_docs_methods_weight_sharing_md::test_blocks_run",
    "tests/test_docs.py::TestPage_docs_search_to_model_md::test_blocks_run",
    "mo-evolution-fronts",
    "ray",
    "tests/test_build_table.py",
    "tests/test_docs.py::TestPage_docs_methods_multi_fidelity_md::test_blocks_run",
    "tests/test_docs.py::TestPage_docs_performance_md::test_blocks_run",
    "tests/test_docs.py::TestPage_docs_reliability_md::test_blocks_run",
    "tests/baselines/test_nsga2.py::test_a_latency_limit_steers_the_search_into_it",
    "tests/test_docs.py::TestPage_docs_methods_evolutionary_md::test_blocks_run",
    "tests/test_docs.py::TestPage_docs_predictors_md::test_blocks_run",
    "tests/test_docs.py::TestPage_docs_benchmarks_md::test_blocks_run",
    "tests/test_bench_zero_cost_script.py",
    "tests/test_docs.py::TestPage_docs_methods_rl_md::test_blocks_run",
    "tests/benchmark/test_benchmark.py",
    "tests/test_docs.py::TestPage_docs_multi_objective_md::test_blocks_run",
    "tests/test_docs.py::TestPage_docs_recurrent_md::test_blocks_run",
    "tests/benchmark/test_suite.py",
    "tests/baselines/test_darts.py",
    "tests/baselines/test_nsga2.py::test_dedup_never_repeats_an_isomorphism_class_and_plain_nsga2_does",
    "tests/test_bench_pareto_script.py",
    "tests/baselines/test_mo_evolution.py::test_a_latency_limit_steers_the_search_into_it",
)


def _group(item: pytest.Item) -> str | None:
    """The item's xdist group, as ``--dist loadgroup`` names it (its marks' names joined, sorted)."""
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")})
    return "_".join(names) or None


def _suffix_group(item: pytest.Item, group: str) -> None:
    """Give the item's node id the ``@group`` suffix that ``--dist loadgroup`` schedules by.

    xdist (3.8) sets it on ``Item._nodeid``, which pytest 9.2 no longer reads (its node ids are structured,
    ``Item._id``), so there every group was silently ignored and each test scheduled alone
    (pytest-dev/pytest-xdist#1386). A suffix xdist did set is kept.
    """
    nodeid = item.nodeid
    if nodeid.rfind("@") > nodeid.rfind("]"):
        return
    if NodeId is not None and isinstance(getattr(item, "_id", None), NodeId):
        item._id = NodeId.parse(f"{nodeid}@{group}")
    else:
        item._nodeid = f"{nodeid}@{group}"


@pytest.hookimpl(trylast=True)  # after xdist's own hook, which may already have suffixed the static groups
def pytest_collection_modifyitems(config, items):
    """Group the tests for ``--dist loadgroup`` (SPREAD_MODULES, RAY_MODULES); LONG_UNITS, then slow units, first."""
    for item in items:
        name = item.path.name
        if name in RAY_MODULES:
            item.add_marker(pytest.mark.xdist_group("ray"))
        elif name not in SPREAD_MODULES:
            item.add_marker(pytest.mark.xdist_group(str(item.path.relative_to(REPO))))
    unit = {id(item): _group(item) or item.nodeid for item in items}
    rank = {name: i for i, name in enumerate(LONG_UNITS)}
    first, slow = {}, set()  # each unit's first position (its tests stay together, in order); units with slow tests
    for i, item in enumerate(items):
        first.setdefault(unit[id(item)], i)
        if item.get_closest_marker("slow"):
            slow.add(unit[id(item)])

    def order(item: pytest.Item) -> tuple[int, int, int]:
        name = unit[id(item)]
        return rank.get(name, len(rank)), name not in slow, first[name]

    items.sort(key=order)
    if getattr(config.option, "loadgroup", False):  # set in xdist's workers under --dist loadgroup
        for item in items:
            if group := _group(item):
                _suffix_group(item, group)
