"""The surrogate: its file format against the predictors it was exported from, the shipped model, NAS-Surrogate-v0."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ConfigError, DataError
from nas_gym.predictors import MLPEnsemble
from nas_gym.predictors.surrogate import Surrogate, export_surrogate, shipped_path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Ensembles fitted on 60 rows of the embedded NB201 table (accuracy as is, latency as log), exported."""
    env = gym.make("NAS-Bench-201-Latency-v0")
    table = env.unwrapped.parts.table
    env.close()
    rows = np.random.default_rng(0).permutation(len(table))[:80]
    archs = [table.arch_at(int(r)) for r in rows]
    val = table.column(table.roles["val"])[rows]
    lat = table.column(table.roles["latency"])[rows]
    kwargs = {"encoding": "onehot", "num_members": 3, "hidden": (16, 16), "epochs": 40, "seed": 1}
    predictors = {"val_accuracy": MLPEnsemble(table.space, **kwargs).fit(archs[:60], val[:60]),
                  "latency_ms": MLPEnsemble(table.space, **kwargs).fit(archs[:60], np.log(lat[:60]))}
    stem = export_surrogate(tmp_path_factory.mktemp("surrogate") / "nb201", predictors,
                            {"val_accuracy": "identity", "latency_ms": "log"}, {"fit": {"digest": "test"}})
    return stem, predictors, archs[60:]


def test_exported_surrogate_predicts_what_the_predictors_predict(exported):
    stem, predictors, held_out = exported
    got = Surrogate(stem).predict(held_out)
    val_mean, val_std = predictors["val_accuracy"].predict(held_out)
    np.testing.assert_allclose(got["val_accuracy"][0], val_mean, atol=1e-5)
    np.testing.assert_allclose(got["val_accuracy"][1], val_std, atol=1e-5)
    log_mean, _ = predictors["latency_ms"].predict(held_out)
    np.testing.assert_allclose(got["latency_ms"][0], np.exp(log_mean), rtol=1e-5)
    assert (got["latency_ms"][1] > 0).all()


def test_a_surrogate_refuses_another_space_and_bad_files(exported, tmp_path):
    stem, _, _ = exported
    with pytest.raises(ConfigError, match="models space 'nb201'"):
        Surrogate(stem).check_space(nas_gym.spaces.LayersSpace())
    with pytest.raises(DataError, match="does not exist"):
        Surrogate(tmp_path / "absent")
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other/9"}))
    (tmp_path / "bad.safetensors").write_bytes(stem.with_suffix(".safetensors").read_bytes())
    with pytest.raises(DataError, match="format 'other/9'"):
        Surrogate(tmp_path / "bad")


def test_nas_surrogate_v0_is_instant_deterministic_and_pays_the_hinge_reward():
    env = gym.make("NAS-Surrogate-v0")
    parts = env.unwrapped.parts
    assert parts.latency == "surrogate" and parts.cache is None
    arch = parts.space.from_string("conv3x3-32-relu|conv3x3-32-relu-skip|max_pool3x3|identity")
    first = env.unwrapped.score(arch)
    again = gym.make("NAS-Surrogate-v0").unwrapped.score(arch)
    assert first == again
    assert 0.9 < first.val_accuracy <= 1 and 0 < first.test_accuracy <= 1 and first.cost_s == 0
    assert first.latency_ms > 0 and first.params > 0 and first.flops > 0
    assert first.reward == pytest.approx(parts.reward(first.val_accuracy, first.latency_ms))
    # A poor network (pooling only: 10 classes from a 1-channel average) scores far lower.
    assert env.unwrapped.score(parts.space.from_string("max_pool3x3|max_pool3x3|identity|identity")).val_accuracy < 0.5


def test_nas_surrogate_v0_refuses_what_its_model_does_not_cover():
    with pytest.raises(ConfigError, match="models space 'layers'"):
        gym.make("NAS-Surrogate-v0", space_kwargs={"num_layers": 2})
    with pytest.raises(ConfigError, match="latency='surrogate' needs evaluator='surrogate'"):
        gym.make("NAS-v0", latency="surrogate", cache=False)


def test_the_shipped_card_meets_its_held_out_goal():
    meta = json.loads(shipped_path().with_suffix(".json").read_text())
    assert meta["data"]["architectures"] >= 2000
    assert meta["heldout"]["val_accuracy"]["kendall_tau"] >= 0.7
    assert shipped_path().with_suffix(".md").is_file()
