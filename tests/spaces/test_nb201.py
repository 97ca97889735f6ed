"""NB201Space: the benchmark's strings, the 6,466 isomorphism classes, networks and per-op keys."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nas_gym.error import ArchitectureError, ConfigError
from nas_gym.spaces import NB201Space
from nas_gym.spaces.nb201 import OPS
from nas_gym.tasks.base import make_task

BEST_C100 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
EMPTY = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
seeds = st.integers(0, 2**32 - 1)


@pytest.fixture(scope="module")
def space():
    return NB201Space()


#: Tiny networks run on one thread: more only add overhead here, and more still on a busy machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return make_task("digits")


@pytest.fixture(scope="module")
def mnist1d():
    return make_task("mnist1d")


def test_decisions(space):
    assert [d.name for d in space.decisions] == ["edge1<-0", "edge2<-0", "edge2<-1", "edge3<-0", "edge3<-1", "edge3<-2"]
    assert all(
        d.choices == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3") for d in space.decisions
    )
    assert OPS == space.decisions[0].choices


def test_enumerate_gives_every_cell_once(space):
    archs = list(space.enumerate())
    assert len(archs) == space.size() == 15_625
    assert len({a.indices for a in archs}) == len({str(a) for a in archs}) == 15_625


def test_canonical_classes(space):
    reps = {space.canonical(a) for a in space.enumerate()}
    assert len(reps) == 6_466
    for rep in reps:
        assert space.canonical(rep) == rep
        assert space.isomorphism_key(rep) == space.isomorphism_key(space.from_string(str(rep)))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # skip_connect on 1<-0 makes node 1 equal the input, so edges 2<-0 and 2<-1 are interchangeable.
        (
            "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|none~1|skip_connect~2|",
            "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|",
        ),
        # Node 1 is zero, so whatever op reads it gives zero.
        (
            "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|",
            "|none~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|skip_connect~2|",
        ),
    ],
)
def test_isomorphic_cells_share_a_representative(space, a, b):
    a, b = space.from_string(a), space.from_string(b)
    assert a != b
    assert space.canonical(a) == space.canonical(b) == min(space.canonical(a), a, b, key=lambda x: x.indices)


def test_non_isomorphic_cells_differ(space):
    conv3 = space.from_string(BEST_C100)
    conv1 = space.from_string(BEST_C100.replace("nor_conv_3x3~2", "nor_conv_1x1~2"))
    assert space.canonical(conv3) != space.canonical(conv1)


def test_known_strings_round_trip(space):
    for text in (
        BEST_C100,
        EMPTY,
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    ):
        arch = space.from_string(text)
        assert str(arch) == text
    assert space.from_string(BEST_C100).indices == (3, 3, 3, 1, 3, 3)
    assert space.from_string(EMPTY).indices == (0,) * 6
    assert space.from_string(f"  {BEST_C100}\n").indices == (3, 3, 3, 1, 3, 3)


def test_every_table_string_round_trips(space, nb201_table):
    with open(nb201_table) as f:
        rows = [row["arch_str"] for row in csv.DictReader(f)]
    assert len(rows) == 15_625
    archs = [space.from_string(r) for r in rows]
    assert [str(a) for a in archs] == rows
    assert len(set(archs)) == 15_625


@settings(max_examples=50, deadline=None)
@given(seed=seeds)
def test_sampled_strings_round_trip(space, seed):
    arch = space.sample(np.random.default_rng(seed))
    assert space.from_string(str(arch)) == arch
    assert space.validate(arch.indices) == arch.indices


@settings(max_examples=50, deadline=None)
@given(seed=seeds)
def test_mutation_changes_exactly_one_edge(space, seed):
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    assert sum(a != b for a, b in zip(arch.indices, child.indices, strict=True)) == 1
    assert len(space.neighbours(arch)) == 6 * 4


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (BEST_C100[: BEST_C100.rindex("+")], r"Expected 3 nodes separated by '\+', got 2"),
        (
            BEST_C100.replace("|nor_conv_3x3~2", "|conv_3x3~2"),
            r"Unknown op 'conv_3x3' on node 3. Did you mean 'nor_conv_3x3'\?",
        ),
        (BEST_C100.replace("|nor_conv_3x3~1|+|skip", "|+|skip"), r"Node 2 .* needs 2 edge\(s\)"),
        (
            BEST_C100.replace("+|nor_conv_3x3~0|nor_conv_3x3~1|", "+|nor_conv_3x3~1|nor_conv_3x3~0|"),
            r"Edge 'nor_conv_3x3~1' of node 2 must be 'nor_conv_3x3~0'",
        ),
        (BEST_C100[1:], r"Node 1 .* must start and end with '\|'"),
        ("", r"Expected 3 nodes"),
        (None, r"Expected a string"),
    ],
)
def test_from_string_errors(space, text, match):
    with pytest.raises(ArchitectureError, match=match):
        space.from_string(text)


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_sampled_cells_build_and_run(space, seed, digits, mnist1d):
    arch = space.sample(np.random.default_rng(seed))
    for task in (digits, mnist1d):
        net = space.build(arch, task)
        logits = net(torch.from_numpy(task.x_train[:4]))
        assert logits.shape == (4, 10)
        assert torch.isfinite(logits).all()
        logits.sum().backward()


def test_a_cell_without_paths_runs_and_outputs_zeros(space, digits):
    net = space.build(space.from_string(EMPTY), digits)
    cell = net[1]
    assert torch.equal(cell(torch.ones(2, 8, 8, 8)), torch.zeros(2, 8, 8, 8))
    assert net(torch.from_numpy(digits.x_train[:4])).shape == (4, 10)


def test_build_follows_the_configuration(digits):
    wide = NB201Space(channels=4, cells_per_stage=2)
    net = wide.build(wide.from_string(BEST_C100), digits)
    # stem, 2 cells, reduction, 2 cells, reduction, 2 cells, head
    assert len(net) == 1 + 3 * 2 + 2 + 1
    assert net[-1].classifier.fc.in_features == 16
    assert NB201Space(**wide.config()).key == wide.key != NB201Space().key


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_op_keys_build_modules_that_sum_to_the_network(space, seed, digits, mnist1d):
    arch = space.sample(np.random.default_rng(seed))
    for task in (digits, mnist1d):
        keys = space.op_keys(arch, task)
        assert keys[0][0] == "nb201/stem" and keys[-1][0] == "nb201/head"
        assert sum(k[0] == "nb201/reduction" for k in keys) == 2
        n_edges = sum(OPS[i] != "none" for i in arch.indices)
        assert len(keys) == 1 + 2 + 1 + 3 * n_edges
        params = 0
        for key in keys:
            hash(key)
            module, in_shape = space.build_op(key)
            out = module(torch.zeros(2, *in_shape))
            assert out.shape[0] == 2
            params += sum(p.numel() for p in module.parameters())
        assert params == sum(p.numel() for p in space.build(arch, task).parameters())
        assert out.shape == (2, 10)


def test_build_op_rejects_foreign_keys(space):
    with pytest.raises(ConfigError, match="Not a per-op key of the nb201 space"):
        space.build_op(("layers/head", 2, 8, 10, 1, 1))
    with pytest.raises(ConfigError, match="Not a per-op key of the nb201 space"):
        space.build_op(("nb201/nor_conv_3x3", 2, 8, 8))


@pytest.mark.parametrize("kwargs", [{"channels": 0}, {"cells_per_stage": 1.5}, {"channels": True}])
def test_config_errors(kwargs):
    with pytest.raises(ConfigError, match="must be a positive integer"):
        NB201Space(**kwargs)
