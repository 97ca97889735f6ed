"""A Ray cluster with token authentication that refuses this process: the error says so and names the fix.

The fast tests feed the detector the exceptions Ray raises, built as Ray builds them; the slow ones run
``nas-gym search --ray-address`` against a real token-auth cluster on loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

pytest.importorskip("ray", reason='the Ray tests need the extra: pip install "nas-gym[ray]"')
from ray._private.authentication.authentication_constants import (  # noqa: E402
    TOKEN_AUTH_ENABLED_BUT_NO_TOKEN_FOUND_ERROR_MESSAGE,
)
from ray.exceptions import AuthenticationError  # noqa: E402

from nas_gym.search.pools import is_ray_auth_failure, ray_auth_message  # noqa: E402

NAS_CLI = Path(sys.executable).with_name("nas-gym")
# The real token-auth cluster: run on demand (NAS_GYM_RAY_TOKEN_TESTS=1). In the full suite its cluster and the
# two-node one of test_ray_cluster.py, one after the other on one worker, made that module's searches fail
# now and then (a raylet died) on the 2-core CI machine; the fast tests below check every message on Ray's own
# exceptions.
TOKEN_CLUSTER = pytest.mark.skipif(os.environ.get("NAS_GYM_RAY_TOKEN_TESTS") != "1",
                                   reason="a real token-auth Ray cluster: set NAS_GYM_RAY_TOKEN_TESTS=1")

TOKEN = "0123456789abcdef0123456789abcdef"
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")


def test_rays_own_authentication_errors_are_recognised():
    # Raised by ray.init itself in token mode without a token (authentication_token_setup.py).
    assert is_ray_auth_failure(AuthenticationError(TOKEN_AUTH_ENABLED_BUT_NO_TOKEN_FOUND_ERROR_MESSAGE))
    # A refused token: node.py quotes the AuthenticationError's traceback in a RuntimeError, and worker.py
    # raises ConnectionError from it.
    try:
        raise AuthenticationError("RPC error: InvalidAuthToken: Authentication token is missing or incorrect")
    except AuthenticationError:
        last_ex = traceback.format_exc()
    try:
        try:
            raise RuntimeError(f"Failed to connect to GCS. Last connection error: {last_ex}")
        except RuntimeError as e:
            raise ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:6379") from e
    except ConnectionError as e:
        assert is_ray_auth_failure(e)
    # A cluster that is not there is not an authentication failure.
    unreachable = ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:1")
    unreachable.__cause__ = RuntimeError("Failed to connect to GCS. Last connection error: timed out")
    assert not is_ray_auth_failure(unreachable)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "RAY_AUTH_MODE is not set here, so it sent no token. Run with"),
        ({"RAY_AUTH_MODE": "disabled"}, "RAY_AUTH_MODE=disabled here, so it sent no token. Run with"),
        ({"RAY_AUTH_TOKEN": TOKEN}, "it has one, in the RAY_AUTH_TOKEN variable: if that is the cluster's, "
                                    "RAY_AUTH_MODE=token is all it needs"),
        ({"RAY_AUTH_MODE": "token"}, "Ray did not connect to the cluster at 'h:6379': RAY_AUTH_MODE=token here, "
                                     "but this process has no token"),
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN},
         "refused this process's token, from the RAY_AUTH_TOKEN variable: it is not the cluster's"),
    ],
)
def test_the_message_says_why_from_this_processs_settings(monkeypatch, tmp_path, env, expected):
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    message = ray_auth_message("h:6379")
    assert expected in message
    assert message.endswith("See https://docs.ray.io/en/latest/ray-security/token-auth.html")


def test_the_default_token_file_is_named_when_it_is_the_source(monkeypatch, tmp_path):
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text(TOKEN)
    assert f"token, from {tmp_path / '.ray' / 'auth_token'}: it is not the cluster's" in ray_auth_message("h:1")


# -- a cluster with token authentication (Ray >= 2.52) that refuses this process -----------------------------
# Started on loopback by ``ray.init`` in a child process, with a known token and its own temp dir, shut down
# by that process; ``nas-gym search --ray-address`` runs against it as a user would: without token mode, in
# token mode without a token, with a wrong token, and with the fix the message names (which then runs).
# Ray's modules share one xdist worker (tests/conftest.py), so this cluster never overlaps the two-node one of
# test_ray_cluster.py, whose teardown (``ray stop --force``) stops every Ray process on the machine.
# Ray retries a refused connection once a second, 20 times by default; 2 keep the refusals quick.
CLIENT_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_gcs_server_port_wait_time_s": "2"}
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
@TOKEN_CLUSTER
def test_a_token_cluster_refusing_a_process_without_token_mode_says_so(token_cluster, tmp_path):
    done = _token_search(token_cluster, tmp_path / "run", _clean_env(tmp_path))
    line = _error_line(done)
    assert f"The Ray cluster at '{token_cluster}' uses token authentication and refused this process" in line
    assert "RAY_AUTH_MODE is not set here, so it sent no token" in line


@pytest.mark.slow
@TOKEN_CLUSTER
def test_token_mode_without_a_token_says_so(token_cluster, tmp_path):
    done = _token_search(token_cluster, tmp_path / "run", _clean_env(tmp_path, RAY_AUTH_MODE="token"))
    line = _error_line(done)
    assert "RAY_AUTH_MODE=token here, but this process has no token" in line


@pytest.mark.slow
@TOKEN_CLUSTER
def test_a_wrong_token_is_named_with_where_it_came_from(token_cluster, tmp_path):
    wrong = tmp_path / "wrong_token"
    wrong.write_text("f" * 32)
    env = _clean_env(tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(wrong))
    line = _error_line(_token_search(token_cluster, tmp_path / "run", env))
    assert f"refused this process's token, from {wrong} (RAY_AUTH_TOKEN_PATH): it is not the cluster's" in line


@pytest.mark.slow
@TOKEN_CLUSTER
def test_the_named_fix_connects(token_cluster, tmp_path):
    # The fix the message names: token mode and the cluster's token, here in the default token file.
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text(TOKEN)
    env = _clean_env(tmp_path, RAY_AUTH_MODE="token")
    del env["RAY_gcs_server_port_wait_time_s"]  # Ray's own patience: this one must connect, on a loaded machine too
    done = _token_search(token_cluster, tmp_path / "run", env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"backend": "ray"' in (tmp_path / "run" / "summary.json").read_text()
