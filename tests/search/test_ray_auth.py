"""A Ray cluster with token authentication that refuses this process: the error says so and names the fix.

These tests feed the detector the exceptions Ray raises, built as Ray builds them. The same messages
against a real token-auth cluster: tests/search/test_ray_cluster.py (one module, so that its clusters
never run beside one another's ``ray stop``).
"""

from __future__ import annotations

import traceback

import pytest

pytest.importorskip("ray", reason='the Ray tests need the extra: pip install "nas-gym[ray]"')
from ray._private.authentication.authentication_constants import (  # noqa: E402
    TOKEN_AUTH_ENABLED_BUT_NO_TOKEN_FOUND_ERROR_MESSAGE,
)
from ray.exceptions import AuthenticationError  # noqa: E402

from nas_gym.search.pools import is_ray_auth_failure, ray_auth_message  # noqa: E402

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
