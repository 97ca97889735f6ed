"""RNNLayersSpace: strings, masks, canonical form, recurrent networks, the env on sequence tasks."""

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
from nas_gym.spaces import SPACES, RNNLayersSpace, make_space
from nas_gym.tasks.base import make_task

CONFIGS = {
    "default": {},
    "small": {"num_layers": 2, "cells": ("gru",), "hiddens": (8, 12), "directions": ("bi",), "dropouts": (0.0, 0.5),
              "skips": (True,), "heads": ("mean",)},
    "cells_only": {"num_layers": 3, "cells": ("rnn", "lstm"), "hiddens": (4,), "directions": ("uni",),
                   "dropouts": (0.1,), "skips": (False,), "heads": ("last", "mean")},
}
SPACE = {name: RNNLayersSpace(**cfg) for name, cfg in CONFIGS.items()}
seeds = st.integers(0, 2**32 - 1)
configs = st.sampled_from(sorted(CONFIGS))

#: Tiny networks run on one thread: more only add overhead here, and more still on a busy machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mnist1d():
    return make_task("mnist1d")


def _empty(space: RNNLayersSpace, arch, slot: int) -> bool:
    return space.slot_values(arch, slot)["cell"] == "none"


# -- the space -------------------------------------------------------------------------------------------


def test_registered_with_its_decisions():
    space = make_space("rnn_layers")
    assert isinstance(space, RNNLayersSpace) and SPACES.entry("rnn_layers").factory is RNNLayersSpace
    assert [d.name for d in space.decisions[:5]] == [
        "layer0/cell", "layer0/hidden", "layer0/direction", "layer0/dropout", "layer0/skip"
    ]
    assert space.decisions[0].choices == ("none", "rnn", "lstm", "gru")
    assert space.decisions[1].choices == ("16", "32", "64")
    assert space.decisions[2].choices == ("uni", "bi")
    assert space.decisions[3].choices == ("0", "0.2")
    assert space.decisions[4].choices == ("no", "yes")
    assert space.decisions[-1].name == "head/pool" and space.decisions[-1].choices == ("last", "mean")
    assert space.num_decisions == 16 and space.size() == (1 + 3 * 3 * 2 * 2 * 2) ** 3 * 2
    assert make_space("rnn_layers", **space.config()).key == space.key
    # A field with one choice is fixed and no decision, the head's pooling included.
    assert [d.name for d in SPACE["small"].decisions] == [
        "layer0/cell", "layer0/hidden", "layer0/dropout", "layer1/cell", "layer1/hidden", "layer1/dropout"
    ]
    assert [d.name for d in SPACE["cells_only"].decisions] == ["layer0/cell", "layer1/cell", "layer2/cell", "head/pool"]


@settings(max_examples=30, deadline=None)
@given(name=configs, seed=seeds)
def test_sampled_archs_validate_round_trip_and_build(name, seed, mnist1d):
    space = SPACE[name]
    arch = space.sample(np.random.default_rng(seed))
    assert space.validate(arch.indices) == arch.indices
    assert space.from_string(str(arch)) == arch
    net = space.build(arch, mnist1d)
    net.train()
    out = net(torch.from_numpy(mnist1d.x_train[:4]))
    assert out.shape == (4, mnist1d.num_outputs) and torch.isfinite(out).all()
    out.sum().backward()


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
    assert space.head_pool(canonical) == space.head_pool(arch)


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
    for cell in range(space.decisions[0].n):
        for k in (1, 2, 3, 4):
            prefix = [cell] + [0] * (k - 1)
            mask = space.valid_choices(prefix)
            if cell == 0:  # none: only the first choice
                assert mask.tolist() == [True] + [False] * (space.decisions[k].n - 1)
            else:
                assert mask.all()
    # The next slot decides again, whatever the slot before it was, and so does the head.
    assert space.valid_choices([0] * 5).all()
    assert space.valid_choices([0] * 15).all()
    assert space.active_decisions(space.from_string("none|none|none|head=last")) == [0, 5, 10, 15]
    with pytest.raises(ArchitectureError, match=r"Choice '32' is not allowed for decision 1 \('layer0/hidden'\)"):
        space.validate([0, 1] + [0] * 14)


def test_size_matches_enumeration():
    space = RNNLayersSpace(num_layers=2, cells=("gru", "rnn"), hiddens=(8,), directions=("uni", "bi"),
                           dropouts=(0.0,), skips=(False,), heads=("last", "mean"))
    assert space.size() == sum(1 for _ in space.enumerate()) == (1 + 2 * 2) ** 2 * 2 == 50
    assert SPACE["small"].size() == sum(1 for _ in SPACE["small"].enumerate()) == (1 + 4) ** 2


def test_string_format_and_network(mnist1d):
    space = SPACE["default"]
    text = "lstm-32-bi-0.2-skip|none|gru-16-uni-0-noskip|head=mean"
    arch = space.from_string(text)
    assert str(arch) == text
    names = arch.choice_names()
    assert names["layer0/skip"] == "yes" and names["layer0/dropout"] == "0.2" and names["head/pool"] == "mean"
    assert str(space.canonical(arch)) == "lstm-32-bi-0.2-skip|gru-16-uni-0-noskip|none|head=mean"
    # Numbers compare by value, so "0.0" is dropout 0; spaces around parts are ignored.
    assert space.from_string(" lstm-32-bi-0.20-skip | none|gru-16-uni-0.0-noskip|head=mean") == arch
    net = space.build(arch, mnist1d)
    first, second = net.layers
    assert isinstance(first.rnn, torch.nn.LSTM) and first.rnn.bidirectional and first.rnn.hidden_size == 32
    assert first.rnn.input_size == 1 and first.out_features == 64 and first.rnn.batch_first
    assert isinstance(first.dropout, torch.nn.Dropout) and first.dropout.p == 0.2
    # The residual projects the input's one feature to the layer's 64, with no bias.
    assert isinstance(first.project, torch.nn.Linear) and first.project.bias is None
    assert (first.project.in_features, first.project.out_features) == (1, 64)
    assert isinstance(second.rnn, torch.nn.GRU) and not second.rnn.bidirectional and second.rnn.input_size == 64
    assert not second.skip and isinstance(second.dropout, torch.nn.Identity)
    assert net.pool == "mean" and (net.head.in_features, net.head.out_features) == (16, 10)
    # Equal widths: the residual adds the input unchanged.
    same = space.build(space.from_string("rnn-16-uni-0-noskip|rnn-16-uni-0-skip|none|head=last"), mnist1d)
    assert isinstance(same.layers[0].rnn, torch.nn.RNN) and same.layers[0].rnn.nonlinearity == "tanh"
    assert same.layers[1].skip and isinstance(same.layers[1].project, torch.nn.Identity)
    # No layer at all: the head reads the input sequence (its last step, here) -- the baseline.
    baseline = space.build(space.from_string("none|none|none|head=last"), mnist1d)
    assert len(baseline.layers) == 0 and (baseline.head.in_features, baseline.head.out_features) == (1, 10)
    x = torch.from_numpy(mnist1d.x_train[:3])
    torch.testing.assert_close(baseline(x), baseline.head(x[:, :, -1]))


def test_heads_pool_the_last_step_or_the_mean(mnist1d):
    space = SPACE["default"]
    x = torch.from_numpy(mnist1d.x_train[:5])
    for pool in ("last", "mean"):
        net = space.build(space.from_string(f"gru-16-bi-0-noskip|none|none|head={pool}"), mnist1d).eval()
        seq = net.layers[0](x.transpose(1, 2))
        pooled = seq[:, -1] if pool == "last" else seq.mean(dim=1)
        torch.testing.assert_close(net(x), net.head(pooled))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("lstm-32-bi-0.2-skip|none|none", r"has 3 part\(s\) separated by '\|'; this space has 3 slot\(s\) and then"),
        ("lstm-32-bi-0.2-skip|none|none|none", r"Head 'none': the last part must be the head.*head=last"),
        ("none|none|none|head=max", r"Head 'head=max': pool 'max' is not a choice.*Choices: last, mean"),
        ("head=last|none|none|none", "Slot 0 'head=last': the head comes last"),
        ("lstm-33-bi-0.2-skip|none|none|head=last", r"Slot 0 'lstm-33-bi-0.2-skip': hidden '33'.*16, 32, 64"),
        ("none|lstn-32-bi-0-skip|none|head=last", r"Slot 1 .*cell 'lstn' is not a choice.* Did you mean 'lstm'\?"),
        ("none|none|gru-16-both-0-skip|head=last", r"direction 'both' is not a choice.*Choices: uni, bi"),
        ("none|none|gru-16-uni-0.3-skip|head=last", r"dropout '0.3' is not a choice.*Choices: 0, 0.2"),
        ("none|none|gru-16-uni-0-skp|head=last", r"skip 'skp' is not a choice.*Did you mean 'skip'\?.*noskip, skip"),
        ("none|none|gru-16-uni-0-1|head=last", r"skip '1' is not a choice"),
        ("none|none|none-16-uni-0-skip|head=last", "an empty slot takes no other fields; write just 'none'"),
        ("gru-16-uni-0|none|none|head=last", r"expected 'none' or 5 tokens cell-hidden-direction-dropout-skip.*got 4"),
        ("16-gru-uni-0-skip|none|none|head=last", r"cell '16' is not a choice.*Choices: rnn, lstm, gru"),
    ],
)
def test_from_string_errors(text, match):
    with pytest.raises(ArchitectureError, match=match):
        SPACE["default"].from_string(text)


def test_fixed_fields_are_written_and_checked():
    space = SPACE["small"]
    text = "gru-8-bi-0.5-skip|none|head=mean"
    assert str(space.from_string(text)) == text
    with pytest.raises(ArchitectureError, match="direction 'uni' is not a choice of this space.*Choices: bi"):
        space.from_string("gru-8-uni-0.5-skip|none|head=mean")
    with pytest.raises(ArchitectureError, match="skip 'noskip' is not a choice of this space.*Choices: skip"):
        space.from_string("gru-8-bi-0.5-noskip|none|head=mean")
    with pytest.raises(ArchitectureError, match="pool 'last' is not a choice of this space.*Choices: mean"):
        space.from_string("gru-8-bi-0.5-skip|none|head=last")
    with pytest.raises(ArchitectureError, match="Expected an architecture string, got int"):
        space.from_string(3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_layers": 0}, "num_layers must be an integer >= 1"),
        ({"num_layers": True}, "num_layers must be an integer >= 1"),
        ({"cells": ()}, "cells must list at least one choice"),
        ({"cells": ("none", "gru")}, "cells must not list 'none': an empty slot is always a choice"),
        ({"cells": ("lstm", "lstn")}, r"Unknown cell 'lstn'. Did you mean 'lstm'\?"),
        ({"cells": "lstm"}, "cells must be a list of choices"),
        ({"hiddens": (16, 0)}, "Each hidden must be a positive integer"),
        ({"directions": ("uni", "both")}, "Unknown direction 'both'"),
        ({"dropouts": (0.0, 1.0)}, r"Each dropout must be a probability in \[0, 1\), got 1.0"),
        ({"dropouts": (0, 0.0)}, "dropouts must not repeat a choice"),
        ({"skips": (False, 1)}, "Each skip must be True or False, got 1"),
        ({"skips": (True, True)}, "skips must not repeat a choice"),
        ({"heads": ("max",)}, "Unknown head 'max'"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RNNLayersSpace(**kwargs)


# -- the env on sequence tasks ---------------------------------------------------------------------------


@pytest.mark.parametrize(("task", "shape"), [("wine", r"\(13,\)"), ("digits", r"\(1, 8, 8\)")])
def test_refuses_vectors_and_images(task, shape):
    with pytest.raises(ConfigError, match=rf"Space 'rnn_layers' builds recurrent.*task '{task}'.*{shape}"):
        gym.make("NAS-v0", space="rnn_layers", task=task, cache=False)
    space = SPACE["default"]
    with pytest.raises(ConfigError, match="builds recurrent networks for sequences"):
        space.build(space.sample(np.random.default_rng(0)), make_task(task))


def test_both_env_checkers_pass():
    env = gym.make("NAS-v0", space="rnn_layers", task="mnist1d", cache=False, latency="none",
                   evaluator_kwargs={"epochs": 1, "num_threads": 1, "train_fraction": 0.05})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)


def test_flops_count_the_recurrent_layers():
    from nas_gym.tasks.base import make_task
    from nas_gym.utils.counting import count_flops

    task = make_task("mnist1d")  # 40 steps of 1 feature, 10 classes
    space = RNNLayersSpace()
    arch = space.from_string("lstm-32-bi-0-noskip|gru-16-uni-0-skip|none|head=last")
    # LSTM: 40 steps x 2 directions x 4 gates x 32 x (1 + 32); GRU: 40 x 3 x 16 x (64 + 16);
    # the GRU's skip projection 40 x 64 x 16; the head 16 x 10.
    expected = 40 * 2 * 4 * 32 * 33 + 40 * 3 * 16 * 80 + 40 * 64 * 16 + 16 * 10
    assert count_flops(space.build(arch, task), task.input_shape) == expected
