"""PNAS: progressive expansion on NAS-Bench-201 (embedded table), completion and expansion on layers, settings."""

from __future__ import annotations

import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.pnas import PNAS, complete, decision_blocks, expand
from nas_gym.error import ConfigError
from nas_gym.evaluators import EVALUATORS
from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.registry import Entry
from nas_gym.search.run import SearchRun
from nas_gym.spaces.layers import LayersSpace
from nas_gym.spaces.nb201 import OPS, NB201Space

FILL = OPS.index("nor_conv_3x3")  # the default nb201_fill


def _run(seed: int, budget: int, env_id: str = "NAS-Bench-201-v0", env_kwargs: dict | None = None, **hparams):
    searcher = PNAS(**hparams)
    with SearchRun(env_id, env_kwargs, agent="pnas", seed=seed, budget=budget) as run:
        searcher.search(run)
    return searcher, run


@pytest.fixture(scope="module")
def two_runs():
    """Two PNAS runs with seed 3 on the embedded NB201 table (LightGBM predictor: the fast one)."""
    pytest.importorskip("lightgbm")
    return _run(3, 40, predictor="gbdt"), _run(3, 40, predictor="gbdt")


def test_same_seed_same_history(two_runs):
    (_, first), (_, second) = two_runs
    assert len(first.history) == 40
    for k, (a, b) in enumerate(zip(first.history, second.history, strict=True)):
        assert a == b, f"evaluation {k} differs between two runs with seed 3: {a} != {b}"


def test_no_canonical_repeats(two_runs):
    (_, run), _ = two_runs
    space = run.space
    classes = [space.canonical(space.from_string(r["arch"])) for r in run.history]
    assert len(set(classes)) == len(classes)


def test_steps_fix_one_more_edge_each_and_unexpanded_edges_are_filled(two_runs):
    (searcher, run), _ = two_runs
    steps = searcher.steps
    # Step 1 is every choice of the first edge (5), then K = 10 per step until the budget of 40 is spent.
    assert [(b, len(archs)) for b, archs in steps] == [(1, 5), (2, 10), (3, 10), (4, 10), (5, 5)]
    assert sorted(a[0] for a in steps[0][1]) == list(range(len(OPS)))
    for blocks, archs in steps:
        for arch in archs:
            assert arch.indices[blocks:] == (FILL,) * (6 - blocks), f"{arch} fixes more than {blocks} edges"
    assert [str(a) for _, archs in steps for a in archs] == [r["arch"] for r in run.history]


def test_default_predictor_spends_a_small_budget():
    searcher, run = _run(0, 12)
    assert searcher.predictor == "mlp_ensemble" and len(run.history) == 12
    assert [(b, len(archs)) for b, archs in searcher.steps] == [(1, 5), (2, 7)]


def test_nb201_completion_fills_unexpanded_edges():
    space = NB201Space()
    conv = OPS.index("nor_conv_1x1")
    assert str(complete(space, (conv,), nb201_fill="skip_connect")) == (
        "|nor_conv_1x1~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    )
    assert complete(space, (conv,)).indices == (conv, *[FILL] * 5)
    assert complete(space, (conv,), nb201_fill="none").indices == (conv, 0, 0, 0, 0, 0)
    assert decision_blocks(space) == [range(k, k + 1) for k in range(6)]
    assert expand(space, (conv,), range(1, 2)) == [(conv, j) for j in range(len(OPS))]


def test_layers_blocks_are_slots_and_completion_adds_identity_slots():
    space = LayersSpace(num_layers=3)
    per_slot = space.num_decisions // 3
    assert decision_blocks(space) == [range(s * per_slot, (s + 1) * per_slot) for s in range(3)]
    assert decision_blocks(space, "decision") == [range(k, k + 1) for k in range(space.num_decisions)]
    blocks = decision_blocks(space)
    assert str(complete(space, ())) == "identity|identity|identity"

    # Slot 0's expansions are exactly the one-slot networks, each completed by two identity slots.
    first = expand(space, (), blocks[0])
    assert len(first) == LayersSpace(num_layers=1).size()
    assert all(str(complete(space, p)).endswith("|identity|identity") for p in first)

    # Depth grows slot by slot: expanding slot 1 keeps slot 0, the identity child equals its parent.
    parent = next(p for p in first if space.slot_values(complete(space, p), 0)["op"] == "conv")
    children = expand(space, parent, blocks[1])
    completed = [complete(space, c) for c in children]
    assert all(c.indices[:per_slot] == parent for c in completed)
    assert all(str(c).endswith("|identity") for c in completed)
    assert complete(space, parent) in completed
    # Masks hold: skip only after a convolution with the same filters, etc.
    for arch in completed:
        space.validate(arch.indices)


def test_layers_without_identity_completes_with_first_choices():
    space = LayersSpace(num_layers=2, ops=("conv", "max_pool"))
    arch = complete(space, ())
    assert arch.indices == space.repair((0,) * space.num_decisions)
    assert [space.slot_values(arch, s)["op"] for s in range(2)] == ["conv", "conv"]


class _DepthScore(Evaluator):
    """Training-free: the share of non-identity slots, so deeper layers networks score higher."""

    def __init__(self, space: LayersSpace):
        self.space = space

    def evaluate(self, arch):
        n = self.space.num_layers
        share = sum(self.space.slot_values(arch, s)["op"] != "identity" for s in range(n)) / n
        return Metrics(val_accuracy=share, test_accuracy=share)


def test_layers_search_grows_depth_slot_by_slot(monkeypatch):
    pytest.importorskip("lightgbm")
    # Registered for this test only: a name left in the global registry would show up in other tests' messages.
    monkeypatch.setitem(EVALUATORS._entries, "pnas_depth", Entry(lambda parts, /: _DepthScore(parts.space)))
    env_kwargs = {"space_kwargs": {"num_layers": 3, "skip": False}, "evaluator": "pnas_depth",
                  "latency": "none", "cache": False}
    searcher, run = _run(0, 18, "NAS-v0", env_kwargs, predictor="gbdt", k=5, max_initial=8)
    space = run.space
    assert [(b, len(a)) for b, a in searcher.steps] == [(1, 8), (2, 5), (3, 5)]
    for blocks, archs in searcher.steps:
        for arch in archs:
            ops = [space.slot_values(arch, s)["op"] for s in range(3)]
            assert ops[blocks:] == ["identity"] * (3 - blocks), f"{arch} has a layer past slot {blocks}"
    assert len(run.history) == 18 and run.best["reward"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("hparams", "match"),
    [
        ({"k": 0}, r"PNAS k must be an integer ≥ 1, got 0"),
        ({"expand_by": "edge"}, r"expand_by must be one of 'slot', 'decision'"),
        ({"nb201_fill": "conv3x3"}, r"nb201_fill must be one of"),
        ({"predictor": "mlp"}, r"Unknown predictor 'mlp'.*mlp_ensemble"),
        ({"beam": 5}, r"PNAS has no hyperparameter 'beam'"),
    ],
)
def test_settings_are_checked(hparams, match):
    with pytest.raises(ConfigError, match=match):
        PNAS(**hparams)
