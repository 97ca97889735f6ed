"""LayersSpace: strings, masks, canonical form, size, networks and per-op keys."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nas_gym.error import ArchitectureError, ConfigError
from nas_gym.spaces import (
    SPACES,
    LayersSpace,
    MLPSpace,
    NB201Space,
    RNNCellSpace,
    RNNLayersSpace,
    TransformerSpace,
    make_space,
)
from nas_gym.tasks.base import make_task

CONFIGS = {
    "default": {},
    "everything": {
        "num_layers": 5,
        "strides": (1, 2),
        "norms": ("none", "batch", "layer", "group"),
        "attentions": ("none", "se"),
        "filters": (6, 12),
    },
    "fixed": {"num_layers": 3, "ops": ("conv", "identity"), "filters": (8,), "kernels": (3,), "activations": ("gelu",)},
    "pools": {"num_layers": 3, "ops": ("max_pool", "avg_pool", "identity"), "strides": (1, 2)},
    "no_skip": {"num_layers": 2, "skip": False, "norms": ("layer", "group")},
}
SPACE = {name: LayersSpace(**cfg) for name, cfg in CONFIGS.items()}
seeds = st.integers(0, 2**32 - 1)
configs = st.sampled_from(sorted(CONFIGS))


#: Tiny networks run on one thread: more only add overhead here, and more still on a busy machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return make_task("digits")


@pytest.fixture(scope="module")
def mnist1d():
    return make_task("mnist1d")


def _forward(net: torch.nn.Module, x: np.ndarray) -> torch.Tensor:
    net.train()  # batch norm in train mode sees batch statistics, as in training
    return net(torch.from_numpy(x))


@settings(max_examples=60, deadline=None)
@given(name=configs, seed=seeds)
def test_string_round_trip(name, seed):
    space = SPACE[name]
    arch = space.sample(np.random.default_rng(seed))
    assert space.from_string(str(arch)) == arch
    canonical = space.canonical(arch)
    assert space.from_string(str(canonical)) == canonical


@settings(max_examples=60, deadline=None)
@given(name=configs, seed=seeds)
def test_sample_respects_masks(name, seed):
    space = SPACE[name]
    arch = space.sample(np.random.default_rng(seed))
    assert space.validate(arch.indices) == arch.indices
    channels = None
    for s in range(space.num_layers):
        v = space.slot_values(arch, s)
        first = {f: space._values[f][0] for f in space._values}
        if v["op"] == "identity":
            assert all(v[f] == first[f] for f in first if f != "op")
        elif v["op"] in ("max_pool", "avg_pool"):
            assert all(v[f] == first[f] for f in ("filters", "activation", "norm", "attention"))
        if v["skip"]:
            assert v["stride"] == 1
            assert v["op"] in ("max_pool", "avg_pool") or channels == v["filters"]
        if v["op"] in ("conv", "sep_conv", "dil_conv"):
            channels = v["filters"]


@settings(max_examples=20, deadline=None)
@given(name=configs, seed=seeds)
def test_sampled_archs_build_and_run(name, seed, digits, mnist1d):
    space = SPACE[name]
    arch = space.sample(np.random.default_rng(seed))
    for task in (digits, mnist1d):
        logits = _forward(space.build(arch, task), task.x_train[:4])
        assert logits.shape == (4, 10)
        assert torch.isfinite(logits).all()
        logits.sum().backward()


@settings(max_examples=60, deadline=None)
@given(name=configs, seed=seeds)
def test_mutation_changes_one_active_decision_and_repairs_the_rest(name, seed):
    space = SPACE[name]
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    changed = [k for k, (a, b) in enumerate(zip(arch.indices, child.indices, strict=True)) if a != b]
    assert changed, "mutation must change something"
    k = changed[0]
    assert k in space.active_decisions(arch)
    # Every later change only resets a choice the mutation made invalid, to the first valid one.
    for j in changed[1:]:
        valid = space.valid_choices(child.indices[:j])
        assert not valid[arch.indices[j]]
        assert child.indices[j] == int(np.flatnonzero(valid)[0])
    assert space.validate(child.indices) == child.indices


def test_neighbours_are_valid_and_distinct():
    space = SPACE["everything"]
    arch = space.sample(np.random.default_rng(3))
    neighbours = space.neighbours(arch)
    assert neighbours and arch not in neighbours
    for n in neighbours:
        space.validate(n.indices)


def test_string_format():
    space = LayersSpace()
    text = "conv3x3-32-relu|identity|sep_conv5x5-32-gelu-skip|max_pool3x3"
    arch = space.from_string(text)
    assert str(arch) == text
    assert arch.choice_names()["layer2/skip"] == "yes"
    rich = SPACE["everything"]
    text = (
        "conv3x3-6-relu-s2-norm=group-att=se|max_pool5x5-s1-skip|dil_conv3x3-6-swish-s1-norm=none-att=none-skip"
        "|identity|avg_pool3x3-s2"
    )
    assert str(rich.from_string(text)) == text
    # Tokens may come in any order; fixed fields may be spelled out when they match.
    assert str(space.from_string("conv3x3-relu-32-s1-norm=batch|identity|identity|identity")) == (
        "conv3x3-32-relu|identity|identity|identity"
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("conv3x3-32-relu", r"has 1 slot\(s\).*this space has 4"),
        ("conv3x3-32-relu|identity|identity|conv3x3-32-rleu", r"unknown token 'rleu'.*Did you mean 'relu'"),
        ("conv3x3-32-relu|identity|identity|convv3x3-32-relu", r"unknown op 'convv'.*Did you mean 'conv'"),
        ("conv3x3-32-relu|identity|identity|3x3conv", r"expected 'identity' or '<op><k>x<k>'"),
        ("conv3x5-32-relu|identity|identity|identity", r"kernels are square, got 3x5"),
        ("conv3x3-relu|identity|identity|identity", r"missing filters; add one of 16, 32, 64"),
        ("conv7x7-32-relu|identity|identity|identity", r"kernel '7' is not a choice.*3, 5"),
        ("conv3x3-48-relu|identity|identity|identity", r"filters '48' is not a choice"),
        ("conv3x3-32-relu-s2|identity|identity|identity", r"stride 's2' is not a choice.*s1"),
        ("max_pool3x3-32|identity|identity|identity", r"max_pool takes no filters.*remove '32'"),
        ("conv3x3-32-32-relu|identity|identity|identity", r"filters is given twice"),
        ("identity-skip|identity|identity|identity", r"identity is no layer and takes no other fields"),
        (
            "conv3x3-32-relu-skip|identity|identity|identity",
            r"Slot 0 'conv3x3-32-relu-skip' of .*input channels are the task's",
        ),
        (
            "conv3x3-32-relu|conv3x3-64-relu-skip|identity|identity",
            r"Slot 1 .*got 32 in and 64 out; remove 'skip' or use 32",
        ),
    ],
)
def test_from_string_errors(text, match):
    with pytest.raises(ArchitectureError, match=match):
        LayersSpace().from_string(text)


def test_from_string_rejects_a_stride_two_skip():
    space = LayersSpace(num_layers=2, strides=(1, 2))
    with pytest.raises(ArchitectureError, match="Slot 1 'max_pool3x3-s2-skip' .*skip needs stride 1"):
        space.from_string("conv3x3-16-relu-s1|max_pool3x3-s2-skip")


def test_from_string_rejects_non_strings():
    with pytest.raises(ArchitectureError, match="Expected an architecture string, got int"):
        LayersSpace().from_string(3)


def test_validate_rejects_masked_and_out_of_range():
    space = LayersSpace()  # slot decisions: op, filters, kernel, activation, skip
    pool = space.decisions[0].choices.index("max_pool")
    with pytest.raises(ArchitectureError, match=r"Choice '32' is not allowed for decision 1 \('layer0/filters'\)"):
        space.validate([pool, 1, 0, 0, 0] + [5, 0, 0, 0, 0] * 3)
    with pytest.raises(ArchitectureError, match=r"Decision 0 \('layer0/op'\) takes 0..5"):
        space.validate([6, 0, 0, 0, 0] + [5, 0, 0, 0, 0] * 3)
    with pytest.raises(ArchitectureError, match="expects 20 decisions, got 3"):
        space.validate([0, 0, 0])


def test_masks_follow_channels_and_stride():
    space = LayersSpace(num_layers=3, strides=(1, 2))
    assert [d.name for d in space.decisions[:6]] == [
        "layer0/op", "layer0/filters", "layer0/kernel", "layer0/activation", "layer0/stride", "layer0/skip",
    ]  # fmt: skip
    conv32 = [0, 1, 0, 0, 0, 0]  # conv, 32 filters, k3, relu, stride 1, no skip
    # The first convolution's input channels are the task's: unknown, so no skip.
    assert space.valid_choices(conv32[:5]).tolist() == [True, False]
    assert space.valid_choices(conv32 + [0, 1, 0, 0, 0]).tolist() == [True, True]  # 32 -> 32, stride 1
    assert space.valid_choices(conv32 + [0, 2, 0, 0, 0]).tolist() == [True, False]  # 32 -> 64
    assert space.valid_choices(conv32 + [0, 1, 0, 0, 1]).tolist() == [True, False]  # stride 2
    # Pooling keeps channels, so it may skip anywhere at stride 1; its filters are don't-cares.
    assert space.valid_choices([3, 0, 0, 0, 0]).tolist() == [True, True]
    assert space.valid_choices([3]).tolist() == [True, False, False]
    # Identity fixes everything else.
    assert all(space.valid_choices([5] + [0] * k).sum() == 1 for k in range(5))


@pytest.mark.parametrize(
    "cfg",
    [
        {"num_layers": 2},
        {"num_layers": 3, "ops": ("conv", "max_pool", "identity"), "filters": (8, 16), "kernels": (3,)},
        {"num_layers": 3, "ops": ("conv", "avg_pool"), "filters": (4,), "kernels": (1, 3), "strides": (1, 2)},
        {"num_layers": 2, "ops": ("sep_conv", "identity"), "norms": ("batch", "group"), "attentions": ("none", "se")},
    ],
)
def test_size_matches_enumeration(cfg):
    space = LayersSpace(**cfg)
    assert space.size() == sum(1 for _ in space.enumerate())


def test_size_of_default_space_is_counted_without_enumerating():
    assert LayersSpace().size() == 32_286_681


def test_canonical_moves_identity_slots_last():
    space = LayersSpace()
    arch = space.from_string("identity|conv3x3-16-relu|identity|max_pool3x3-skip")
    canonical = space.canonical(arch)
    assert str(canonical) == "conv3x3-16-relu|max_pool3x3-skip|identity|identity"
    assert space.canonical(canonical) == canonical
    assert space.validate(canonical.indices) == canonical.indices


def test_identity_and_pool_only_networks_train(digits):
    space = LayersSpace()
    for text in ("identity|identity|identity|identity", "max_pool3x3|avg_pool5x5-skip|identity|identity"):
        net = space.build(space.from_string(text), digits)
        loss = torch.nn.functional.cross_entropy(
            _forward(net, digits.x_train[:8]), torch.from_numpy(digits.y_train[:8])
        )
        loss.backward()
        assert net.head.fc.weight.grad is not None


def test_stride_two_never_shrinks_below_one(digits, mnist1d):
    space = LayersSpace(num_layers=5, strides=(2,), filters=(4, 8))
    arch = space.from_string(
        "|".join(["conv5x5-4-relu", "dil_conv5x5-8-gelu", "sep_conv3x3-4-relu", "max_pool5x5", "avg_pool3x3"])
    )
    keys = space.op_keys(arch, digits)
    assert [k[-2:] for k in keys] == [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]
    assert _forward(space.build(arch, digits), digits.x_train[:2]).shape == (2, 10)
    assert [k[-1] for k in space.op_keys(arch, mnist1d)] == [40, 20, 10, 5, 3, 2]


@settings(max_examples=10, deadline=None)
@given(name=configs, seed=seeds)
def test_op_keys_chain_into_the_whole_network(name, seed, digits, mnist1d):
    space = SPACE[name]
    arch = space.sample(np.random.default_rng(seed))
    for task in (digits, mnist1d):
        keys = space.op_keys(arch, task)
        assert keys[-1][0] == "layers/head"
        shape, params = task.input_shape, 0
        for key in keys:
            hash(key)
            module, in_shape = space.build_op(key)
            assert in_shape == shape
            out = module(torch.zeros(2, *in_shape))
            shape = tuple(out.shape[1:])
            params += sum(p.numel() for p in module.parameters())
        assert shape == (task.num_classes,)
        assert params == sum(p.numel() for p in space.build(arch, task).parameters())


def test_build_op_rejects_foreign_keys():
    with pytest.raises(ConfigError, match="Not a per-op key of the layers space"):
        LayersSpace().build_op(("nb201/stem", 2, 1, 8, 8, 8))
    with pytest.raises(ConfigError, match="Not a per-op key of the layers space"):
        LayersSpace().build_op(("layers/conv", 2, 1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ops": ("conv", "sepconv")}, r"Unknown op 'sepconv'. Did you mean 'sep_conv'\?"),
        ({"activations": ("relu", "swsh")}, r"Unknown activation 'swsh'. Did you mean 'swish'\?"),
        ({"norms": ("btach",)}, r"Unknown norm 'btach'. Did you mean 'batch'\?"),
        ({"attentions": ("squeeze",)}, r"Unknown attention .squeeze.*Known attentions: none, se"),
        ({"kernels": (3, 4)}, r"Each kernel must be an odd integer >= 1, got 4"),
        ({"strides": (1, 3)}, r"Each stride must be 1 or 2, got 3"),
        ({"filters": (0, 8)}, r"Each filter must be a positive integer, got 0"),
        ({"filters": (8, 8)}, r"must not repeat a choice"),
        ({"filters": ()}, r"at least one choice"),
        ({"ops": "conv"}, r"ops must be a list of choices"),
        ({"num_layers": 0}, r"num_layers must be an integer >= 1, got 0"),
        ({"skip": "yes"}, r"skip must be True or False"),
        ({"ops": ("identity",)}, r"nothing to decide"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        LayersSpace(**kwargs)


def test_config_reproduces_the_space():
    for space in SPACE.values():
        assert LayersSpace(**space.config()).key == space.key
    assert LayersSpace().key != LayersSpace(num_layers=3).key


def test_fields_that_never_matter_are_not_decisions():
    space = LayersSpace(ops=("max_pool", "identity"), num_layers=2)
    assert {d.name.split("/")[1] for d in space.decisions} == {"op", "kernel", "skip"}
    space = LayersSpace(ops=("conv",), num_layers=1)  # a lone conv can never skip
    assert {d.name.split("/")[1] for d in space.decisions} == {"filters", "kernel", "activation"}


def test_make_space():
    assert {name: SPACES.entry(name).factory for name in SPACES} == {
        "layers": LayersSpace, "nb201": NB201Space, "mlp": MLPSpace, "rnn_layers": RNNLayersSpace,
        "rnn_cell": RNNCellSpace, "transformer": TransformerSpace,
    }
    assert make_space("layers", num_layers=2).num_layers == 2
    assert isinstance(make_space("nb201"), NB201Space)
    with pytest.raises(ConfigError, match=r"Unknown space 'nb210'. Did you mean 'nb201'\?"):
        make_space("nb210")
    with pytest.raises(ConfigError, match=r"no argument 'num_layer'. Did you mean 'num_layers'\?.*Valid arguments"):
        make_space("layers", num_layer=3)
