"""MLPSpace and the tabular tasks: strings, masks, canonical form, networks, the env on vector inputs."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ArchitectureError, ConfigError
from nas_gym.search.pools import play
from nas_gym.search.searcher import run_search
from nas_gym.spaces import SPACES, LayersSpace, MLPSpace, NB201Space, make_space
from nas_gym.tasks.base import make_task

CONFIGS = {
    "default": {},
    "small": {"num_layers": 2, "widths": (8, 24), "activations": ("swish", "elu"), "norms": ("layer",),
              "dropouts": (0.0, 0.5)},
    "widths_only": {"num_layers": 3, "widths": (4,), "activations": ("relu",), "norms": ("batch",), "dropouts": (0.2,)},
}
SPACE = {name: MLPSpace(**cfg) for name, cfg in CONFIGS.items()}
seeds = st.integers(0, 2**32 - 1)
configs = st.sampled_from(sorted(CONFIGS))
# Small and quick: one thread, a few epochs; wine is easy enough for that.
FAST = {"space": "mlp", "task": "wine", "cache": False, "evaluator_kwargs": {"epochs": 5, "num_threads": 1}}


#: Tiny networks run on one thread: more only add overhead here, and more still on a busy machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tasks():
    return {name: make_task(name) for name in ("wine", "digits", "mnist1d")}


def _empty(space: MLPSpace, arch, slot: int) -> bool:
    return space.slot_values(arch, slot)["width"] is None


# -- the space -------------------------------------------------------------------------------------------


def test_registered_with_its_decisions():
    space = make_space("mlp")
    assert isinstance(space, MLPSpace) and SPACES.entry("mlp").factory is MLPSpace
    assert [d.name for d in space.decisions[:4]] == ["layer0/width", "layer0/act", "layer0/norm", "layer0/dropout"]
    assert space.decisions[0].choices == ("none", "16", "32", "64", "128", "256")
    assert space.decisions[3].choices == ("0", "0.1", "0.3")
    assert space.num_decisions == 16 and space.size() == (1 + 5 * 4 * 3 * 3) ** 4
    assert make_space("mlp", **space.config()).key == space.key
    # A field with one choice is fixed and no decision, as in the layers space.
    assert [d.name for d in SPACE["widths_only"].decisions] == ["layer0/width", "layer1/width", "layer2/width"]


@settings(max_examples=40, deadline=None)
@given(name=configs, seed=seeds)
def test_sampled_archs_validate_round_trip_and_build(name, seed, tasks):
    space = SPACE[name]
    arch = space.sample(np.random.default_rng(seed))
    assert space.validate(arch.indices) == arch.indices
    assert space.from_string(str(arch)) == arch
    for task in tasks.values():
        net = space.build(arch, task)
        net.train()  # batch norm in train mode sees batch statistics, as in training
        logits = net(torch.from_numpy(task.x_train[:4]))
        assert logits.shape == (4, task.num_classes) and torch.isfinite(logits).all()
        logits.sum().backward()


@settings(max_examples=60, deadline=None)
@given(name=configs, seed=seeds)
def test_canonical_is_idempotent_and_puts_empty_slots_last(name, seed):
    space = SPACE[name]
    arch = space.sample(np.random.default_rng(seed))
    canonical = space.canonical(arch)
    assert space.canonical(canonical) == canonical
    assert space.validate(canonical.indices) == canonical.indices
    assert space.from_string(str(canonical)) == canonical
    empty = [_empty(space, canonical, s) for s in range(space.num_layers)]
    assert empty == sorted(empty), "empty slots come last"
    layers = [space.slot_values(arch, s) for s in range(space.num_layers) if not _empty(space, arch, s)]
    assert [space.slot_values(canonical, s) for s in range(len(layers))] == layers


@settings(max_examples=40, deadline=None)
@given(name=configs, seed=seeds)
def test_mutation_and_neighbours_stay_valid(name, seed):
    space = SPACE[name]
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    assert child != arch and space.validate(child.indices) == child.indices
    for n in space.neighbours(arch):
        space.validate(n.indices)


def test_masks_make_an_empty_slots_fields_dont_cares():
    space = SPACE["default"]
    assert space.valid_choices([]).all()
    for width in range(space.decisions[0].n):
        for k in (1, 2, 3):
            prefix = [width] + [0] * (k - 1)
            mask = space.valid_choices(prefix)
            if width == 0:  # none: only the first choice
                assert mask.tolist() == [True] + [False] * (space.decisions[k].n - 1)
            else:
                assert mask.all()
    # The next slot decides again, whatever the slot before it was.
    assert space.valid_choices([0, 0, 0, 0]).all()
    assert space.active_decisions(space.from_string("none|none|none|none")) == [0, 4, 8, 12]
    with pytest.raises(ArchitectureError, match=r"Choice 'tanh' is not allowed for decision 1 \('layer0/act'\)"):
        space.validate([0, 1, 0, 0] + [0] * 12)


def test_size_matches_enumeration():
    space = MLPSpace(num_layers=2, widths=(8,), activations=("relu", "tanh"), norms=("none",), dropouts=(0.0,))
    assert space.size() == sum(1 for _ in space.enumerate()) == 9


def test_string_format_and_network():
    space = SPACE["default"]
    text = "64-relu-batch-0.1|none|32-tanh-none-0|none"
    arch = space.from_string(text)
    assert str(arch) == text
    assert arch.choice_names()["layer0/dropout"] == "0.1" and arch.choice_names()["layer1/act"] == "relu"
    assert str(space.canonical(arch)) == "64-relu-batch-0.1|32-tanh-none-0|none|none"
    # Numbers compare by value, so "0.0" is dropout 0.
    assert space.from_string(" 64-relu-batch-0.10 | none|32-tanh-none-0.0|none") == arch
    wine = make_task("wine")
    net = space.build(arch, wine)
    kinds = [type(m).__name__ for m in net.modules() if not isinstance(m, torch.nn.Sequential)]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear", "Tanh", "Linear"]
    assert net[1][0].in_features == 13 and net[-1].out_features == 3
    # No hidden layer at all: logistic regression.
    logistic = space.build(space.from_string("none|none|none|none"), wine)
    assert [type(m).__name__ for m in logistic] == ["Flatten", "Linear"]
    keys = space.op_keys(arch, wine)
    assert keys == [("mlp/dense", 13, 64, "relu", "batch", 0.1), ("mlp/dense", 64, 32, "tanh", "none", 0.0),
                    ("mlp/head", 32, 3)]
    assert space.build_op(keys[0])[1] == (13,)
    with pytest.raises(ConfigError, match="Not a per-op key of the mlp space"):
        space.build_op(("mlp/dense", 13))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("64-relu-batch-0.1|none|none", r"has 3 slot\(s\) separated by '\|'; this space has 4"),
        ("65-relu-batch-0.1|none|none|none", r"Slot 0 '65-relu-batch-0.1': width '65' is not a choice.*16, 32, 64"),
        ("none|64-rleu-batch-0|none|none", r"Slot 1 .*act 'rleu' is not a choice.* Did you mean 'relu'\?"),
        ("none|none|64-relu-group-0|none", r"norm 'group' is not a choice.*Choices: none, batch, layer"),
        ("none|none|none|64-relu-none-0.2", r"dropout '0.2' is not a choice.*Choices: 0, 0.1, 0.3"),
        ("64-relu-none|none|none|none", r"expected 'none' or 4 tokens width-activation-norm-dropout.*got 3"),
        ("none-relu-none-0|none|none|none", "an empty slot takes no other fields; write just 'none'"),
        ("relu-64-none-0|none|none|none", r"width 'relu' is not a choice"),
    ],
)
def test_from_string_errors(text, match):
    with pytest.raises(ArchitectureError, match=match):
        SPACE["default"].from_string(text)


def test_fixed_fields_are_written_and_checked():
    space = SPACE["widths_only"]
    assert str(space.from_string("4-relu-batch-0.2|none|none")) == "4-relu-batch-0.2|none|none"
    with pytest.raises(ArchitectureError, match="act 'gelu' is not a choice of this space.*Choices: relu"):
        space.from_string("4-gelu-batch-0.2|none|none")
    with pytest.raises(ArchitectureError, match="Expected an architecture string, got int"):
        space.from_string(3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_layers": 0}, "num_layers must be an integer >= 1"),
        ({"widths": ()}, "widths must list at least one choice"),
        ({"widths": (16, -1)}, "Each width must be a positive integer"),
        ({"activations": ("relu", "rleu")}, r"Unknown activation 'rleu'. Did you mean 'relu'\?"),
        ({"norms": ("group",)}, "Unknown norm 'group'"),
        ({"dropouts": (0.0, 1.0)}, r"Each dropout must be a probability in \[0, 1\), got 1.0"),
        ({"dropouts": (0, 0.0)}, "dropouts must not repeat a choice"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MLPSpace(**kwargs)


# -- the tabular tasks --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "features", "classes", "rows"), [("wine", 13, 3, 178), ("breast_cancer", 30, 2, 569)])
def test_tabular_tasks(name, features, classes, rows):
    task = make_task(name)
    assert task.name == name and task.input_shape == (features,) and task.spatial_dims == 0
    assert task.num_classes == classes
    assert len(task.x_train) + len(task.x_val) + len(task.x_test) == rows
    assert len(task.x_val) == len(task.x_test) == round(0.2 * rows)
    assert task.x_train.dtype == np.float32 and task.y_train.dtype == np.int64
    assert set(np.unique(task.y_train)) == set(range(classes))
    # Standardised with the training split's statistics only.
    np.testing.assert_allclose(task.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(task.x_train.std(axis=0), 1, atol=1e-4)
    assert not np.allclose(task.x_val.mean(axis=0), 0, atol=1e-5)
    # The split is a function of the split seed.
    again, other = make_task(name, split_seed=0), make_task(name, split_seed=1)
    assert again.fingerprint == task.fingerprint and np.array_equal(again.x_val, task.x_val)
    assert other.fingerprint != task.fingerprint and not np.array_equal(other.y_val, task.y_val)


# -- the env on vector inputs ----------------------------------------------------------------------------


def test_both_env_checkers_pass():
    env = gym.make("NAS-v0", space="mlp", task="wine", cache=False, latency="none",
                   evaluator_kwargs={"epochs": 1, "num_threads": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)


def test_an_episode_trains_well_above_chance_with_measured_latency():
    env = gym.make("NAS-v0", **FAST)  # latency="measured" by default
    arch = env.unwrapped.space.from_string("64-relu-none-0|none|none|none")
    info = play(env.unwrapped, arch.indices)
    assert info["arch"] == str(arch)
    assert info["val_accuracy"] > 0.8  # chance is 1/3
    assert info["latency_ms"] > 0


def test_op_table_latency_works_for_mlp():
    env = gym.make("NAS-v0", **{**FAST, "latency": "op_table"})
    arch = env.unwrapped.space.from_string("16-tanh-layer-0|none|none|none")
    assert env.unwrapped.latency_model.latency_ms(arch) > 0


def test_random_search_runs(tmp_path):
    summary = run_search("random", "NAS-v0", {**FAST, "latency": "none", "evaluator_kwargs": {"epochs": 1,
                         "num_threads": 1}}, budget=5, seed=0, out_dir=tmp_path)
    assert summary["num_evaluated"] == 5
    assert "|" in summary["best"]["arch"]


@pytest.mark.parametrize("space", ["layers", "nb201"])
def test_conv_spaces_refuse_vector_tasks(space):
    with pytest.raises(ConfigError, match=rf"Space '{space}' builds convolutional.*task 'wine'.*space='mlp'"):
        gym.make("NAS-v0", space=space, task="wine", cache=False)
    conv = LayersSpace() if space == "layers" else NB201Space()
    with pytest.raises(ConfigError, match="Use space='mlp' for vector inputs"):
        conv.build(conv.sample(np.random.default_rng(0)), make_task("breast_cancer"))
