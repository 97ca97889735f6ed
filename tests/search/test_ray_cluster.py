"""Searches on real Ray clusters on loopback: same history as local, exactly-once under a kill, token auth.

The cluster is a head node and a second node, each with one CPU, started with
``ray start`` as a user would; ``ray stop --force`` tears it down.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason='the Ray tests need the extra: pip install "nas-gym[ray]"')
import psutil  # noqa: E402  (the ray extra installs it)

from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import load_searcher  # noqa: E402

BIN = Path(sys.executable).parent
NAS_CLI, RAY_CLI = BIN / "nas-gym", BIN / "ray"
# Evaluations long enough (~1 s) to be caught mid-way, short enough for CI.
SMALL_NAS = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 3}, "cache": False}
DETERMINISTIC = ("index", "arch", "val_accuracy", "test_accuracy", "cached")
TASK_TITLE = "ray::evaluate_actions"  # Ray's process title while a worker runs an evaluation

pytestmark = pytest.mark.slow
# Loopback test cluster: no usage reports, no token set-up.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_address():
    env = {**os.environ, **RAY_ENV}
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
    # One CPU and a 100 MB object store per node: a small footprint on a 2-core CI machine.
    common = ["--num-cpus=1", "--object-store-memory=100000000", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    try:
        subprocess.run(
            [str(RAY_CLI), "start", "--head", f"--port={port}", "--include-dashboard=false",
             f"--temp-dir={temp_dir}", *common],
            env=env, check=True, capture_output=True, timeout=120,
        )
        address = f"127.0.0.1:{port}"
        subprocess.run([str(RAY_CLI), "start", f"--address={address}", *common], env=env, check=True,
                       capture_output=True, timeout=120)
        yield address
    finally:
        subprocess.run([str(RAY_CLI), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _search(out, env_id, env_kwargs, budget, *extra):
    cmd = [
        str(NAS_CLI), "search", "--agent", "random", "--env", env_id, "--env-kwargs", json.dumps(env_kwargs),
        "--budget", str(budget), "--seed", "0", "--out", str(out), "--no-progress", *extra,
    ]
    env = {**os.environ, **RAY_ENV}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _history(out):
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def _local_history(env_id, env_kwargs, budget):
    with SearchRun(env_id, env_kwargs, agent="random", seed=0, budget=budget) as run:
        load_searcher("random")().search(run)
        return [{k: r[k] for k in DETERMINISTIC} for r in run.history]


def test_table_search_on_the_cluster_matches_a_local_run(ray_address, nb201_kwargs, tmp_path):
    proc = _search(tmp_path / "ray", "NAS-Bench-201-v0", nb201_kwargs, 16,
                   "--backend", "ray", "--ray-address", ray_address, "--workers", "2")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["backend"] == "ray" and summary["workers"] == 2
    history = [{k: r[k] for k in DETERMINISTIC} for r in _history(tmp_path / "ray")]
    assert history == _local_history("NAS-Bench-201-v0", nb201_kwargs, 16)


def test_a_killed_worker_is_retried_and_every_result_recorded_once(ray_address, tmp_path):
    budget = 6
    proc = _search(tmp_path / "ray", "NAS-v0", SMALL_NAS, budget,
                   "--backend", "ray", "--ray-address", ray_address, "--workers", "2")
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        for p in psutil.process_iter(["pid", "cmdline"]):
            if (p.info["cmdline"] or [""])[0].startswith(TASK_TITLE):
                os.kill(p.info["pid"], signal.SIGKILL)
                killed = p.info["pid"]
                break
        time.sleep(0.05)
    _, stderr = proc.communicate(timeout=300)
    assert killed is not None, "no worker was caught mid-evaluation"
    assert proc.returncode == 0, stderr
    history = _history(tmp_path / "ray")
    assert [r["index"] for r in history] == list(range(budget))
    assert [r["best_reward"] for r in history] == [max(r["reward"] for r in history[: k + 1]) for k in range(budget)]
    # The same architectures in the same order as a local run, each recorded exactly once.
    assert [{k: r[k] for k in DETERMINISTIC} for r in history] == _local_history("NAS-v0", SMALL_NAS, budget)


def test_benchmark_runs_on_the_cluster(ray_address, nb201_kwargs, tmp_path):
    """nas-gym benchmark hands --backend/--ray-address/--eval-workers to every run, PPO's vector env included."""
    out = tmp_path / "bench"
    cmd = [
        str(NAS_CLI), "benchmark", "--agents", "random,ppo", "--env", "NAS-Bench-201-v0",
        "--env-kwargs", json.dumps(nb201_kwargs), "--seeds", "1", "--budget", "8", "--out", str(out),
        "--workers", "2", "--eval-workers", "2", "--backend", "ray", "--ray-address", ray_address, "--no-progress",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **RAY_ENV})
    assert done.returncode == 0, done.stderr
    for agent in ("random", "ppo"):
        summary = json.loads((out / agent / "seed0" / "summary.json").read_text())
        assert (summary["backend"], summary["workers"], summary["num_evaluated"]) == ("ray", 2, 8)
        assert [r["index"] for r in _history(out / agent / "seed0")] == list(range(8))
    history = [{k: r[k] for k in DETERMINISTIC} for r in _history(out / "random" / "seed0")]
    assert history == _local_history("NAS-Bench-201-v0", nb201_kwargs, 8)
    assert "--backend ray" in (out / "summary.md").read_text()


# -- a cluster with token authentication (Ray >= 2.52) that refuses this process -----------------------------
# Started on loopback by ``ray.init`` in a child process, with a known token and its own temp dir, shut down
# by that process; ``nas-gym search --ray-address`` runs against it as a user would: without token mode, in
# token mode without a token, with a wrong token, and with the fix the message names (which then runs).
# Here, in the module of the other cluster, because that one's teardown (``ray stop --force``) stops every
# Ray process on the machine: xdist runs one module's tests one after another.
TOKEN = "0123456789abcdef0123456789abcdef"
# Ray retries a refused connection once a second, 20 times by default; 2 keep the refusals quick.
CLIENT_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_gcs_server_port_wait_time_s": "2"}
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")
HEAD = """
import logging, sys, ray
ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.WARNING, object_store_memory=80_000_000,
         _node_ip_address="127.0.0.1", _temp_dir=sys.argv[1])
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes stdin
ray.shutdown()
"""


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This machine's environment without Ray's auth settings, with its own home (no ~/.ray/auth_token)."""
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    return {**env, **CLIENT_ENV, "HOME": str(home), **extra}


@pytest.fixture(scope="module")
def token_cluster(tmp_path_factory):
    """The address of a one-node Ray cluster on loopback that requires the token :data:`TOKEN`."""
    home = tmp_path_factory.mktemp("head_home")
    temp_dir = tempfile.mkdtemp(prefix="rayauth", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = _clean_env(home, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN)
    head = subprocess.Popen([sys.executable, "-c", HEAD, temp_dir], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        address = head.stdout.readline().strip()
        assert address, "the token-auth Ray head did not start"
        yield address
    finally:
        head.stdin.close()
        try:
            head.wait(timeout=120)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _token_search(address: str, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [str(NAS_CLI), "search", "--agent", "random", "--env", "NAS-Bench-201-v0", "--budget", "2", "--seed", "0",
           "--out", str(out), "--no-progress", "--backend", "ray", "--ray-address", address, "--workers", "2"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr[-2000:]
    line = next(x for x in done.stderr.splitlines() if x.startswith("nas-gym: error:"))
    assert "Could not reach a Ray cluster" not in line
    assert "Run with RAY_AUTH_MODE=token and the cluster's token" in line
    assert "RAY_AUTH_TOKEN variable" in line and "~/.ray/auth_token" in line and "RAY_AUTH_TOKEN_PATH" in line
    return line


@pytest.mark.slow
def test_a_token_cluster_refusing_a_process_without_token_mode_says_so(token_cluster, tmp_path):
    done = _token_search(token_cluster, tmp_path / "run", _clean_env(tmp_path))
    line = _error_line(done)
    assert f"The Ray cluster at '{token_cluster}' uses token authentication and refused this process" in line
    assert "RAY_AUTH_MODE is not set here, so it sent no token" in line


@pytest.mark.slow
def test_token_mode_without_a_token_says_so(token_cluster, tmp_path):
    done = _token_search(token_cluster, tmp_path / "run", _clean_env(tmp_path, RAY_AUTH_MODE="token"))
    line = _error_line(done)
    assert "RAY_AUTH_MODE=token here, but this process has no token" in line


@pytest.mark.slow
def test_a_wrong_token_is_named_with_where_it_came_from(token_cluster, tmp_path):
    wrong = tmp_path / "wrong_token"
    wrong.write_text("f" * 32)
    env = _clean_env(tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(wrong))
    line = _error_line(_token_search(token_cluster, tmp_path / "run", env))
    assert f"refused this process's token, from {wrong} (RAY_AUTH_TOKEN_PATH): it is not the cluster's" in line


@pytest.mark.slow
def test_the_named_fix_connects(token_cluster, tmp_path):
    # The fix the message names: token mode and the cluster's token, here in the default token file.
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text(TOKEN)
    env = _clean_env(tmp_path, RAY_AUTH_MODE="token")
    del env["RAY_gcs_server_port_wait_time_s"]  # Ray's own patience: this one must connect, on a loaded machine too
    done = _token_search(token_cluster, tmp_path / "run", env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"backend": "ray"' in (tmp_path / "run" / "summary.json").read_text()
