"""The package's import structure: no cycles, the layers of .importlinter, and the methods kept apart.

import-linter reads the checkout, where the methods' folders are the top-level ``agents`` and ``baselines``
while their code imports the installed names ``nas_gym.agents``/``nas_gym.baselines``; grimp cannot place
those, so the methods' own rule is also checked here on the source with ``ast``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    # Tarjan's strongly connected components; a component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_among_the_packages_modules():
    # Imports inside functions count (they run); imports only for type checkers do not.
    graph = grimp.build_graph("nas_gym", "agents", "baselines", exclude_type_checking_imports=True)
    assert len(graph.modules) > 80
    assert _cycles(graph) == []


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("nas_gym", ("agents", "baselines", "nas_gym.agents", "nas_gym.baselines")),
    ("agents", ("baselines", "nas_gym.baselines")),
    ("baselines", ("agents", "nas_gym.agents")),
])
def test_methods_depend_on_the_package_and_never_on_each_other(folder, forbidden):
    offenders = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / folder).rglob("*.py")
        for name in _imported(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )
    assert offenders == []
