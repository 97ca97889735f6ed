"""Pictures of an architecture being built: each space draws itself, the env returns the frame.

Shape, determinism, what changes a frame, each space's own picture, the table of any other space, a user's
own picture, and the env's ``render()`` returning what the space draws.
"""

import functools
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import matplotlib
import numpy as np
import pytest

import nas_gym  # noqa: F401
from nas_gym.error import ArchitectureError, ConfigError
from nas_gym.spaces import SPACES, Architecture, Decision, NB201Space, SearchSpace, drawing, make_space
from nas_gym.spaces.drawing import draw_architecture, draw_frame
from nas_gym.spaces.layers import CONV_OPS, POOL_OPS
from nas_gym.spaces.nb201 import EDGES

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("nb201", "layers", "mlp", "rnn_cell", "rnn_layers")


class KnobSpace(SearchSpace):
    """A user's own space, nothing like the shipped ones: three knobs of a made-up model."""

    name = "knobs"
    decisions = (
        Decision("optimizer", ("sgd", "adam", "lion")),
        Decision("warmup", ("none", "linear", "cosine")),
        Decision("precision", ("fp32", "bf16")),
    )

    def to_string(self, arch: Architecture) -> str:
        return ",".join(str(i) for i in arch.indices)

    def from_string(self, text: str) -> Architecture:
        return Architecture(self, tuple(int(t) for t in text.split(",")))

    def build(self, arch, task):
        raise NotImplementedError


def _space(name):
    return KnobSpace() if name == "knobs" else make_space(name)


def _episode(name, seed=0):
    space = _space(name)
    return space, list(space.sample(np.random.default_rng(seed)).indices)


@pytest.mark.parametrize("name", [*SHIPPED, "knobs"])
def test_every_step_of_an_episode_is_one_frame_size(name):
    space, arch = _episode(name)
    n = space.num_decisions
    for k in sorted({0, 1, n // 2, n - 1, n}):
        frame = draw_architecture(space, arch[:k], highlight=k - 1 if k else None)
        assert frame.shape == (400, 640, 3), (name, k)
        assert frame.dtype == np.uint8
        # Something is drawn, on the white page.
        assert (frame < 200).any() and (frame == 255).all(axis=-1).mean() > 0.5


@pytest.mark.parametrize("size", [(320, 200), (1280, 720), (401, 613), (64, 64)])
@pytest.mark.parametrize("name", ["nb201", "layers", "rnn_cell", "knobs"])
def test_the_frame_has_exactly_the_size_asked_for(name, size):
    space, arch = _episode(name, seed=1)
    frame = draw_architecture(space, arch[: len(arch) // 2 + 1], highlight=0, size=size)
    assert frame.shape == (size[1], size[0], 3)


@pytest.mark.parametrize("name", [*SHIPPED, "knobs"])
def test_changing_the_last_decision_changes_the_frame(name):
    space, arch = _episode(name)
    k = space.num_decisions - 1
    other = (arch[k] + 1) % space.decisions[k].n
    a = draw_architecture(space, arch, highlight=k)
    b = draw_architecture(space, [*arch[:k], other], highlight=k)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("name", [*SHIPPED, "knobs"])
def test_moving_the_highlight_changes_the_frame(name):
    space, arch = _episode(name)
    k = space.num_decisions - 1
    frames = [draw_architecture(space, arch, highlight=h) for h in (k, k - 1, None)]
    assert not np.array_equal(frames[0], frames[1])
    assert not np.array_equal(frames[0], frames[2])


@pytest.mark.parametrize("name", [*SHIPPED, "knobs"])
def test_same_inputs_give_the_same_pixels_whatever_the_users_style(name):
    space, arch = _episode(name, seed=2)
    half = arch[: len(arch) // 2]
    first = draw_architecture(space, half, highlight=len(half) - 1, title="run 7")
    again = draw_architecture(space, half, highlight=len(half) - 1, title="run 7")
    assert np.array_equal(first, again)
    styled = {"font.family": "serif", "font.size": 20, "lines.linewidth": 6, "figure.dpi": 50,
              "patch.facecolor": "red", "text.color": "green", "axes.facecolor": "black"}
    with matplotlib.rc_context(styled):
        assert np.array_equal(first, draw_architecture(space, half, highlight=len(half) - 1, title="run 7"))


def test_decided_and_undecided_parts_differ():
    """A partial architecture is drawn as such: deciding the next edge changes the frame, not only the header."""
    space, arch = _episode("nb201")
    three = draw_architecture(space, arch[:3])
    four = draw_architecture(space, arch[:4])
    # Below the header (title, progress bar), the body differs.
    assert not np.array_equal(three[90:], four[90:])


def test_the_title_is_drawn():
    space, arch = _episode("layers")
    assert not np.array_equal(draw_architecture(space, arch, title="NAS-v0"), draw_architecture(space, arch))


# What each shipped space's draw() should give: its own picture, whatever the base class draws.
OWN_PICTURES = {
    "nb201": functools.partial(drawing.nb201_cell_picture, edges=EDGES),
    "layers": functools.partial(drawing.stack_picture, conv_ops=CONV_OPS, pool_ops=POOL_OPS),
    "mlp": drawing.stack_picture,
    "rnn_layers": drawing.stack_picture,
    "rnn_cell": drawing.rnn_cell_picture,
}


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_space_draws_its_own_picture(name):
    space, arch = _episode(name, seed=4)
    half = arch[: len(arch) // 2 + 1]
    frame = space.draw(half, highlight=len(half) - 1, title="t")
    assert np.array_equal(frame, draw_frame(space, half, OWN_PICTURES[name], highlight=len(half) - 1, title="t"))
    assert not np.array_equal(frame, draw_frame(space, half, drawing.table_picture, highlight=len(half) - 1,
                                                title="t"))
    # The module-level function is the method, for convenience.
    assert np.array_equal(frame, draw_architecture(space, half, highlight=len(half) - 1, title="t"))


def test_any_other_space_draws_the_table():
    space = KnobSpace()
    assert type(space).draw is SearchSpace.draw
    assert np.array_equal(space.draw([1], highlight=0), draw_frame(space, [1], drawing.table_picture, highlight=0))


def test_an_nb201_subclass_whose_decisions_are_not_the_edges_draws_the_table():
    class Renamed(NB201Space):
        def __init__(self):
            super().__init__()
            self.decisions = tuple(Decision(f"e{k}", d.choices) for k, d in enumerate(self.decisions))

    space = Renamed()
    assert np.array_equal(space.draw([3, 1]), draw_frame(space, [3, 1], drawing.table_picture))


def test_a_slot_space_that_is_not_laid_out_in_slots_draws_the_table():
    space = make_space("mlp", num_layers=2)
    space.decisions = tuple(Decision(f"d{k}", d.choices) for k, d in enumerate(space.decisions))
    assert drawing.slot_layout(space) is None
    assert np.array_equal(space.draw([1]), draw_frame(space, [1], drawing.table_picture))
    with pytest.raises(ConfigError, match="not a stack of slots"):
        draw_frame(space, [1], drawing.stack_picture)


MARK = np.array([0x12, 0xAB, 0x34])


def _stripe(c, space, chosen, highlight, body):
    """A user's own picture: one band of a colour no other picture uses, as wide as the decisions made."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = body
    width = (x1 - x0) * len(chosen) / space.num_decisions
    c.ax.add_artist(Rectangle((x0, y0), width, y1 - y0, fc="#12ab34", ec="none"))


class StripeSpace(KnobSpace):
    """A user's space with a picture of its own: it overrides draw."""

    name = "stripes"

    def draw(self, decisions, highlight=None, title=None, size=(640, 400)):
        return draw_frame(self, decisions, _stripe, highlight=highlight, title=title, size=size)


@pytest.fixture
def stripes_space():
    """``StripeSpace`` registered for one test (a registry other tests read whole, e.g. test_make_space)."""
    SPACES.register("test_drawing_stripes", StripeSpace)
    yield "test_drawing_stripes"
    SPACES._entries.pop("test_drawing_stripes")


def _marked(frame):
    return (frame == MARK).all(axis=-1).sum()


def test_a_users_space_draws_its_own_picture_with_the_shared_header():
    space = StripeSpace()
    frame = space.draw([2, 1], highlight=1)
    table = draw_frame(space, [2, 1], drawing.table_picture, highlight=1)
    assert _marked(frame) > 10_000 and _marked(table) == 0
    # The header (title, step counter, progress bar) is the one every picture shares.
    assert np.array_equal(frame[:60], table[:60])
    assert _marked(space.draw([2, 1, 0])) > _marked(frame)


def test_the_env_returns_the_frame_its_space_draws(stripes_space):
    env = gym.make("NAS-v0", space=stripes_space, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(2)
    env.step(1)
    frame = env.render()
    space = env.unwrapped.space
    assert np.array_equal(frame, space.draw([2, 1], highlight=1, title="NAS-v0  ·  stripes"))
    assert _marked(frame) > 10_000
    env.close()


def test_the_drawing_kit_imports_no_space_module():
    """The spaces import the kit, so it reads them by duck typing: at run time it imports none of them."""
    import grimp

    graph = grimp.build_graph("nas_gym", exclude_type_checking_imports=True, cache_dir=None)
    imported = graph.find_modules_directly_imported_by("nas_gym.spaces.drawing")
    assert not {m for m in imported if m.startswith("nas_gym.spaces")}
    assert {"nas_gym.spaces.base", "nas_gym.spaces.nb201", "nas_gym.spaces.slots", "nas_gym.spaces.rnn_cell"} <= \
        graph.find_modules_that_directly_import("nas_gym.spaces.drawing")


def test_a_users_space_draws_as_a_table_with_the_highlighted_row():
    space = KnobSpace()
    frame = draw_architecture(space, [2, 1], highlight=1)
    # The highlighted row is a band of the accent's tint across the table's width.
    tint = np.round(np.array(drawing._tint(drawing._ACCENT, 0.7)) * 255)
    band = (np.abs(frame.astype(int) - tint).max(axis=-1) <= 2).sum(axis=1)
    assert band.max() > 0.5 * frame.shape[1]
    assert not np.array_equal(frame, draw_architecture(space, [2, 1], highlight=0))


def test_slot_spaces_ghost_empty_slots_and_leave_out_masked_fields():
    space = make_space("mlp", num_layers=2)
    full = space.from_string("64-relu-batch-0.1|none")
    lines, family = drawing._slot_lines(space, drawing.slot_layout(space)[0][1], full.indices, list(full.indices), 1)
    assert family == "empty" and [ln.text for ln in lines] == ["empty"]
    layers = make_space("layers", num_layers=2)
    pool = layers.from_string("max_pool3x3|conv3x3-16-relu")
    lines, family = drawing._slot_lines(layers, drawing.slot_layout(layers)[0][0], pool.indices, list(pool.indices), 0,
                                        CONV_OPS, POOL_OPS)
    # A pool has no channels or activation of its own: those fields are masked and not drawn.
    assert family == "pool" and [ln.text for ln in lines] == ["max pool", "3×3 kernel", "no residual"]


def test_bad_arguments_are_refused_with_a_message():
    space = make_space("nb201")
    with pytest.raises(ArchitectureError, match="has 6 decisions, got 7"):
        draw_architecture(space, [0] * 7)
    with pytest.raises(ArchitectureError, match=r"Decision 1 \('edge2<-0'\) takes 0..4"):
        draw_architecture(space, [0, 5])
    with pytest.raises(ArchitectureError, match="integers"):
        draw_architecture(space, [0, 1.5])
    with pytest.raises(ConfigError, match=r"highlight must be the index of a decision made \(0..1\)"):
        draw_architecture(space, [0, 1], highlight=2)
    with pytest.raises(ConfigError, match="size must be"):
        draw_architecture(space, [0], size=(640,))
    with pytest.raises(ConfigError, match="size must be"):
        draw_architecture(space, [0], size=(32, 400))


def test_the_examples_script_writes_the_docs_frames(tmp_path):
    proc = subprocess.run([sys.executable, "scripts/render_examples.py", "--out", str(tmp_path), "--episodes", "0"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("render_nb201.png", "render_layers.png", "render_rnn_cell.png"):
        path = tmp_path / name
        assert 10_000 < path.stat().st_size < 150_000, name
        assert f"wrote {path}" in proc.stdout
