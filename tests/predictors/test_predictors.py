"""Performance predictors on a slice of the embedded NAS-Bench-201 table: encodings, ranking, determinism, errors."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ConfigError, MissingDependencyError
from nas_gym.predictors import PREDICTORS, MLPEnsemble, encode, make_predictor, num_features
from nas_gym.spaces import LayersSpace, NB201Space


@pytest.fixture(scope="module")
def split():
    """100 training and 200 held-out rows of the embedded table (validation accuracy), drawn with seed 0."""
    env = gym.make("NAS-Bench-201-v0")
    table = env.unwrapped.parts.table
    env.close()
    val = table.column(table.roles["val"])
    rows = np.random.default_rng(0).permutation(len(table))[:300]
    archs = [table.arch_at(int(r)) for r in rows]
    return table.space, archs[:100], val[rows[:100]], archs[100:], val[rows[100:]]


def test_encodings_have_the_documented_widths_and_ones():
    space = NB201Space()
    archs = [space.sample(np.random.default_rng(s)) for s in range(20)]
    path, onehot = encode(space, archs, "path"), encode(space, archs, "onehot")
    assert path.shape == (20, 155) == (20, num_features(space)) and path.dtype == np.float32
    assert onehot.shape == (20, 30) and (onehot.sum(axis=1) == 6).all()
    assert (path == encode(space, archs, None)).all()  # path is nb201's default
    # Four paths, the two of length 2 share a block: 3 or 4 ones.
    assert set(path.sum(axis=1).tolist()) <= {3.0, 4.0}
    # The all-conv3x3 cell: each path is the sequence of 3x3 convs of its length.
    conv = space.arch([3] * 6)
    ones = np.flatnonzero(encode(space, [conv], "path")[0]).tolist()
    assert ones == [3, 5 + 3 + 3 * 5, 30 + 3 + 3 * 5 + 3 * 25]
    layers = LayersSpace(num_layers=2)
    sample = layers.sample(np.random.default_rng(0))
    enc = encode(layers, [sample])
    assert enc.shape == (1, int(layers.nvec.sum())) and enc.sum() == layers.num_decisions


def test_encoding_errors_name_the_fix():
    with pytest.raises(ConfigError, match=r"path encoding is defined for the nb201 space only.*encoding='onehot'"):
        encode(LayersSpace(num_layers=2), [], "path")
    with pytest.raises(ConfigError, match=r"Unknown encoding 'onehto'. Did you mean 'onehot'\?"):
        encode(NB201Space(), [], "onehto")


@pytest.mark.parametrize(("name", "kwargs"), [("mlp_ensemble", {"num_members": 3}), ("gbdt", {})])
def test_predictor_ranks_held_out_archs(split, name, kwargs):
    if name == "gbdt":
        pytest.importorskip("lightgbm")
    space, train, y_train, test, y_test = split
    predictor = make_predictor(name, space, seed=1, **kwargs)
    assert predictor.fit(train, y_train) is predictor
    mean, std = predictor.predict(test)
    assert mean.shape == std.shape == (200,) and (std >= 0).all() and std.max() > 0
    tau = kendalltau(mean, y_test)[0]
    # This table (MNIST-1D) is noisier than CIFAR: 100 points give τ ≈ 0.3 (see scripts/bench_predictors.py).
    assert tau > 0.2, f"{name}: Kendall τ {tau:.3f} on 200 held-out architectures"


@pytest.mark.parametrize("name", ["mlp_ensemble", "gbdt"])
def test_same_seed_same_predictions_and_seeds_differ(split, name):
    if name == "gbdt":
        pytest.importorskip("lightgbm")
    space, train, y_train, test, _ = split
    small = {"num_members": 2, "epochs": 50} if name == "mlp_ensemble" else {"num_members": 2, "num_boost_round": 50}

    def fit(seed):
        return make_predictor(name, space, seed=seed, **small).fit(train[:40], y_train[:40]).predict(test[:50])

    first, again, other = fit(1), fit(1), fit(2)
    assert (first[0] == again[0]).all() and (first[1] == again[1]).all()
    assert not (first[0] == other[0]).all()


def test_mlp_leaves_torch_state_alone(split):
    space, train, y_train, _, _ = split
    torch.manual_seed(123)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    MLPEnsemble(space, num_members=1, epochs=5).fit(train[:10], y_train[:10])
    assert (torch.rand(3) == expected).all() and torch.get_num_threads() == threads


def test_missing_lightgbm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # makes ``import lightgbm`` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'nas-gym\[gbdt\]'"):
        make_predictor("gbdt", NB201Space())


def test_registry_and_input_errors():
    space = NB201Space()
    assert {"mlp_ensemble", "gbdt"} <= set(PREDICTORS)
    with pytest.raises(ConfigError, match=r"Unknown predictor 'mlp_ensmble'. Did you mean 'mlp_ensemble'\?"):
        make_predictor("mlp_ensmble", space)
    with pytest.raises(ConfigError, match=r"Predictor 'mlp_ensemble' has no argument 'members'"):
        make_predictor("mlp_ensemble", space, members=3)
    predictor = make_predictor("mlp_ensemble", space)
    with pytest.raises(ConfigError, match=r"predict\(\) was called before fit"):
        predictor.predict([space.arch([0] * 6)])
    with pytest.raises(ConfigError, match=r"one score per architecture, got 2 archs and 1"):
        predictor.fit([space.arch([0] * 6), space.arch([1] * 6)], [0.5])
    with pytest.raises(ConfigError, match=r"num_members must be ≥ 1, got 0"):
        make_predictor("mlp_ensemble", space, num_members=0)
