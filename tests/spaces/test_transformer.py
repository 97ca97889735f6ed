"""TransformerSpace: strings, depth masks, canonical form, the decoder's shapes, causality, counting and export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nas_gym.error import ArchitectureError, ConfigError
from nas_gym.spaces import SPACES, TransformerSpace, make_space
from nas_gym.tasks.base import make_task
from nas_gym.utils.counting import count_flops, count_params

SPACE = TransformerSpace()
SMALL = TransformerSpace(depths=(1, 3), widths=(16,), heads=(0, 2), ffn_ratios=(1,), activations=("gelu", "swiglu"))
BASELINE = "w64|h2-r4-gelu|h2-r4-gelu"
seeds = st.integers(0, 2**32 - 1)

#: Tiny networks run on one thread: more only add overhead here, and more still on a busy machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def task():
    return make_task("pydoc_topics")


# -- the space -------------------------------------------------------------------------------------------
def test_registered_with_its_decisions():
    space = make_space("transformer")
    assert isinstance(space, TransformerSpace) and SPACES.entry("transformer").factory is TransformerSpace
    names = [d.name for d in space.decisions]
    assert names[:5] == ["model/layers", "model/width", "layer0/heads", "layer0/ffn", "layer0/activation"]
    assert len(names) == 2 + 4 * 3
    assert space.decisions[0].choices == ("1", "2", "3", "4")
    assert space.decisions[1].choices == ("32", "64", "96", "128")
    assert space.decisions[2].choices == ("none", "1", "2", "4")
    assert space.decisions[3].choices == ("1", "2", "4") and space.decisions[4].choices == ("relu", "gelu", "swiglu")
    per_layer = 4 * 3 * 3
    assert space.size() == 4 * sum(per_layer**d for d in (1, 2, 3, 4))


def test_size_counts_every_valid_architecture():
    assert SMALL.size() == sum(1 for _ in SMALL.enumerate()) == 4 + 4**3


@settings(max_examples=60, deadline=None)
@given(seed=seeds)
def test_strings_round_trip_and_list_only_the_layers_within_the_depth(seed):
    arch = SPACE.sample(np.random.default_rng(seed))
    text = str(arch)
    assert SPACE.from_string(text) == arch
    assert text.count("|") == SPACE.depth(arch)
    assert SPACE.canonical(arch) == arch  # the masks already leave slots past the depth at their first choice


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_mutation_changes_one_decision_and_keeps_the_masks(seed):
    rng = np.random.default_rng(seed)
    arch = SPACE.sample(rng)
    child = SPACE.mutate(arch, rng)
    assert child != arch
    assert SPACE.validate(child.indices) == child.indices
    assert all(SPACE.validate(n.indices) == n.indices for n in SPACE.neighbours(arch))


def test_slots_past_the_depth_take_only_their_first_choice():
    depth_two = [SPACE.depths.index(2), 1]  # two layers, width 64
    for k in range(2 + 3 * 3):
        prefix = depth_two + [0] * k
        mask = SPACE.valid_choices(prefix)
        slot = k // 3
        assert mask.all() if slot < 2 else mask.tolist() == [True] + [False] * (len(mask) - 1), k
    deeper = SPACE.from_string("w64|h1-r1-relu|h1-r1-relu|h4-r4-swiglu")
    # Cutting the depth to one repairs the slots beyond it; the canonical form clears them too.
    idx = list(deeper.indices)
    idx[0] = SPACE.depths.index(1)
    repaired = SPACE.arch(SPACE.repair(idx))
    assert str(repaired) == "w64|h1-r1-relu" and SPACE.canonical(repaired) == repaired
    with pytest.raises(ArchitectureError, match="not allowed"):
        SPACE.arch(idx)


def test_active_decisions_are_the_globals_and_the_layers_within_the_depth():
    arch = SPACE.from_string("w32|noattn-r2-relu")
    assert [SPACE.decisions[k].name for k in SPACE.active_decisions(arch)] == [
        "model/layers", "model/width", "layer0/heads", "layer0/ffn", "layer0/activation"]


@pytest.mark.parametrize(("text", "match"), [
    ("64|h2-r4-gelu", "must start with the width"),
    ("w48|h2-r4-gelu", "Width 48 is not a choice"),
    ("w64", "0 layer"),
    ("w64|h2-r4-gelu|h2-r4-gelu|h2-r4-gelu|h2-r4-gelu|h2-r4-gelu", "5 layer"),
    ("w64|h3-r4-gelu", "heads 'h3' is not a choice"),
    ("w64|h2-r3-gelu", "ffn ratio 'r3'"),
    ("w64|h2-r4-glu", "Did you mean 'gelu'"),
    ("w64|h2-r4", "expected 3 tokens"),
])
def test_bad_strings_name_the_problem(text, match):
    with pytest.raises(ArchitectureError, match=match):
        SPACE.from_string(text)


def test_fixed_fields_are_no_decisions_and_strings_still_round_trip():
    space = TransformerSpace(depths=(2,), widths=(32,), heads=(2,), ffn_ratios=(1, 2), activations=("relu",))
    assert [d.name for d in space.decisions] == ["layer0/ffn", "layer1/ffn"]
    arch = space.from_string("w32|h2-r2-relu|h2-r1-relu")
    assert arch.indices == (1, 0) and str(arch) == "w32|h2-r2-relu|h2-r1-relu"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"widths": (30,)}, "not divisible by head count"),
    ({"depths": ()}, "at least one choice"),
    ({"activations": ("tanh",)}, "Unknown activation"),
    ({"heads": (-1,)}, "head count must be"),
    ({"tie_embeddings": "yes"}, "tie_embeddings"),
])
def test_bad_configurations_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TransformerSpace(**kwargs)


def test_draws_a_frame():
    frame = SPACE.draw(list(SPACE.from_string(BASELINE).indices)[:5], highlight=4)
    assert frame.shape == (400, 640, 3) and frame.dtype == np.uint8


# -- networks ------------------------------------------------------------------------------------------
def test_forward_gives_next_token_logits_at_every_position(task):
    for text in (BASELINE, "w32|noattn-r1-relu", "w128|h4-r2-swiglu|noattn-r4-gelu|h1-r1-relu"):
        net = SPACE.build(SPACE.from_string(text), task)
        x = torch.from_numpy(task.x_val[:3])
        assert net(x).shape == (3, 64, task.num_classes)
        assert net(x[:, :10]).shape == (3, 10, task.num_classes)  # shorter windows too


@pytest.mark.parametrize("text", [BASELINE, "w96|h4-r1-swiglu|noattn-r2-relu|h1-r4-gelu"])
def test_a_position_never_sees_the_tokens_after_it(task, text):
    torch.manual_seed(0)
    net = SPACE.build(SPACE.from_string(text), task).eval()
    x = torch.from_numpy(task.x_val[:2].copy())
    changed = x.clone()
    changed[:, 40:] = (changed[:, 40:] + 7) % task.num_classes
    with torch.no_grad():
        before, after = net(x), net(changed)
    torch.testing.assert_close(before[:, :40], after[:, :40])
    assert not torch.allclose(before[:, 40:], after[:, 40:])


def test_tied_and_untied_heads_and_their_parameter_counts(task):
    arch_text = "w32|h1-r1-relu"
    tied = make_space("transformer").build(SPACE.from_string(arch_text), task)
    untied_space = make_space("transformer", tie_embeddings=False)
    untied = untied_space.build(untied_space.from_string(arch_text), task)
    assert tied.head.weight is tied.embed.token.weight
    assert count_params(untied) - count_params(tied) == 32 * task.num_classes
    # Embeddings (tokens, 64 positions), one layer (norms, qkv, proj, ffn), the final norm; the head is tied.
    vocab, d = task.num_classes, 32
    layer = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * d + d) + (d * d + d)
    assert count_params(tied) == vocab * d + 64 * d + layer + 2 * d


def test_flops_count_the_layers_attention_and_head(task):
    net = SPACE.build(SPACE.from_string("w32|h1-r1-relu"), task)
    d, length, vocab = 32, 64, task.num_classes
    linear = length * (d * 3 * d + d * d + d * d + d * d) + length * d * vocab
    attention = 2 * length * length * d
    assert count_flops(net, task.input_shape) == linear + attention


def test_refuses_tasks_that_are_not_language_modelling(task):
    with pytest.raises(ConfigError, match="builds language models"):
        SPACE.build(SPACE.from_string(BASELINE), make_task("digits"))
    for other in ("mlp", "layers", "rnn_layers"):
        with pytest.raises(ConfigError, match="space='transformer'"):
            make_space(other).check_task(task)


def test_per_op_keys_build_and_run(task):
    keys = SPACE.op_keys(SPACE.from_string("w64|h2-r4-gelu|noattn-r1-swiglu"), task)
    assert [k[0] for k in keys] == ["transformer/embed", "transformer/block", "transformer/block", "transformer/head"]
    for key in keys:
        module, shape = SPACE.build_op(key)
        x = torch.randint(0, task.num_classes, (1, *shape)) if key[0].endswith("embed") else torch.randn(1, *shape)
        assert module(x).shape[:2] == (1, 64)


def test_onnx_export_computes_what_torch_does(task, tmp_path):
    pytest.importorskip("onnxruntime")
    from nas_gym.model.onnx import check_onnx, export_onnx

    net = SPACE.build(SPACE.from_string("w32|h2-r2-swiglu|noattn-r1-gelu"), task)
    path = export_onnx(net, task.input_shape, tmp_path / "lm.onnx")
    assert check_onnx(path, net, torch.from_numpy(task.x_val[:8])) < 1e-4
