"""Registries: a new part is one class and one registry line (or one entry point), and everything picks it up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ConfigError
from nas_gym.evaluators import EVALUATORS
from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.latency import LATENCY_MODELS, LatencyModel
from nas_gym.registry import Registry
from nas_gym.search.searcher import run_search

NAS_CLI = Path(sys.executable).with_name("nas-gym")


class DepthScore(Evaluator):
    """Scores an architecture by the share of its layer slots that hold a layer (no training)."""

    def evaluate(self, arch):
        ops = [c for d, c in zip(arch.space.decisions, arch.indices, strict=True) if d.name.endswith("/op")]
        filled = sum(arch.space.decisions[0].choices[c] != "identity" for c in ops)
        return Metrics(val_accuracy=filled / len(ops), test_accuracy=filled / len(ops))


class SlotLatency(LatencyModel):
    """One millisecond per decision (a stand-in device model)."""

    def __init__(self, ms_per_decision: float = 1.0):
        self.ms_per_decision = ms_per_decision

    def latency_ms(self, arch):
        return self.ms_per_decision * len(arch.indices)


EVALUATORS.register("depth_score", lambda parts, /: DepthScore())
LATENCY_MODELS.register("per_slot", lambda parts, /, **kwargs: SlotLatency(**kwargs), takes=SlotLatency)


def test_registry_checks_names_and_arguments():
    reg: Registry[str] = Registry("colour")
    reg.register("red", lambda context, /, shade=1: f"{context}-red{shade}")
    assert reg.make("red", {"shade": 2}, "ctx") == "ctx-red2"
    assert list(reg) == ["red"] and "red" in reg and len(reg) == 1
    with pytest.raises(ConfigError, match=r"Unknown colour 'rde'\. Did you mean 'red'\? Known colours: red\."):
        reg.make("rde", {})
    # The context is positional-only: a user's kwarg of that name is refused, not passed twice.
    with pytest.raises(ConfigError, match=r"Colour 'red' has no argument 'context'\. .*Valid arguments: shade\."):
        reg.make("red", {"context": 1}, "ctx")
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("red", str)


def test_a_registered_evaluator_and_latency_model_reach_the_env_and_every_method(tmp_path):
    kwargs = {"evaluator": "depth_score", "latency": "per_slot", "latency_kwargs": {"ms_per_decision": 0.5},
              "latency_weight": 0, "cache": False}
    env = gym.make("NAS-v0", **kwargs)
    assert isinstance(env.unwrapped.evaluator, DepthScore) and isinstance(env.unwrapped.latency_model, SlotLatency)
    with pytest.raises(ConfigError, match=r"latency_kwargs has no argument 'ms'\. Valid arguments: ms_per_decision"):
        gym.make("NAS-v0", **{**kwargs, "latency_kwargs": {"ms": 1}})
    with pytest.raises(ConfigError, match=r"Unknown evaluator 'depth'\. Did you mean 'depth_score'\?"):
        gym.make("NAS-v0", **{**kwargs, "evaluator": "depth"})
    for agent in ("random", "evolution", "reinforce", "tpe"):
        summary = run_search(agent, "NAS-v0", kwargs, budget=12, seed=0, out_dir=tmp_path / agent)
        assert summary["num_evaluated"] == 12
        assert summary["best"]["latency_ms"] == 0.5 * env.unwrapped.space.num_decisions
        assert summary["best"]["val_accuracy"] == summary["best"]["reward"] > 0


@pytest.fixture()
def plugin_path(tmp_path) -> Path:
    """A package installed only by PYTHONPATH, whose entry point registers an evaluator."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "nas_plugin_demo.py").write_text(textwrap.dedent('''
        from nas_gym.evaluators.base import Evaluator
        from nas_gym.evaluators.metrics import Metrics

        class Params(Evaluator):
            """Scores by the share of decisions at their first choice (no training)."""
            def evaluate(self, arch):
                share = sum(i == 0 for i in arch.indices) / len(arch.indices)
                return Metrics(val_accuracy=share, test_accuracy=share)

        def factory(parts, /):
            return Params()
    '''))
    info = root / "nas_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nas-plugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nas_gym.evaluators]\nfirst_choice = nas_plugin_demo:factory\n")
    return root


@pytest.mark.slow
def test_an_entry_point_evaluator_reaches_the_cli_and_the_benchmark(plugin_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}
    env_kwargs = json.dumps({"evaluator": "first_choice", "latency": "none", "cache": False})
    search = subprocess.run(
        [str(NAS_CLI), "search", "--agent", "evolution", "--env", "NAS-v0", "--env-kwargs", env_kwargs,
         "--budget", "5", "--out", str(tmp_path / "run"), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert search.returncode == 0, search.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["num_evaluated"] == 5 and 0 < summary["best"]["val_accuracy"] <= 1
    bench = subprocess.run(
        [str(NAS_CLI), "benchmark", "--agents", "random", "--env", "NAS-v0", "--env-kwargs", env_kwargs,
         "--seeds", "1", "--budget", "4", "--out", str(tmp_path / "bench"), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert bench.returncode == 0, bench.stderr
    assert (tmp_path / "bench" / "summary.md").is_file()
