"""The packaged NAS-Bench-201 tables (``dataset=``) and the registered ids (no misleading version warnings)."""

from __future__ import annotations

import gzip
import hashlib
import re
import warnings
from importlib import resources

import gymnasium as gym
import numpy as np
import pytest

import nas_gym
from nas_gym.data import NB201_DATASETS
from nas_gym.error import ConfigError

OPTIMUM_9930 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _play(env, arch: str) -> dict:
    """Build ``arch`` through reset/step and return the final info."""
    space = env.unwrapped.space
    env.reset(seed=0)
    for action in space.from_string(arch).indices:
        *_, info = env.step(action)
    return info


# -- the CIFAR tables in the package ---------------------------------------------------------------------------
def test_cifar100_is_in_the_package_with_its_known_optimum():
    env = gym.make("NAS-Bench-201-v0", dataset="cifar100")
    table = env.unwrapped.parts.table
    assert len(table) == 15625 and table.path.parent == resources.files("nas_gym.data")
    assert (table.roles["val"], table.roles["test"]) == ("c100_valid", "c100_test")
    values = np.asarray(table.column("c100_valid"))
    assert int(values.argmax()) == 9930 and values.max() == pytest.approx(0.734933)
    info = _play(env, OPTIMUM_9930)
    assert (info["val_accuracy"], info["test_accuracy"]) == (pytest.approx(0.734933), pytest.approx(0.735133))
    assert info["reward"] == pytest.approx(0.734933)  # v0: latency only when asked for


def test_cifar10_reads_its_test_column_for_both_roles_and_every_device_latency_is_there():
    env = gym.make("NAS-Bench-201-Latency-v0", dataset="cifar10")
    table = env.unwrapped.parts.table
    assert (table.roles["val"], table.roles["test"], table.roles["latency"]) == ("c10_test", "c10_test", "lat_fpga_ms")
    assert np.asarray(table.column("c10_test")).max() == pytest.approx(0.943733)
    info = _play(env, OPTIMUM_9930)
    assert info["latency_ms"] == pytest.approx(7.42096)
    pixel = gym.make("NAS-Bench-201-v0", dataset="cifar100", latency_column="lat_pixel3_ms", latency_weight=0.1)
    assert _play(pixel, OPTIMUM_9930)["latency_ms"] == pytest.approx(35.0333)


def test_the_default_stays_the_embedded_mnist1d_table():
    default, named = gym.make("NAS-Bench-201-v0"), gym.make("NAS-Bench-201-v0", dataset="mnist1d")
    assert default.unwrapped.parts.table is named.unwrapped.parts.table
    assert default.unwrapped.parts.table.path.name == "nb201_mnist1d.csv.gz"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dataset": "cifar1000"}, r"Unknown dataset 'cifar1000'\. Did you mean 'cifar100'\?"),
    ({"dataset": "cifar10", "table": "mine.csv"}, "either dataset='cifar10' .* or table='mine.csv', not both"),
    ({"dataset": "cifar10", "evaluator": "train"}, "evaluator='train' reads none"),
])
def test_dataset_arguments_that_select_nothing_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        gym.make("NAS-Bench-201-v0", **kwargs)


def test_dataset_on_a_space_without_tables_is_refused():
    with pytest.raises(ConfigError, match="space 'layers' has none"):
        gym.make("NAS-v0", dataset="cifar10")


def test_the_packaged_file_is_the_one_its_card_describes():
    card = (resources.files("nas_gym.data") / "nb201_cifar.md").read_text(encoding="utf-8")
    digest = re.search(r"SHA-256 of the CSV\s+`([0-9a-f]{64})`", card).group(1)
    with gzip.open(NB201_DATASETS["cifar100"].path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest
    for needed in ("MIT", "Dong", "HW-NAS-Bench", "73.49", "9930", "73.51", "c10_test", "lat_raspi4_ms"):
        assert needed in card


# -- ids: no warning on a documented id; the renamed one still works ------------------------------------------
@pytest.mark.parametrize("env_id", list(nas_gym.ENV_IDS))
def test_no_documented_id_warns_when_made(env_id):
    """Gymnasium used to tell every user of NAS-Bench-201-v0 to "upgrade" to v1, an env with another reward."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym.make(env_id).close()
        gym.make(f"nas_gym/{env_id}").close()
    assert [str(w.message) for w in caught if "out of date" in str(w.message) or "upgrad" in str(w.message)] == []


def test_the_old_latency_id_makes_the_same_env_and_names_its_new_id():
    with pytest.warns(DeprecationWarning, match="'NAS-Bench-201-v1' is now 'NAS-Bench-201-Latency-v0'"):
        old = gym.make("NAS-Bench-201-v1")
    new = gym.make("NAS-Bench-201-Latency-v0")
    assert old.spec.kwargs == new.spec.kwargs
    before, after = _play(old, OPTIMUM_9930), _play(new, OPTIMUM_9930)
    assert (before["reward"], before["latency_ms"]) == (after["reward"], after["latency_ms"])
