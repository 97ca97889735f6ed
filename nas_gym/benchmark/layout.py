"""The benchmark folder's layout: its file names, where each run's folder lies, and the env settings' subfolders.

A benchmark folder ``OUT`` holds ``benchmark.json`` (what was asked for), the
report (``summary.md``, ``summary.json``, ``curves.png``, ``pareto.png``) and
one run folder per method and seed, ``OUT/{agent}/seed{S}/``, as written by
``nas-gym search`` (see :mod:`nas_gym.search.folder`); a run that raised leaves
its traceback there in ``error.txt``. With several env settings each gets a
subfolder ``OUT/{setting}/`` laid out the same way, and ``OUT/benchmark.json``
names them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The benchmark's config, in the benchmark folder (and in each env setting's).
CONFIG_FILE = "benchmark.json"
#: The traceback of a run that raised, in its run folder.
RUN_ERROR_FILE = "error.txt"
#: A suite's report, beside its envs' folders (``OUT/{env}/``): every run's normalised scores and the leaderboard.
SUITE_JSON = "suite.json"
LEADERBOARD_MD = "leaderboard.md"
#: A suite's figures, by what they show.
SUITE_FIGURES = {
    "aggregates": "aggregates.png",
    "profiles": "profiles.png",
    "sample_efficiency": "sample_efficiency.png",
    "improvement": "improvement.png",
}


def agent_folder_name(agent: str) -> str:
    """A method's folder name: its name, a family's ``:`` written ``-`` (``sb3:A2C``: ``sb3-A2C``) for any file system.

    >>> agent_folder_name("sb3-contrib:QRDQN")
    'sb3-contrib-QRDQN'
    """
    return agent.replace(":", "-")


def run_folder(out_dir: str | os.PathLike, agent: str, seed: int) -> Path:
    """The folder of one run: ``out_dir/{agent}/seed{seed}`` (see :func:`agent_folder_name`).

    >>> run_folder("bench", "random", 3).as_posix()
    'bench/random/seed3'
    """
    return Path(out_dir) / agent_folder_name(agent) / f"seed{seed}"


def setting_names(settings: Sequence[dict[str, Any]]) -> list[str]:
    """Folder names for env settings: the keys that differ (where given), as ``key=value`` joined by commas.

    >>> setting_names([{"latency_weight": 0}])
    ['']
    >>> setting_names([{"latency_weight": 0, "seed": 1}, {"latency_weight": 0.5, "seed": 1}])
    ['latency_weight=0', 'latency_weight=0.5']
    """
    if len(settings) == 1:
        return [""]
    keys = sorted({k for s in settings for k in s})
    differing = [k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s in settings}) > 1]
    names = []
    for s in settings:
        text = ",".join(f"{k}={json.dumps(s[k], sort_keys=True)}" for k in differing if s.get(k) is not None)
        names.append(re.sub(r"[^A-Za-z0-9._=,+-]", "", text)[:100] or "base")
    if len(set(names)) < len(names):
        names = [f"setting{i}" for i in range(len(settings))]
    return names
