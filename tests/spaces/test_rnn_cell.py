"""RNNCellSpace: decisions, strings, canonical form of the cell's tree, the network's two paths, the env."""

from __future__ import annotations

import math
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
from nas_gym.networks.rnn_cell import RNNCellNet, unroll_cell
from nas_gym.spaces import SPACES, RNNCellSpace, make_space
from nas_gym.tasks.base import make_task
from nas_gym.utils.counting import count_flops

CONFIGS = {
    "default": {},
    "small": {"num_nodes": 4, "activations": ("relu", "identity"), "hidden": 6},
    "one_act": {"num_nodes": 5, "activations": ("tanh",), "hidden": 4},
    "one_node": {"num_nodes": 1, "activations": ("sigmoid", "tanh"), "hidden": 3},
}
SPACE = {name: RNNCellSpace(**cfg) for name, cfg in CONFIGS.items()}
seeds = st.integers(0, 2**32 - 1)
configs = st.sampled_from(sorted(CONFIGS))

#: Tiny networks run on one thread: more only add overhead here, and more still on a busy machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mnist1d():
    return make_task("mnist1d")


def _relabel(space: RNNCellSpace, arch, rng: np.random.Generator):
    """The same tree with its nodes renumbered in a random order that keeps parents before children."""
    parents, acts = space.parents(arch), space.node_activations(arch)
    order, ready = [0], [i for i in range(1, space.num_nodes) if parents[i] == 0]
    while ready:
        node = ready.pop(int(rng.integers(len(ready))))
        order.append(node)
        ready += [i for i in range(1, space.num_nodes) if parents[i] == node]
    new = {old: k for k, old in enumerate(order)}
    text = "|".join(acts[0] if k == 0 else f"{acts[old]}<-{new[parents[old]]}" for k, old in enumerate(order))
    return space.from_string(text), order


def _reference(net: RNNCellNet, x: torch.Tensor) -> torch.Tensor:
    return unroll_cell(x, net.x_proj, net.nodes, net.head, net.hidden, net.parents, net.activations, reference=True)


# -- the space -------------------------------------------------------------------------------------------


def test_registered_with_its_decisions():
    space = make_space("rnn_cell")
    assert isinstance(space, RNNCellSpace) and SPACES.entry("rnn_cell").factory is RNNCellSpace
    names = [d.name for d in space.decisions]
    assert names[:5] == ["node0/act", "node1/act", "node2/input", "node2/act", "node3/input"]
    assert names[-2:] == ["node7/input", "node7/act"] and space.num_decisions == 14
    assert space.decisions[0].choices == ("tanh", "relu", "sigmoid", "identity")
    # Node i chooses among the i nodes before it; node 1 can only read node 0, so that is no decision.
    assert space.decisions[2].choices == ("0", "1")
    assert space.decisions[-2].choices == tuple(str(j) for j in range(7))
    assert space.max_choices == 7 and space.nvec.tolist() == [4, 4, 2, 4, 3, 4, 4, 4, 5, 4, 6, 4, 7, 4]
    assert space.size() == 4**8 * math.factorial(7)
    assert make_space("rnn_cell", **space.config()).key == space.key
    assert space.config() == {"num_nodes": 8, "activations": ["tanh", "relu", "sigmoid", "identity"], "hidden": 32}
    assert space.input_positions[:3] == (None, None, 2) and space.act_positions[:3] == (0, 1, 3)
    # With one activation the act decisions go too: only the inputs of nodes 2.. are left.
    assert [d.name for d in SPACE["one_act"].decisions] == ["node2/input", "node3/input", "node4/input"]
    assert [d.name for d in SPACE["one_node"].decisions] == ["node0/act"]
    # Nothing is masked.
    assert all(space.valid_choices([0] * k).all() for k in range(space.num_decisions))


@settings(max_examples=25, deadline=None)
@given(name=configs, seed=seeds)
def test_sampled_archs_validate_round_trip_and_build(name, seed, mnist1d):
    space = SPACE[name]
    arch = space.sample(np.random.default_rng(seed))
    assert space.validate(arch.indices) == arch.indices
    assert space.from_string(str(arch)) == arch
    net = space.build(arch, mnist1d)
    assert len(net.nodes) == space.num_nodes and net.nodes[0].bias is None
    assert net.x_proj.in_features == 1 and net.head.out_features == mnist1d.num_outputs == 10
    logits = net(torch.from_numpy(mnist1d.x_train[:4]))
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@settings(max_examples=25, deadline=None)
@given(name=configs, seed=seeds)
def test_fast_path_matches_plain_autograd(name, seed):
    """The hand-written backward pass gives the reference path's outputs and gradients (float64)."""
    space = SPACE[name]
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    torch.manual_seed(seed % 1000)
    net = RNNCellNet(2, space.hidden, space.parents(arch), space.node_activations(arch), 3).double()
    x = torch.from_numpy(rng.normal(size=(5, 2, 6)))
    out, ref = net(x), _reference(net, x)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    params = list(net.parameters())
    grads = torch.autograd.grad((out**2).sum(), params)
    ref_grads = torch.autograd.grad((ref**2).sum(), params)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-12)
    # Without gradients (evaluation) the fast path keeps one step of buffers only: same outputs.
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref, rtol=1e-10, atol=1e-12)


def test_fast_path_gradients_flow_to_the_input_and_survive_gradcheck():
    space = SPACE["default"]
    arch = space.from_string("tanh|relu<-0|sigmoid<-0|identity<-2|tanh<-2|tanh<-0|relu<-1|sigmoid<-6")
    torch.manual_seed(0)
    net = RNNCellNet(2, 3, space.parents(arch), space.node_activations(arch), 2).double()
    x = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(net, (x,))
    (gx,) = torch.autograd.grad(net(x).sum(), x)
    (rx,) = torch.autograd.grad(_reference(net, x).sum(), x)
    torch.testing.assert_close(gx, rx)


@settings(max_examples=60, deadline=None)
@given(name=configs, seed=seeds)
def test_canonical_is_idempotent_and_isomorphism_invariant(name, seed):
    space = SPACE[name]
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    canonical = space.canonical(arch)
    assert space.canonical(canonical) == canonical
    assert space.validate(canonical.indices) == canonical.indices
    assert space.from_string(str(canonical)) == canonical
    relabelled, _ = _relabel(space, arch, rng)
    assert space.canonical(relabelled) == canonical
    # The same multiset of activations and the same number of leaves.
    assert sorted(space.node_activations(canonical)) == sorted(space.node_activations(arch))
    assert len(space.leaves(canonical)) == len(space.leaves(arch))


@settings(max_examples=15, deadline=None)
@given(seed=seeds)
def test_isomorphic_cells_compute_the_same_function(seed):
    """A relabelled cell with its nodes' weights moved along is the same network."""
    space = SPACE["small"]
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    relabelled, order = _relabel(space, arch, rng)
    torch.manual_seed(0)
    net = RNNCellNet(1, space.hidden, space.parents(arch), space.node_activations(arch), 2).double()
    other = RNNCellNet(1, space.hidden, space.parents(relabelled), space.node_activations(relabelled), 2).double()
    other.x_proj.load_state_dict(net.x_proj.state_dict())
    other.head.load_state_dict(net.head.state_dict())
    for k, old in enumerate(order):
        other.nodes[k].load_state_dict(net.nodes[old].state_dict())
    x = torch.from_numpy(rng.normal(size=(3, 1, 5)))
    torch.testing.assert_close(other(x), net(x))


def test_canonical_separates_different_trees():
    space = RNNCellSpace(num_nodes=4)
    chain, star = space.from_string("tanh|tanh<-0|tanh<-1|tanh<-2"), space.from_string("tanh|tanh<-0|tanh<-0|tanh<-0")
    assert space.canonical(chain) == chain and space.canonical(star) == star and chain != star
    # Children are ordered by their subtrees: the identity leaf before the relu with a child.
    arch = space.from_string("tanh|relu<-0|sigmoid<-1|identity<-0")
    assert str(space.canonical(arch)) == "tanh|identity<-0|relu<-0|sigmoid<-2"
    # Activations are part of the tree.
    assert space.canonical(space.from_string("tanh|relu<-0|tanh<-1|tanh<-0")) != space.canonical(chain)


@settings(max_examples=40, deadline=None)
@given(name=configs, seed=seeds)
def test_mutation_and_neighbours_stay_valid(name, seed):
    space = SPACE[name]
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    assert child != arch and space.validate(child.indices) == child.indices
    neighbours = space.neighbours(arch)
    assert len(neighbours) == sum(d.n - 1 for d in space.decisions)
    for n in neighbours:
        space.validate(n.indices)


@pytest.mark.parametrize(("num_nodes", "activations"), [(1, ("tanh", "relu")), (2, ("tanh", "relu", "identity")),
                                                         (3, ("tanh",)), (4, ("relu", "sigmoid")), (5, ("tanh",))])
def test_size_matches_enumeration(num_nodes, activations):
    space = RNNCellSpace(num_nodes=num_nodes, activations=activations)
    archs = list(space.enumerate())
    assert space.size() == len(archs) == len(activations) ** num_nodes * math.factorial(num_nodes - 1)
    assert len({str(a) for a in archs}) == len(archs)


def test_string_format_and_network():
    space = SPACE["default"]
    text = "tanh|relu<-0|sigmoid<-0|identity<-2|tanh<-2|tanh<-0|relu<-1|sigmoid<-6"
    arch = space.from_string(text)
    assert str(arch) == text
    assert arch.choice_names()["node3/input"] == "2" and arch.choice_names()["node3/act"] == "identity"
    assert space.parents(arch) == (-1, 0, 0, 2, 2, 0, 1, 6)
    assert space.leaves(arch) == (3, 4, 5, 7)
    assert space.from_string(" tanh | relu <- 0|sigmoid<-0|identity<-2|tanh<-2|tanh<-0|relu<-1|sigmoid<-6 ") == arch
    net = space.build(arch, make_task("mackey_glass"))  # a regression task: one output
    assert net.parents == (-1, 0, 0, 2, 2, 0, 1, 6) and net.leaves == (3, 4, 5, 7)
    assert net.activations == ("tanh", "relu", "sigmoid", "identity", "tanh", "tanh", "relu", "sigmoid")
    assert [tuple(m.weight.shape) for m in net.nodes] == [(64, 32)] * 8 and net.head.out_features == 1
    assert net(torch.zeros(3, 1, 24)).shape == (3, 1)
    # The docstring's example.
    small = RNNCellSpace(num_nodes=4)
    assert str(small.canonical(small.from_string("tanh|relu<-0|sigmoid<-1|identity<-0"))) == (
        "tanh|identity<-0|relu<-0|sigmoid<-2"
    )


def test_flops_are_counted_through_the_node_modules(mnist1d):
    """count_flops hooks the Linear modules, so the net runs its reference path and every node's matmul counts."""
    space = SPACE["default"]
    net = space.build(space.sample(np.random.default_rng(0)), mnist1d)
    steps, hidden = 40, 32
    expected = steps * 2 * hidden * 1 + steps * 8 * 2 * hidden * hidden + hidden * 10
    assert count_flops(net, mnist1d.input_shape) == expected


def test_onnx_export_matches(mnist1d):
    pytest.importorskip("onnxruntime")
    from nas_gym.model import onnx as onnx_export

    space = SPACE["small"]
    net = space.build(space.from_string("relu|identity<-0|relu<-0|identity<-1"), mnist1d).eval()
    x = torch.from_numpy(mnist1d.x_val[:3])
    session = onnx_export.onnx_session(onnx_export.onnx_bytes(net, mnist1d.input_shape), num_threads=1)
    out = session.run(None, {onnx_export.INPUT_NAME: x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(out, net(x).numpy(), atol=1e-5)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("tanh|relu<-0|relu<-1", r"has 3 node\(s\) separated by '\|'; this space has 8"),
        ("tanh<-0|relu<-0|relu<-1|relu<-1|relu<-1|relu<-1|relu<-1|relu<-1",
         r"Node 0 'tanh<-0': node 0 reads x_t and h_\(t-1\) and chooses no input; write just its activation"),
        ("tanh|relu|relu<-1|relu<-1|relu<-1|relu<-1|relu<-1|relu<-1",
         r"Node 1 'relu': expected '\{activation\}<-\{input\}' with an input node in 0..0"),
        ("tanh|relu<-0|relu<-2|relu<-1|relu<-1|relu<-1|relu<-1|relu<-1",
         r"Node 2 'relu<-2': input '2' is not a choice; node 2 reads an earlier node: 0, 1\."),
        ("tanh|relu<-0|relu<-x|relu<-1|relu<-1|relu<-1|relu<-1|relu<-1", r"Node 2 .*input 'x' is not a choice"),
        ("tanh|relu<-0|relu<-1|rleu<-1|relu<-1|relu<-1|relu<-1|relu<-1",
         r"Node 3 'rleu<-1': activation 'rleu' is not a choice of this space. Did you mean 'relu'\? "
         r"Choices: tanh, relu, sigmoid, identity"),
        ("gelu|relu<-0|relu<-1|relu<-1|relu<-1|relu<-1|relu<-1|relu<-1", "Node 0 'gelu': activation 'gelu'"),
    ],
)
def test_from_string_errors(text, match):
    with pytest.raises(ArchitectureError, match=match):
        SPACE["default"].from_string(text)


def test_fixed_fields_are_written_and_checked():
    space = SPACE["one_act"]
    arch = space.from_string("tanh|tanh<-0|tanh<-1|tanh<-0|tanh<-3")
    assert str(arch) == "tanh|tanh<-0|tanh<-1|tanh<-0|tanh<-3" and arch.indices == (1, 0, 3)
    with pytest.raises(ArchitectureError, match=r"Node 1 'relu<-0': activation 'relu' is not a choice.*Choices: tanh"):
        space.from_string("tanh|relu<-0|tanh<-1|tanh<-0|tanh<-3")
    with pytest.raises(ArchitectureError, match="Expected an architecture string, got int"):
        space.from_string(3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_nodes": 0}, "num_nodes must be an integer >= 1, got 0"),
        ({"num_nodes": True}, "num_nodes must be an integer >= 1, got True"),
        ({"hidden": 0}, "hidden must be an integer >= 1"),
        ({"hidden": 2.5}, "hidden must be an integer >= 1"),
        ({"activations": ()}, "activations must list at least one choice"),
        ({"activations": "tanh"}, "activations must be a list of choices"),
        ({"activations": ("tanh", "tanh")}, "activations must not repeat a choice"),
        ({"activations": ("tanh", "gelu")}, r"Unknown activation 'gelu'.*Known activations: identity, relu, sigmoid"),
        ({"num_nodes": 2, "activations": ("relu",)}, "has a single architecture and no decisions"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RNNCellSpace(**kwargs)


# -- the env on sequence tasks ----------------------------------------------------------------------------


@pytest.mark.parametrize(("task", "shape"), [("wine", r"\(13,\)"), ("digits", r"\(1, 8, 8\)")])
def test_refuses_vectors_and_images(task, shape):
    with pytest.raises(ConfigError, match=rf"Space 'rnn_cell' builds recurrent.*task '{task}'.*{shape}"):
        gym.make("NAS-v0", space="rnn_cell", task=task, cache=False)
    space = SPACE["small"]
    with pytest.raises(ConfigError, match="builds recurrent networks for sequences"):
        space.build(space.sample(np.random.default_rng(0)), make_task(task))


def test_both_env_checkers_pass():
    env = gym.make("NAS-v0", space="rnn_cell", task="mnist1d", cache=False, latency="none",
                   space_kwargs={"num_nodes": 4, "hidden": 8},
                   evaluator_kwargs={"epochs": 1, "num_threads": 1, "train_fraction": 0.05})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)
