"""DARTS on the real envs: CLI run, table env with a proxy task, second order, latency term, collapse remedy."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.darts import DARTS, ranked_architectures
from nas_gym.error import ConfigError
from nas_gym.latency import OpTableLatency
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import run_search
from nas_gym.spaces import LayersSpace, NB201Space
from nas_gym.supernets import LayersSupernet, NB201Supernet, make_supernet
from nas_gym.tasks.base import make_task

NAS_V0_SMALL = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1}, "cache": False}
# One short epoch of a narrow supernet keeps each search to seconds.
FAST = {"epochs": 1, "batch_size": 128}


def _search(env_id: str, env_kwargs: dict, budget: int, seed: int = 0, **agent_kwargs) -> tuple[DARTS, SearchRun]:
    searcher = DARTS(**agent_kwargs)
    with SearchRun(env_id, env_kwargs, agent="darts", seed=seed, budget=budget) as run:
        searcher.search(run)
    return searcher, run


def _one_hot_alphas(net, arch) -> None:
    with torch.no_grad():
        for k, a in zip(net.searched, net.alphas, strict=True):
            a.fill_(-50.0)
            a[arch.indices[k]] = 50.0


def test_cli_nas_v0_writes_history_and_darts_json(tmp_path):
    out = tmp_path / "run"
    cli = Path(sys.executable).with_name("nas-gym")
    cmd = [
        str(cli), "search", "--agent", "darts", "--env", "NAS-v0", "--env-kwargs", json.dumps(NAS_V0_SMALL),
        "--agent-kwargs", json.dumps({**FAST, "filters": 16}), "--budget", "2", "--seed", "0",
        "--out", str(out), "--no-progress",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == 2
    record = json.loads((out / "darts.json").read_text())
    assert history[0]["arch"] == record["derived"]
    assert [e["arch"] for e in record["evaluated"]] == [h["arch"] for h in history]
    assert record["search_cost_s"] > 0 and len(record["epochs"]) == 1
    assert record["fixed"]["layer0/filters"] == "16"
    space = LayersSpace(num_layers=2)
    for h in history:
        space.from_string(h["arch"])  # a valid arch of the env's space


def test_table_env_without_proxy_task_is_a_config_error(nb201_kwargs):
    with pytest.raises(ConfigError, match=r"pass agent kwargs \{\"proxy_task\": \"digits\"\}"):
        run_search("darts", "NAS-Bench-201-v0", nb201_kwargs, budget=1, agent_kwargs=FAST)


def test_table_env_with_proxy_evaluates_derived_cell_then_next_best(nb201_kwargs):
    searcher, run = _search("NAS-Bench-201-v0", nb201_kwargs, budget=3, proxy_task="digits", **FAST)
    derived = searcher.result["derived"]
    assert NB201Space().from_string(derived)  # a valid NB201 string
    assert [h["arch"] for h in run.history][0] == derived
    assert len(run.history) == 3
    # Next best by probability: log-probabilities never increase along the evaluation order.
    log_probs = [e["log_prob"] for e in searcher.result["evaluated"]]
    assert log_probs == sorted(log_probs, reverse=True)
    # The DARTS rule excludes "none" from every derived edge.
    assert "none" not in derived


def test_determinism_on_table_env_with_proxy(nb201_kwargs):
    a, run_a = _search("NAS-Bench-201-v0", nb201_kwargs, budget=2, seed=3, proxy_task="digits", **FAST)
    b, run_b = _search("NAS-Bench-201-v0", nb201_kwargs, budget=2, seed=3, proxy_task="digits", **FAST)
    assert [h["arch"] for h in run_a.history] == [h["arch"] for h in run_b.history]
    assert a.result["epochs"][-1]["probs"] == b.result["epochs"][-1]["probs"]


def test_second_order_step_runs_and_differs_from_first_order(nb201_kwargs):
    first, _ = _search("NAS-Bench-201-v0", nb201_kwargs, budget=1, proxy_task="digits", **FAST)
    second, run = _search("NAS-Bench-201-v0", nb201_kwargs, budget=1, proxy_task="digits", order=2, **FAST)
    assert len(run.history) == 1
    probs_1 = np.array(list(first.result["epochs"][-1]["probs"].values()))
    probs_2 = np.array(list(second.result["epochs"][-1]["probs"].values()))
    assert np.isfinite(probs_2).all()
    assert not np.array_equal(probs_1, probs_2)  # the unrolled gradient is a different gradient


@pytest.mark.parametrize("space", [NB201Space(), LayersSpace(num_layers=3, filters=(8, 16))])
def test_expected_latency_of_one_hot_alphas_is_the_op_table_latency(space, tmp_path):
    """E[latency] is the per-op table's latency_ms of the derived arch when alpha is one-hot."""
    task = make_task("digits")
    net = make_supernet(space, task, torch.Generator().manual_seed(0))
    latency = OpTableLatency(space, task, cache_dir=tmp_path, repeats=3, warmup=1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        idx = list(space.sample(rng).indices)
        for k, c in net.fixed.items():
            idx[k] = c
        arch = space.arch(space.repair(idx))
        _one_hot_alphas(net, arch)
        expected = float(net.expected_latency_ms(latency).detach())
        assert expected == pytest.approx(latency.latency_ms(arch), rel=1e-6)


def test_latency_term_lowers_expected_latency():
    kwargs = {**FAST, "epochs": 2, "filters": 16, "latency_loss": "linear", "arch_lr": 0.05}
    env_kwargs = {**NAS_V0_SMALL, "latency_target_ms": 0.05}
    plain, run = _search("NAS-v0", env_kwargs, budget=1, latency_weight=0.0, **kwargs)
    fast, _ = _search("NAS-v0", env_kwargs, budget=1, latency_weight=5.0, **kwargs)
    latency = OpTableLatency(run.space, make_task("digits"))
    e_plain = float(plain.supernet.expected_latency_ms(latency).detach())
    e_fast = float(fast.supernet.expected_latency_ms(latency).detach())
    assert e_fast < e_plain
    assert fast.result["latency"] == {"weight": 5.0, "target_ms": 0.05, "loss": "linear"}
    # Default: the env's reward weight and target, and the hinge shape of its reward.
    env = gym.make("NAS-v0", **env_kwargs).unwrapped
    reward = env.reward_fn
    assert DARTS()._latency_settings(env.parts, False, env.parts.space, env.parts.task) == (
        reward.latency_weight, 0.05, "hinge")


def _collapsed_nb201() -> NB201Supernet:
    space = NB201Space()
    net = make_supernet(space, make_task("digits"), torch.Generator().manual_seed(0))
    skip = space.decisions[0].choices.index("skip_connect")
    with torch.no_grad():
        for e, a in enumerate(net.alphas):
            a.zero_()
            a[skip] = 2.0 + 0.1 * e  # skip is every edge's argmax; later edges more so
    return net


def test_collapse_is_detected_and_max_skip_respected(caplog):
    net = _collapsed_nb201()
    argmax = next(ranked_architectures(net, max_skip=None))
    assert str(argmax).count("skip_connect") == 6
    with caplog.at_level(logging.WARNING, logger="nas_gym.baselines.darts"):
        report = DARTS()._collapse_report(net, argmax)
    assert report["detected"] and report["skip_picks"] == 6
    assert "collapse" in caplog.text
    ranked = ranked_architectures(net, max_skip=2)
    top = [next(ranked) for _ in range(10)]
    assert all(str(a).count("skip_connect") <= 2 for a in top)
    # The kept skips are the two edges where skip is most probable (the last two).
    assert [net.space.decisions[0].choices[i] for i in top[0].indices[4:]] == ["skip_connect"] * 2


def test_max_skip_and_skip_dropout_in_a_search(nb201_kwargs):
    searcher, run = _search("NAS-Bench-201-v0", nb201_kwargs, budget=3, proxy_task="digits", max_skip=0,
                            skip_dropout=0.5, **FAST)
    assert all("skip_connect" not in h["arch"] for h in run.history)
    assert searcher.result["epochs"][0]["skip_dropout"] == 0.5


def test_layers_supernet_fixes_filters_and_needs_stride_one():
    task = make_task("digits")
    net = LayersSupernet(LayersSpace(num_layers=2), task, torch.Generator().manual_seed(0))
    fixed = {net.space.decisions[k].name: net.space.decisions[k].choices[c] for k, c in net.fixed.items()}
    assert fixed["layer0/filters"] == "64" and fixed["layer1/activation"] == "relu"
    assert net(torch.from_numpy(task.x_train[:4])).shape == (4, 10)
    with pytest.raises(ConfigError, match="stride 1"):
        LayersSupernet(LayersSpace(num_layers=2, strides=(2,)), task, torch.Generator())
    with pytest.raises(ConfigError, match="filters=7"):
        LayersSupernet(LayersSpace(num_layers=2), task, torch.Generator(), filters=7)


def test_bad_hyperparameters_are_config_errors():
    with pytest.raises(ConfigError, match="order must be 1"):
        DARTS(order=3)
    with pytest.raises(ConfigError, match="max_skip"):
        DARTS(max_skip=-1)


def test_path_accuracy_selection_evaluates_the_best_path_of_the_most_probable_first(tmp_path):
    from nas_gym.search.run import SearchRun

    kwargs = {"evaluator": "table", "latency_weight": 0}
    darts = DARTS(epochs=1, proxy_task="digits", select="path_accuracy", select_candidates=6)
    with SearchRun("NAS-Bench-201-v0", kwargs, budget=3, seed=0, out_dir=tmp_path) as run:
        darts.search(run)
    record = json.loads((tmp_path / "darts.json").read_text())
    scores = record["path_accuracy"]
    assert len(scores) == 6 and all(0 <= v <= 1 for v in scores.values())
    assert record["derived"] == max(scores, key=scores.get)
    assert [e["arch"] for e in record["evaluated"]][0] == record["derived"]


def _darts_record(folder: Path) -> tuple[list[dict], list[dict]]:
    """A run folder's history without its timing field, and the per-epoch training record of ``darts.json``."""
    history = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    for h in history:
        h.pop("cost_s")
    return history, json.loads((folder / "darts.json").read_text())["epochs"]


def test_a_seed_gives_one_history_in_any_process(tmp_path):
    """``nas-gym search`` in a 2-thread process and a spawned benchmark worker on 1 thread train the same supernet.

    The conditions that differ between a single run and the benchmark that made the docs' DARTS rows: the
    caller's torch thread count (the CLI's default is all cores, the benchmark's workers set 1), the process
    (the CLI's own or a spawned worker) and the string hash seed. The training record holds the losses as
    full floats, so any arithmetic difference on the way shows, not only a different cell.
    """
    cli = str(Path(sys.executable).with_name("nas-gym"))
    common = ["--env", "NAS-Bench-201-v0", "--env-kwargs", json.dumps({"latency_weight": 0}), "--budget", "3",
              "--no-progress"]
    agent = {**FAST, "proxy_task": "digits"}
    search = [cli, "search", "--agent", "darts", "--agent-kwargs", json.dumps(agent), "--seed", "1",
              "--out", str(tmp_path / "search"), *common]
    bench = [cli, "benchmark", "--agents", "darts", "--agent-kwargs", json.dumps({"darts": agent}), "--seeds", "2",
             "--workers", "2", "--out", str(tmp_path / "bench"), *common]
    runs = [(search, {"OMP_NUM_THREADS": "2", "PYTHONHASHSEED": "1"}),
            (bench, {"OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "2"})]
    for cmd, env in runs:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **env})
        assert done.returncode == 0, done.stderr[-3000:]
    single, worker = _darts_record(tmp_path / "search"), _darts_record(tmp_path / "bench" / "darts" / "seed1")
    assert len(single[0]) == 3
    assert single == worker
    # The numeric setting is recorded, and the supernet trained on its own thread count, not the caller's.
    for folder in (tmp_path / "search", tmp_path / "bench" / "darts" / "seed1"):
        numerics = json.loads((folder / "darts.json").read_text())["numerics"]
        assert numerics["threads"] == 1 and numerics["torch"] == torch.__version__
