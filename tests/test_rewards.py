import math

import pytest

from nas_gym.error import ConfigError
from nas_gym.rewards import Reward


@pytest.mark.parametrize(
    ("acc", "lat", "expected"),
    [(0.9, 0.5, 0.9), (0.9, 1.0, 0.9), (0.9, 1.5, 0.9 - 0.5 * 2.0), (0.8, 3.0, 0.8 - 2.0 * 2.0)],
)
def test_hinge_formula(acc, lat, expected):
    r = Reward("hinge", latency_weight=2.0, latency_target_ms=1.0)
    assert r(acc, lat) == pytest.approx(expected)


def test_linear_formula():
    r = Reward("linear", latency_weight=0.5, latency_target_ms=2.0)
    assert r(0.9, 1.0) == pytest.approx(0.9 - 0.5 * 0.5)
    assert r(0.9, 4.0) == pytest.approx(0.9 - 0.5 * 2.0)


def test_mnasnet_soft_formula():
    r = Reward("mnasnet", latency_weight=1.0, latency_target_ms=10.0)
    assert r(0.8, 20.0) == pytest.approx(0.8 * 2.0**-0.07)
    assert r(0.8, 5.0) == pytest.approx(0.8 * 0.5**-0.07)  # faster than target earns a bonus
    assert r(0.8, 10.0) == pytest.approx(0.8)


def test_mnasnet_hard_formula():
    r = Reward("mnasnet_hard", latency_weight=1.0, latency_target_ms=10.0)
    assert r(0.8, 5.0) == pytest.approx(0.8)  # w = 0 under target
    assert r(0.8, 20.0) == pytest.approx(0.8 * 2.0**-1)  # w = -1 over target


@pytest.mark.parametrize("name", ["hinge", "linear", "mnasnet", "mnasnet_hard"])
def test_zero_weight_is_pure_accuracy(name):
    r = Reward(name, latency_weight=0.0, latency_target_ms=1.0)
    assert r(0.73, 100.0) == 0.73
    assert Reward(name)(0.73, None) == 0.73  # no latency model: no penalty


def test_zero_latency_mnasnet_is_finite():
    assert math.isfinite(Reward("mnasnet", 1.0, 5.0)(0.1, 0.0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "hinj"}, "Unknown reward 'hinj'. Did you mean 'hinge'"),
        ({"latency_weight": -1}, "latency_weight must be"),
        ({"latency_target_ms": 0}, "latency_target_ms must be a number > 0"),
        ({"latency_target_ms": -3.0}, "latency_target_ms must be a number > 0"),
        ({"latency_weight": float("nan")}, "latency_weight must be"),
    ],
)
def test_bad_reward_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Reward(**kwargs)
