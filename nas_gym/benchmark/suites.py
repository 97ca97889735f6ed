"""Suites: named sets of registered envs with fixed settings and a budget, whose scores are normalised and pooled.

A suite is data: a JSON file with a name, a description, the default
budget and its tasks, each a registered env id with its settings and how its
score is normalised (:mod:`nas_gym.benchmark.scores`)::

    {
      "name": "core",
      "description": "...",
      "budget": 100,
      "tasks": [
        {"name": "nb201-cifar100", "env_id": "NAS-Bench-201-v0",
         "env_kwargs": {"dataset": "cifar100", "latency_weight": 0}, "reference": "table"},
        {"name": "surrogate", "env_id": "NAS-Surrogate-v0", "env_kwargs": {},
         "reference": {"file": "core_surrogate.json"}}
      ]
    }

``"reference": "table"`` computes both ends exactly from the env's exhaustive
table (every row's reward under the env's reward function). A reference
``file`` (next to the suite's JSON) stores ``optimum``, ``optimum_source``,
``random_rewards`` (a sample of random search's rewards) and
``random_source``, as ``scripts/suite_references.py`` writes them.

The package's suites are in ``nas_gym/data/suites/`` (:func:`available_suites`);
``nas-gym benchmark --suite NAME`` takes one by name, or a path to a user's file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas_gym.benchmark.scores import Reference
from nas_gym.error import ConfigError, unknown_name

#: Where the package's suites live.
SUITES_DIR = Path(__file__).resolve().parent.parent / "data" / "suites"


@dataclass(frozen=True)
class SuiteTask:
    """One env of a suite.

    Attributes:
        name: Short name, the task's folder in the suite's output.
        env_id: A registered env id.
        env_kwargs: Its settings.
        reference: ``"table"``, or ``{"file": NAME}`` of a stored reference beside the suite file.
    """

    name: str
    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    reference: str | dict[str, Any] = "table"


@dataclass(frozen=True)
class Suite:
    """A named set of tasks and the budget they are run at.

    Attributes:
        name: The suite's name.
        description: What it measures, in a sentence.
        budget: Evaluations per run unless the command gives another.
        tasks: Its envs.
        folder: Where its file lies (stored references are read from there).
    """

    name: str
    description: str
    budget: int
    tasks: tuple[SuiteTask, ...]
    folder: Path = SUITES_DIR

    def task(self, name: str) -> SuiteTask:
        """The task called ``name``."""
        for t in self.tasks:
            if t.name == name:
                return t
        raise unknown_name("suite task", name, [t.name for t in self.tasks])


def available_suites() -> list[str]:
    """Names of the package's suites."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.json") if not p.stem.startswith("ref_"))


def parse_suite(data: dict[str, Any], folder: Path, where: str) -> Suite:
    """A suite from its JSON data; ``folder`` is where its reference files lie, ``where`` names it in errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a suite is a JSON object with name, budget and tasks.")
    missing = [k for k in ("name", "budget", "tasks") if k not in data]
    if missing:
        raise ConfigError(f"{where}: a suite needs {', '.join(missing)}.")
    budget = data["budget"]
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise ConfigError(f"{where}: budget must be an integer ≥ 1, got {budget!r}.")
    tasks = []
    for i, t in enumerate(data["tasks"]):
        if not isinstance(t, dict) or "name" not in t or "env_id" not in t:
            raise ConfigError(f"{where}: task {i} needs a name and an env_id, got {t!r}.")
        reference = t.get("reference", "table")
        if reference != "table" and not (isinstance(reference, dict) and "file" in reference):
            raise ConfigError(f"{where}: task {t['name']!r}: reference must be \"table\" or {{\"file\": NAME}}, "
                              f"got {reference!r}.")
        tasks.append(SuiteTask(str(t["name"]), str(t["env_id"]), dict(t.get("env_kwargs", {})), reference))
    names = [t.name for t in tasks]
    if not tasks or len(set(names)) != len(names):
        raise ConfigError(f"{where}: a suite needs at least one task and distinct task names, got {names}.")
    return Suite(str(data["name"]), str(data.get("description", "")), budget, tuple(tasks), folder)


def load_suite(name_or_path: str | os.PathLike) -> Suite:
    """A suite by name (one of :func:`available_suites`) or from a JSON file.

    Raises:
        ConfigError: Unknown name (with the known ones), unreadable file or malformed suite.
    """
    text = str(name_or_path)
    path = Path(text)
    if not path.suffix == ".json":
        if text not in available_suites():
            raise unknown_name("suite", text, available_suites())
        path = SUITES_DIR / f"{text}.json"
    if not path.is_file():
        raise ConfigError(f"No suite file {path}.")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"Cannot read the suite {path}: {e}") from e
    return parse_suite(data, path.resolve().parent, str(path))


def task_reference(suite: Suite, task: SuiteTask, table_reference: dict[str, Any] | None = None) -> Reference:
    """The two ends of ``task``'s normalised score.

    Args:
        suite: The suite (stored references are read beside its file).
        task: One of its tasks.
        table_reference: What :func:`nas_gym.benchmark.statistics.table_reference` said of
            the env (computed here when not given).

    Raises:
        ConfigError: A ``"table"`` reference on an env whose reward is not a function of an
            exhaustive table, or a missing or malformed reference file.
    """
    if task.reference == "table":
        if table_reference is None:
            from nas_gym.benchmark.statistics import table_reference as compute

            table_reference = compute(task.env_id, task.env_kwargs)
        ref = table_reference
        if not (ref.get("exhaustive") and ref.get("scored_by_table") and "rewards" in ref and ref.get("uniform")):
            raise ConfigError(
                f"Task {task.name!r} ({task.env_id} with {task.env_kwargs}) has no exhaustive table that scores "
                "every architecture random search draws with equal probability; give it a stored reference "
                "(scripts/suite_references.py)."
            )
        return Reference(ref["optimum_reward"], np.asarray(ref["rewards"], dtype=float), exact=True,
                         source="exact: every row of the exhaustive table", optimum_arch=ref["optimum_arch"])
    path = suite.folder / task.reference["file"]
    try:
        data = json.loads(path.read_text())
        rewards = np.asarray(data["random_rewards"], dtype=float)
        optimum = float(data["optimum"])
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"Task {task.name!r}: cannot read its reference {path} ({e}); rebuild it with "
                          "scripts/suite_references.py.") from e
    optimum = max(optimum, float(rewards.max()))
    source = (f"estimated: optimum = {data.get('optimum_source', 'stored')}; "
              f"random = {data.get('random_source', f'{len(rewards)} stored random-search rewards')}")
    return Reference(optimum, rewards, exact=False, source=source, optimum_arch=data.get("optimum_arch"))
