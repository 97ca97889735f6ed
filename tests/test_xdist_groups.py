"""The suite's xdist scheduling (tests/conftest.py): groups hold under --dist loadgroup; LONG_UNITS name real units."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LONG_UNITS, RAY_MODULES, REPO

pytest.importorskip("xdist")


def test_long_units_name_units_that_exist():
    """A renamed test, page or group would silently drop out of the long-first order."""
    groups = {"ray"} | set(re.findall(r'xdist_group\("([^"]+)"\)', "".join(
        path.read_text(encoding="utf-8") for path in (REPO / "tests").rglob("test_*.py"))))
    missing = []
    for unit in LONG_UNITS:
        path, _, name = unit.partition("::")
        if not name:
            exists = unit in groups or (REPO / unit).is_file()
        elif path == "tests/test_docs.py":
            page = name.split("::")[0].removeprefix("TestPage_")
            exists = any(re.sub(r"[^0-9a-zA-Z]+", "_", str(p.relative_to(REPO))) == page
                         for p in [REPO / "README.md", *(REPO / "docs").rglob("*.md")])
        else:
            exists = (REPO / path).is_file() and f"def {name.split('[')[0]}(" in (REPO / path).read_text("utf-8")
        if not exists:
            missing.append(unit)
    assert missing == []
    assert len(set(LONG_UNITS)) == len(LONG_UNITS)
    assert not RAY_MODULES & {Path(u.partition("::")[0]).name for u in LONG_UNITS}, "Ray modules run as 'ray'"


def test_a_module_and_a_static_group_each_stay_on_one_worker(tmp_path):
    """Two workers, two modules (one test module grouped by the conftest, one by a static xdist_group mark): each
    module's tests run in one process, as the module fixtures and the shared front runs need.

    pytest 9.2 ignored the node id suffix xdist 3.8 schedules groups by (pytest-dev/pytest-xdist#1386): every
    test went out alone, and this failed.
    """
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", tests / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    body = ("import os, time\nimport pytest\n\n{mark}@pytest.mark.parametrize('i', range(4))\n"
            "def test_where(i):\n    time.sleep(0.2)\n"
            "    print('RAN', os.environ['PYTEST_XDIST_WORKER'], flush=True)\n")
    (tests / "test_by_module.py").write_text(body.format(mark=""))
    (tests / "test_docs.py").write_text(body.format(mark="@pytest.mark.xdist_group('shared')\n"))  # a spread module
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder",
                           "-p", "no:cacheprovider", "-v", "tests"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workers: dict[str, set[str]] = {}
    for worker, nodeid in re.findall(r"^\[(gw\d)\] .*?PASSED (\S+)", done.stdout, re.MULTILINE):
        workers.setdefault(nodeid.split("::")[0], set()).add(worker)
    assert {module: len(ran_on) for module, ran_on in workers.items()} == {
        "tests/test_by_module.py": 1, "tests/test_docs.py": 1}, done.stdout[-3000:]
