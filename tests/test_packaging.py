"""The installed shape: one top-level import name, every package listed, and the old import paths.

The wheel itself is checked by hand before a release (``python -m build``, then ``pip install`` into a
clean venv beside ``openai-agents``); these tests hold what the checkout decides about it.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import tomllib

from nas_gym._deprecated import MOVED

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_wheel_lists_every_package_of_the_tree_under_one_top_level_name():
    setuptools = _pyproject()["tool"]["setuptools"]
    tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "nas_gym").rglob("__init__.py")}
    mapped = setuptools["package-dir"]
    assert mapped == {"nas_gym.agents": "agents", "nas_gym.baselines": "baselines"}
    assert sorted(setuptools["packages"]) == sorted(tree | set(mapped))
    assert {name.split(".")[0] for name in setuptools["packages"]} == {"nas_gym"}


def test_every_method_entry_point_names_an_installed_module_that_loads():
    points = _pyproject()["project"]["entry-points"]["nas_gym.searchers"]
    assert len(points) == 22
    for name, target in points.items():
        module, attr = target.split(":")
        assert module.startswith(("nas_gym.agents.", "nas_gym.baselines.")), name
        assert hasattr(importlib.import_module(module), attr), name


def test_every_old_module_path_still_imports_and_warns_with_its_new_home():
    # In a fresh interpreter, where none of the old names is imported yet.
    code = (
        "import warnings, importlib, json, sys; warnings.simplefilter('error', DeprecationWarning)\n"
        "import nas_gym\n"
        "said = {}\n"
        "for old in json.loads(sys.argv[1]):\n"
        "    try:\n        importlib.import_module(old)\n"
        "    except DeprecationWarning as w:\n        said[old] = str(w)\n"
        "print(json.dumps(said))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(sorted(MOVED))], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert sorted(said) == sorted(MOVED)
    for old, message in said.items():
        assert message.startswith(f"{old} is deprecated") and MOVED[old][0] in message, message


def test_an_old_path_is_the_new_module_so_classes_keep_one_identity():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old_env = importlib.import_module("nas_gym.nas_env")
        old_supernet = importlib.import_module("nas_gym.supernet")
    from nas_gym.env import nas_env
    from nas_gym.supernets import nb201

    assert old_env is nas_env and old_env.__spec__.name == "nas_gym.env.nas_env"
    assert old_supernet.NB201Supernet is nb201.NB201Supernet


def test_the_checkouts_agents_and_baselines_are_the_installed_packages_with_a_warning():
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    import agents.ppo, baselines.evolution\n"
        "import nas_gym.agents.ppo, nas_gym.baselines.evolution\n"
        "assert agents.ppo is nas_gym.agents.ppo and baselines.evolution is nas_gym.baselines.evolution\n"
        "print(sorted({str(w.message).split(' is ')[0] for w in seen if w.category is DeprecationWarning}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['agents', 'agents.ppo', 'baselines', 'baselines.evolution']"
