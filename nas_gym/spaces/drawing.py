"""Pictures of an architecture being built: the drawing kit behind ``SearchSpace.draw``.

Each space draws itself (:meth:`nas_gym.spaces.SearchSpace.draw`, the frames
of the env's ``render_mode="rgb_array"``): the decisions made so far as an
``H x W x 3`` ``uint8`` image of a fixed size, so the frames of an episode
stack into a video. :func:`draw_frame` draws what every picture shares (the
title, the step counter, what was just decided, a progress bar) and hands the
rest of the frame to a space's picture, a function of a :class:`Canvas`:

- :func:`table_picture`: a table of decision names and choices, any space's by default
  (a user's own included);
- :func:`nb201_cell_picture`: the ``nb201`` cell as a DAG on its 4 nodes, each edge coloured
  and labelled by its op;
- :func:`stack_picture`: the stack of layer slots of ``layers``, ``mlp`` and ``rnn_layers``
  from the input to the head, empty slots ghosted and residual connections drawn as arcs;
- :func:`rnn_cell_picture`: the ``rnn_cell`` cell's nodes in order, each arc joining a node to
  its input node, the loose ends averaged into the new state.

Undecided parts are grey, dashed and marked ``?``; the decision just made is
drawn in an accent colour. matplotlib is imported on the first call and drawn
off-screen (its Agg renderer) under matplotlib's default style, so the user's
backend and ``rcParams`` neither matter nor change.

The spaces import this module, so it reads them by duck typing and is given
what it needs of them (the NB201 edges, the ops drawn as convolutions) as
arguments: it imports no space module.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from nas_gym.spaces.base import SearchSpace
    from nas_gym.spaces.slots import SlotReader

__all__ = [
    "Canvas",
    "draw_architecture",
    "draw_frame",
    "nb201_cell_picture",
    "rnn_cell_picture",
    "slot_layout",
    "stack_picture",
    "table_picture",
]

# Pixels per inch of the off-screen figure; with the axes spanning the figure, data units are pixels.
_DPI = 100
# Below this the text cannot be read at all; the frame keeps its size and the layout shrinks instead.
_MIN_SIZE = 64

# One palette for every picture: Okabe-Ito hues (told apart by colour-blind viewers) on neutral greys.
_BG = "#ffffff"
_INK = "#1f2933"
_TEXT = "#323f4b"
_MUTED = "#7b8794"
_FAINT = "#cbd2d9"
_GHOST = "#f5f7fa"
_ACCENT = "#f5b700"
_ACCENT_INK = "#a15c00"
_BLUE, _GREEN, _VERMILLION, _PURPLE, _SKY = "#0072b2", "#009e73", "#d55e00", "#7b4ea3", "#56b4e9"

# NB201 ops: colour, line style, label on the edge.
_NB201_OPS = {
    "none": (_MUTED, ":", "none"),
    "skip_connect": (_BLUE, "-", "skip"),
    "nor_conv_1x1": (_GREEN, "-", "conv 1×1"),
    "nor_conv_3x3": (_VERMILLION, "-", "conv 3×3"),
    "avg_pool_3x3": (_PURPLE, "-", "avg pool 3×3"),
}
_RNN_ACTS = {"tanh": _BLUE, "relu": _VERMILLION, "sigmoid": _GREEN, "identity": _PURPLE}
_SLOT_NAME = re.compile(r"^layer(\d+)/(\w+)$")
# How an undecided slot field reads ("residual ?"), where its decided values do not say the field's name.
_OPEN_NAMES = {"skip": "residual", "filters": "channels", "act": "activation"}


def draw_architecture(
    space: SearchSpace,
    decisions: Sequence[int],
    highlight: int | None = None,
    title: str | None = None,
    size: tuple[int, int] = (640, 400),
) -> np.ndarray:
    """Draw the (partial) architecture given by ``decisions`` in ``space``: ``space.draw(...)``.

    Args:
        space: The search space the decisions belong to; its :meth:`~nas_gym.spaces.SearchSpace.draw`
            picks the picture.
        decisions: Choice indices made so far, in decision order: from none
            to ``space.num_decisions``. Later decisions are drawn as undecided.
        highlight: Index of the decision to draw in the accent colour (the one
            just made), or None.
        title: Heading of the frame; the space's name when None.
        size: ``(width, height)`` of the frame in pixels, each at least 64.

    Returns:
        An RGB image, ``uint8`` of shape ``(height, width, 3)``.

    Raises:
        ArchitectureError: Too many decisions, or a choice index out of range.
        ConfigError: ``highlight`` is not the index of a decision made, or ``size`` is not two integers >= 64.

    Example:
        >>> from nas_gym.spaces import NB201Space
        >>> frame = draw_architecture(NB201Space(), [3, 1, 0], highlight=2)
        >>> frame.shape, frame.dtype
        ((400, 640, 3), dtype('uint8'))
    """
    return space.draw(decisions, highlight=highlight, title=title, size=size)


def draw_frame(
    space: SearchSpace,
    decisions: Sequence[int],
    picture: Callable[..., None],
    highlight: int | None = None,
    title: str | None = None,
    size: tuple[int, int] = (640, 400),
) -> np.ndarray:
    """Draw a frame of ``space``: the header every picture shares, and ``picture`` below it.

    What a space's :meth:`~nas_gym.spaces.SearchSpace.draw` calls with its own picture.

    Args:
        space: The search space the decisions belong to.
        decisions: Choice indices made so far, in decision order: from none
            to ``space.num_decisions``. Later decisions are drawn as undecided.
        picture: Draws the body of the frame, called as
            ``picture(canvas, space, chosen, highlight, body)``: a :class:`Canvas`,
            the space, the decisions as a tuple of ints, the checked ``highlight`` and
            the box ``(x0, y0, x1, y1)`` in pixels (origin bottom left) left below
            the header. :func:`table_picture` is one.
        highlight: Index of the decision to draw in the accent colour (the one
            just made), or None.
        title: Heading of the frame; the space's name when None.
        size: ``(width, height)`` of the frame in pixels, each at least 64.

    Returns:
        An RGB image, ``uint8`` of shape ``(height, width, 3)`` -- exactly, for
        any space and decisions. The same arguments give the same pixels.

    Raises:
        ArchitectureError: Too many decisions, or a choice index out of range.
        ConfigError: ``highlight`` is not the index of a decision made, or ``size`` is not two integers >= 64.

    Example:
        >>> from nas_gym.spaces import NB201Space
        >>> frame = draw_frame(NB201Space(), [3, 1], table_picture, highlight=1, size=(320, 200))
        >>> frame.shape
        (200, 320, 3)
    """
    width, height = _check_size(size)
    chosen = _check_decisions(space, decisions)
    if highlight is not None:
        if isinstance(highlight, bool) or not isinstance(highlight, (int, np.integer)) \
                or not 0 <= highlight < len(chosen):
            raise ConfigError(
                f"highlight must be the index of a decision made (0..{len(chosen) - 1}) or None, got {highlight!r}."
            )
        highlight = int(highlight)

    import matplotlib.style

    # The default style, whatever the user set: the same inputs must give the same pixels everywhere.
    with matplotlib.style.context("default"):
        canvas, ax = _blank(width, height)
        try:
            c = Canvas(ax, width, height)
            body = _header(c, space, chosen, highlight, space.name if title is None else str(title))
            picture(c, space, chosen, highlight, body)
            canvas.draw()
            rgba = np.asarray(canvas.buffer_rgba())
        finally:
            for artist in [*ax.texts, *ax.patches, *ax.lines, *ax.artists]:
                artist.remove()
    # Agg sizes its buffer from the figure's inches; copying into a frame of the size asked for keeps a float
    # rounding from ever costing a pixel.
    frame = np.full((height, width, 3), 255, dtype=np.uint8)
    h, w = min(height, rgba.shape[0]), min(width, rgba.shape[1])
    frame[:h, :w] = rgba[:h, :w, :3]
    return frame


_FIGURES = threading.local()


def _blank(width: int, height: int) -> tuple[Any, Axes]:
    """An empty off-screen canvas of ``width`` x ``height`` pixels and its axes, in pixel units.

    One per frame size and thread, kept between calls: a fresh figure would cost a new renderer each
    frame, and with it matplotlib's caches of text layouts and parsed math, most of a frame's time.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figures = _FIGURES.__dict__.setdefault("by_size", {})
    if (width, height) not in figures:
        if len(figures) >= 4:
            figures.pop(next(iter(figures)))
        fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor=_BG)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.set_axis_off()
        figures[(width, height)] = canvas, ax
    return figures[(width, height)]


def _check_size(size: Any) -> tuple[int, int]:
    ok = isinstance(size, (tuple, list)) and len(size) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= _MIN_SIZE for v in size
    )
    if not ok:
        raise ConfigError(f"size must be (width, height) in pixels, two integers >= {_MIN_SIZE}, got {size!r}.")
    return int(size[0]), int(size[1])


def _check_decisions(space: SearchSpace, decisions: Sequence[int]) -> tuple[int, ...]:
    try:
        chosen = tuple(operator.index(i) for i in decisions)
    except TypeError as e:
        raise ArchitectureError(f"decisions must be choice indices (integers), got {list(decisions)!r}.") from e
    if len(chosen) > space.num_decisions:
        raise ArchitectureError(
            f"Space {space.name!r} has {space.num_decisions} decisions, got {len(chosen)} choice indices."
        )
    for k, (d, i) in enumerate(zip(space.decisions, chosen, strict=False)):
        if not 0 <= i < d.n:
            raise ArchitectureError(f"Decision {k} ({d.name!r}) takes 0..{d.n - 1} ({', '.join(d.choices)}), got {i}.")
    return chosen


# -- the canvas: pixel coordinates, fonts that scale with the frame, text that fits -----------------


class Canvas:
    """The axes of one frame in pixel units (origin bottom left), with font sizes scaled to the frame.

    What a picture draws on (see :func:`draw_frame`): ``ax`` is the matplotlib axes, ``width`` and ``height``
    the frame's size in pixels; sizes are given as at the default 640 x 400 and scaled to the frame.

    Args:
        ax: Axes spanning the figure, its data units pixels.
        width: Width of the frame in pixels.
        height: Height of the frame in pixels.
    """

    def __init__(self, ax: Axes, width: int, height: int) -> None:
        self.ax, self.width, self.height = ax, width, height
        # 1.0 at the default 640 x 400.
        self.u = min(width / 640, height / 400)

    def pt(self, base: float) -> float:
        """A font size of ``base`` points at 640 x 400, scaled to this frame."""
        return max(base * self.u, 4.0)

    def px(self, base: float) -> float:
        """A length of ``base`` pixels at 640 x 400, scaled to this frame."""
        return base * self.u

    def font(self, pt: float, bold: bool = False) -> Any:
        """The frame's font (DejaVu Sans, whatever the user's style) at ``pt`` points."""
        return _font(pt, bold)

    def measure(self, text: str, pt: float, bold: bool = False) -> tuple[float, float]:
        """Width and height in pixels of ``text`` set at ``pt`` points (one line)."""
        return _measure(text, round(pt, 3), bold)

    def fit(self, texts: Sequence[str], width: float, pt: float, bold: bool = False) -> float:
        """The largest size up to ``pt`` at which each of ``texts`` is at most ``width`` pixels wide."""
        for _ in range(8):
            widest = max((self.measure(t, pt, bold)[0] for t in texts if t), default=0.0)
            if widest <= width or pt <= 1.0:
                break
            # Widths grow about linearly with the size; glyph hinting makes up the rest, hence the loop.
            pt = max(pt * width / widest * 0.98, 1.0)
        return pt

    def text(self, x: float, y: float, s: str, pt: float, color: str = _TEXT, bold: bool = False,
             ha: str = "center", va: str = "center", **kw: Any) -> Any:
        """Set ``s`` at ``(x, y)`` in the frame's font; ``kw`` goes to matplotlib's ``Axes.text``."""
        return self.ax.text(x, y, s, fontproperties=self.font(pt, bold), color=color, ha=ha, va=va, **kw)

    def clipped(self, s: str, width: float, pt: float, bold: bool = False) -> str:
        """``s``, cut with an ellipsis to at most ``width`` pixels at ``pt`` points."""
        if self.measure(s, pt, bold)[0] <= width:
            return s
        while s and self.measure(s + "…", pt, bold)[0] > width:
            s = s[:-1]
        return s + "…" if s else ""


def _font(pt: float, bold: bool) -> Any:
    from matplotlib.font_manager import FontProperties

    # DejaVu Sans ships with matplotlib: the same glyphs on every machine.
    return FontProperties(family="DejaVu Sans", size=pt, weight="bold" if bold else "normal")


@functools.lru_cache(maxsize=4096)
def _measure(text: str, pt: float, bold: bool) -> tuple[float, float]:
    # Laying out text is most of a frame's cost, and an episode's frames repeat their labels.
    w, h, _ = _renderer().get_text_width_height_descent(text, _font(pt, bold), ismath=False)
    return w, h


@functools.lru_cache(maxsize=1)
def _renderer() -> Any:
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(1, 1, _DPI)


def _tint(color: str, amount: float) -> tuple[float, float, float]:
    """``color`` mixed with white: ``amount`` 0 is the colour, 1 is white."""
    from matplotlib.colors import to_rgb

    return tuple(v + (1 - v) * amount for v in to_rgb(color))  # type: ignore[return-value]


def _header(c: Canvas, space: SearchSpace, chosen: tuple[int, ...], highlight: int | None,
            title: str) -> tuple[float, float, float, float]:
    """Title, step counter, what was just decided and a progress bar; returns the body's box (x0, y0, x1, y1)."""
    W, H, n = c.width, c.height, space.num_decisions
    pad = c.px(16)
    title_pt, small_pt = c.pt(14), c.pt(9.5)
    step = f"step {len(chosen)}/{n}"
    step_w = c.measure(step, small_pt)[0]
    title_h = c.measure("Ag", title_pt, True)[1]
    small_h = c.measure("Ag", small_pt)[1]
    top = H - pad
    c.text(W - pad, top - title_h / 2, step, small_pt, _MUTED, ha="right")
    c.text(pad, top - title_h / 2, c.clipped(title, W - 3 * pad - step_w, title_pt, True), title_pt, _INK, True,
           ha="left")
    y = top - title_h - c.px(6) - small_h / 2
    if highlight is not None:
        d = space.decisions[highlight]
        lead = f"{d.name}  →  "
        lead_w = min(c.measure(lead, small_pt)[0], (W - 2 * pad) / 2)
        c.text(pad, y, c.clipped(lead, lead_w, small_pt), small_pt, _MUTED, ha="left")
        c.text(pad + lead_w, y, c.clipped(d.choices[chosen[highlight]], W - 2 * pad - lead_w, small_pt, True),
               small_pt, _ACCENT_INK, True, ha="left")
    else:
        note = "complete" if len(chosen) == n else "no decisions yet" if not chosen else ""
        c.text(pad, y, note, small_pt, _MUTED, ha="left")
    # One segment per decision: where the episode is, at a glance.
    bar_y, bar_h = y - small_h / 2 - c.px(10), max(c.px(4), 2.0)
    gap = min(c.px(3), 0.3 * (W - 2 * pad) / max(n, 1))
    seg = (W - 2 * pad - gap * (n - 1)) / max(n, 1)
    from matplotlib.patches import Rectangle

    for k in range(n):
        color = _ACCENT if k == highlight else "#52606d" if k < len(chosen) else "#e4e7eb"
        c.ax.add_artist(Rectangle((pad + k * (seg + gap), bar_y - bar_h), seg, bar_h, fc=color, ec="none"))
    return pad, pad, W - pad, bar_y - bar_h - c.px(12)


def _legend(c: Canvas, items: Sequence[tuple[str, str, str]], x0: float, x1: float, y: float, pt: float) -> None:
    """A one-line legend centred between ``x0`` and ``x1``: (label, colour, line style) per item."""
    from matplotlib.lines import Line2D

    sample, gap, space_ = c.px(20), c.px(5), c.px(16)
    widths = [sample + gap + c.measure(label, pt)[0] for label, _, _ in items]
    total = sum(widths) + space_ * (len(items) - 1)
    if total > x1 - x0:
        pt *= (x1 - x0) / total * 0.98
        sample, gap, space_ = (v * (x1 - x0) / total for v in (sample, gap, space_))
        widths = [sample + gap + c.measure(label, pt)[0] for label, _, _ in items]
        total = sum(widths) + space_ * (len(items) - 1)
    x = (x0 + x1 - total) / 2
    for (label, color, style), w in zip(items, widths, strict=True):
        c.ax.add_line(Line2D([x, x + sample], [y, y], color=color, linestyle=style, linewidth=max(c.px(2.5), 1.0),
                             solid_capstyle="round", dash_capstyle="round"))
        c.text(x + sample + gap, y, label, pt, _TEXT, ha="left")
        x += w + space_


def _arrow(c: Canvas, a: tuple[float, float] | None = None, b: tuple[float, float] | None = None,
           color: str = _MUTED, rad: float = 0.0, style: str = "-", width: float = 2.0, head: bool = True,
           zorder: float = 2, **kw: Any) -> Any:
    """An arrow from ``a`` to ``b``, bent by ``rad`` as matplotlib's ``arc3`` (negative: to the left).

    Or, with ``path=`` and no ends, along that path. ``width`` is in pixels at 640 x 400; ``shrinkA`` and
    ``shrinkB``, if given, in points.
    """
    from matplotlib.patches import FancyArrowPatch

    lw = max(c.px(width), 0.8)
    arrowstyle = "-|>,head_length=0.75,head_width=0.36" if head else "-"
    ends = {} if a is None or b is None else {"posA": a, "posB": b, "connectionstyle": f"arc3,rad={rad:.4f}"}
    patch = FancyArrowPatch(**ends, arrowstyle=arrowstyle,
                            mutation_scale=max(c.px(10), 4.0), color=color, linewidth=lw, linestyle=style,
                            capstyle="round", joinstyle="round", zorder=zorder, **kw)
    c.ax.add_artist(patch)
    return patch


def _halo(c: Canvas, a: tuple[float, float], b: tuple[float, float], rad: float = 0.0, **kw: Any) -> None:
    """A broad accent stroke under the path of an arrow from ``a`` to ``b``: the decision just made."""
    _arrow(c, a, b, _ACCENT, rad, width=11, head=False, zorder=1, alpha=0.45, **kw)


def _trim(a: tuple[float, float], b: tuple[float, float], rad: float, ra: float,
          rb: float) -> tuple[tuple[float, float], tuple[float, float], float]:
    """The ``arc3`` curve from ``a`` to ``b`` cut back by ``ra`` at its start and ``rb`` at its end.

    The cut curve keeps the control point, so it leaves ``a`` and enters ``b`` along the same directions: the
    endpoints and bend of an edge between two circles of these radii. Cheaper than matplotlib's clipping
    to patches, which searches the curve twice a frame.
    """
    (x1, y1), (x2, y2) = a, b
    cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)

    def toward(p: tuple[float, float], r: float) -> tuple[float, float]:
        dx, dy = cx - p[0], cy - p[1]
        d = math.hypot(dx, dy) or 1.0
        return p[0] + r * dx / d, p[1] + r * dy / d

    a2, b2 = toward(a, ra), toward(b, rb)
    mx, my = (a2[0] + b2[0]) / 2, (a2[1] + b2[1]) / 2
    dx, dy = b2[0] - a2[0], b2[1] - a2[1]
    return a2, b2, ((cx - mx) * dy - (cy - my) * dx) / ((dx * dx + dy * dy) or 1.0)


def _arc_apex(a: tuple[float, float], b: tuple[float, float], rad: float) -> tuple[float, float]:
    """The middle of matplotlib's ``arc3`` curve from ``a`` to ``b``: halfway to its control point."""
    (x1, y1), (x2, y2) = a, b
    return (x1 + x2) / 2 + rad * (y2 - y1) / 2, (y1 + y2) / 2 - rad * (x2 - x1) / 2


# -- nb201: the cell as a DAG ------------------------------------------------------------------------


def nb201_cell_picture(c: Canvas, space: SearchSpace, chosen: tuple[int, ...], highlight: int | None,
                       body: tuple[float, float, float, float], *, edges: Sequence[tuple[int, int]]) -> None:
    """The NAS-Bench-201 cell as a DAG on its 4 nodes, each edge coloured and labelled by its op.

    A picture for :func:`draw_frame`, ``NB201Space``'s.

    Args:
        c: The canvas.
        space: The space the decisions belong to.
        chosen: The decisions made so far.
        highlight: Index of the decision just made, or None.
        body: The box ``(x0, y0, x1, y1)`` to draw in, in pixels.
        edges: ``(to, from)`` nodes of each decision's edge, in decision order.
    """
    from matplotlib.patches import Circle

    x0, y0, x1, y1 = body
    legend_pt = c.pt(9)
    legend_h = c.measure("Ag", legend_pt)[1] + c.px(8)
    items = [(label, color, style) for color, style, label in _NB201_OPS.values()]
    _legend(c, [*items, ("undecided", _FAINT, "--")], x0, x1, y0 + legend_h / 2, legend_pt)
    y0 += legend_h + c.px(6)

    node_pt, cap_pt, label_pt = c.pt(13), c.pt(9), c.pt(10)
    r = min(c.px(21), (y1 - y0) / 9)
    cap_w = max(c.measure(s, cap_pt)[0] for s in ("input", "output"))
    margin = r + c.px(8) + cap_w
    xs = np.linspace(x0 + margin, x1 - margin, 4)
    step = xs[1] - xs[0]
    label_h = c.measure("Ag", label_pt)[1] * 1.8
    # Arcs: edge 2<-0 and 3<-0 above the line of nodes (3<-0 higher), 3<-1 below; cutting an arc back to the
    # nodes' rims lifts its middle by up to r / 2. In a tall frame the arcs keep a pleasing bend and centre.
    room = max(y1 - y0 - label_h - r, r * 4)
    low, high = min(0.36 * room, 0.8 * step), min(0.64 * room, 1.2 * step)
    yc = y0 + (y1 - y0 - low - high) / 2 + low
    bends = {(1, 0): 0.0, (2, 1): 0.0, (3, 2): 0.0, (2, 0): -2 * low / (2 * step),
             (3, 1): 2 * low / (2 * step), (3, 0): -2 * high / (3 * step)}

    for i, x in enumerate(xs):
        io = i in (0, 3)
        c.ax.add_artist(Circle((x, yc), r, fc=_INK if io else _BG, ec=_INK, lw=max(c.px(2), 1.0), zorder=4))
        c.text(x, yc, str(i), node_pt, _BG if io else _INK, True, zorder=5)
    c.text(xs[0] - r - c.px(6), yc, "input", cap_pt, _MUTED, ha="right")
    c.text(xs[3] + r + c.px(6), yc, "output", cap_pt, _MUTED, ha="left")

    # One label size for every edge and every op, so that the frames of an episode do not jump.
    labels = [label for _, _, label in _NB201_OPS.values()]
    label_pt = c.fit(labels, step - 2 * r - c.px(14), label_pt)
    for k, (j, i) in enumerate(edges):
        # Each edge runs from rim to rim, the curve it would have from centre to centre.
        a, b, rad = _trim((xs[i], yc), (xs[j], yc), bends[(j, i)], r, r + c.px(1))
        decided = k < len(chosen)
        op = space.decisions[k].choices[chosen[k]] if decided else None
        color, style, label = _NB201_OPS.get(op, (_TEXT, "-", op)) if decided else (_FAINT, "--", "?")
        hot = k == highlight
        if hot:
            _halo(c, a, b, rad)
        drawn = decided and op != "none"
        _arrow(c, a, b, color, rad, style=style, width=2.4 if drawn else 1.6, head=drawn)
        lx, ly = _arc_apex(a, b, rad)
        box = {"boxstyle": "round,pad=0.35", "fc": _tint(_ACCENT, 0.55) if hot else _BG,
               "ec": _ACCENT if hot else color, "lw": max(c.px(2.2 if hot else 1.2), 0.8),
               "linestyle": "-" if drawn or hot else "--"}
        c.text(lx, ly, label, label_pt, _TEXT if not drawn else color, hot or drawn, bbox=box, zorder=6)


# -- layers, mlp, rnn_layers: a stack of slots -------------------------------------------------------


@dataclass
class _Line:
    """One line of text in a box: what it says, the decisions it shows, and how it looks."""

    text: str
    decisions: tuple[int, ...]
    kind: str  # "title", "value", "absent" (a field set to nothing, e.g. no dropout) or "open" (undecided)


def slot_layout(space: SlotReader) -> tuple[list[dict[str, int]], list[int]] | None:
    """Where a slot space's decisions sit, as :func:`stack_picture` reads them.

    Args:
        space: A space of ``num_layers`` slots of ``FIELDS``, its decisions named ``layer<i>/<field>``.

    Returns:
        Per slot, field -> decision index; and the indices of the decisions after the slots. None
        where the decisions are named or ordered otherwise.
    """
    num_layers = getattr(space, "num_layers", None)
    if not isinstance(num_layers, int) or num_layers < 1 or not space.FIELDS:
        return None
    slots: list[dict[str, int]] = [{} for _ in range(num_layers)]
    tail: list[int] = []
    for k, d in enumerate(space.decisions):
        m = _SLOT_NAME.match(d.name)
        if m is None:
            tail.append(k)
        elif int(m.group(1)) < num_layers and m.group(2) in space.FIELDS and not tail:
            slots[int(m.group(1))][m.group(2)] = k
        else:
            return None
    if any(space.FIELDS[0] not in s for s in slots):
        return None
    return slots, tail


def _field_text(field: str, choice: str) -> tuple[str, str]:
    """How a slot field's choice reads in its box, and its kind (``absent``: the field adds nothing)."""
    if field == "filters":
        return f"{choice} ch", "value"
    if field in ("hidden", "width"):
        return f"{choice} units", "value"
    if field == "stride":
        return f"stride {choice}", "value"
    if field == "kernel":
        return f"{choice}×{choice} kernel", "value"
    if field == "direction":
        return {"uni": ("unidirectional", "value"), "bi": ("bidirectional", "value")}.get(choice, (choice, "value"))
    absent = {"norm": "no norm", "attention": "no SE", "dropout": "no dropout", "skip": "no residual"}
    if field in absent and choice in ("none", "0", "no", "False"):
        return absent[field], "absent"
    if field == "norm":
        return f"{choice} norm", "value"
    if field == "attention":
        return ("SE" if choice == "se" else choice), "value"
    if field == "dropout":
        return f"dropout {choice}", "value"
    if field == "skip":
        return "+ residual", "value"
    if field in ("act", "activation"):
        return choice, "value"
    return f"{field} {choice}", "value"


def _slot_title(space: SlotReader, slot: dict[str, int], chosen: tuple[int, ...], conv_ops: Sequence[str],
                pool_ops: Sequence[str]) -> tuple[_Line, str]:
    """The heading line of a slot and its family (which colour), from the slot's first field."""
    first = space.FIELDS[0]
    k = slot[first]
    if k >= len(chosen):
        return _Line("?", (k,), "open"), "open"
    choice = space.decisions[k].choices[chosen[k]]
    if choice in ("none", "identity"):
        return _Line("empty" if choice == "none" else "identity", (k,), "title"), "empty"
    if first == "op":
        family = "conv" if choice in conv_ops else "pool" if choice in pool_ops else "other"
        return _Line(choice.replace("_", " "), (k,), "title"), family
    if first == "width":
        return _Line(f"{choice} units", (k,), "title"), "dense"
    if first == "cell":
        return _Line(choice.upper(), (k,), "title"), "rnn"
    return _Line(f"{first} {choice}", (k,), "title"), "other"


def _slot_lines(space: SlotReader, slot: dict[str, int], chosen: tuple[int, ...], padded: list[int],
                idx: int, conv_ops: Sequence[str] = (), pool_ops: Sequence[str] = ()) -> tuple[list[_Line], str]:
    """Every line of one slot's box, and its family; fields its masks leave to one choice are left out."""
    title, family = _slot_title(space, slot, chosen, conv_ops, pool_ops)
    lines = [title]
    if family == "empty":
        return lines, family
    if family != "open" and space.FIELDS[0] == "op" and "kernel" not in slot:
        # A kernel fixed by the space is still part of the layer.
        lines.append(_Line(_field_text("kernel", str(space.slot_values(padded, idx)["kernel"]))[0], (), "value"))
    for field, k in slot.items():
        if field == space.FIELDS[0]:
            continue
        # A field the slot's earlier choices leave one value (a pool's filters) is no part of the picture.
        if int(np.count_nonzero(space.valid_choices(padded[:k]))) == 1:
            continue
        if k < len(chosen):
            text, kind = _field_text(field, space.decisions[k].choices[chosen[k]])
            lines.append(_Line(text, (k,), kind))
        elif family != "open":
            lines.append(_Line(f"{_OPEN_NAMES.get(field, field)} ?", (k,), "open"))
    return lines, family


_FAMILY_COLOURS = {"conv": _BLUE, "pool": _PURPLE, "dense": _GREEN, "rnn": _VERMILLION, "other": _SKY}
# The fixed ends of each stack: input and output boxes' lines (the output's decisions go after its title).
_ENDS = {
    "layers": (("input",), ("output", "global pool", "linear")),
    "mlp": (("input", "flatten"), ("output", "linear")),
    "rnn_layers": (("input", "sequence"), ("output", "linear")),
}
_TAIL_TEXT = {"last": "last step", "mean": "mean over time"}


def _tail_line(space: SearchSpace, k: int, chosen: tuple[int, ...]) -> _Line:
    """The output box's line for a decision after the slots (``rnn_layers``' ``head/pool``)."""
    d = space.decisions[k]
    field = d.name.split("/")[-1]
    if k >= len(chosen):
        return _Line(f"{field} ?", (k,), "open")
    choice = d.choices[chosen[k]]
    return _Line(_TAIL_TEXT.get(choice, f"{field} {choice}"), (k,), "value")


def _stack_candidates(space: SlotReader, slots: list[dict[str, int]], tail: list[int]) -> tuple[set[str], set[str]]:
    """Every title and every other line a box of this space can show: its font size must fit them all."""
    first = space.FIELDS[0]
    titles = {"?", "empty", "identity"}
    values: set[str] = set()
    for slot in slots:
        for f, k in slot.items():
            for choice in space.decisions[k].choices:
                if f != first:
                    values.add(_field_text(f, choice)[0])
            values.add(f"{_OPEN_NAMES.get(f, f)} ?")
    for choice in space.decisions[slots[0][first]].choices:
        if first == "op":
            titles.add(choice.replace("_", " "))
            values |= {_field_text("kernel", str(v))[0] for v in getattr(space, "kernels", ())}
        elif first == "width":
            titles.add(f"{choice} units")
        elif first == "cell":
            titles.add(choice.upper())
        else:
            titles.add(f"{first} {choice}")
    for k in tail:
        values |= {_tail_line(space, k, (*[0] * k, i)).text for i in range(space.decisions[k].n)}
        values.add(_tail_line(space, k, ()).text)
    return titles, values


def _stack_legend(space: SlotReader, slots: list[dict[str, int]], conv_ops: Sequence[str],
                  pool_ops: Sequence[str]) -> list[tuple[str, str, str]]:
    """The kinds of box a stack of this space can hold, from its first field's choices: the same every frame."""
    first = space.FIELDS[0]
    choices = space.decisions[slots[0][first]].choices
    items = []
    if first == "op":
        if any(o in conv_ops for o in choices):
            items.append(("convolution", _FAMILY_COLOURS["conv"], "-"))
        if any(o in pool_ops for o in choices):
            items.append(("pooling", _FAMILY_COLOURS["pool"], "-"))
    else:
        family = {"width": ("dense layer", "dense"), "cell": ("recurrent layer", "rnn")}.get(first, ("layer", "other"))
        items.append((family[0], _FAMILY_COLOURS[family[1]], "-"))
    if "identity" in choices or "none" in choices:
        items.append(("no layer", _MUTED, "--"))
    if "skip" in space.FIELDS and any("skip" in slot for slot in slots):
        items.append(("residual", _INK, "-"))
    return [*items, ("undecided", _FAINT, "--")]


def stack_picture(c: Canvas, space: SearchSpace, chosen: tuple[int, ...], highlight: int | None,
                  body: tuple[float, float, float, float], *, conv_ops: Sequence[str] = (),
                  pool_ops: Sequence[str] = ()) -> None:
    """The stack of layer slots from the input to the head, empty slots ghosted, residual connections as arcs.

    A picture for :func:`draw_frame`, the slot spaces' (``layers``, ``mlp``, ``rnn_layers``).

    Args:
        c: The canvas.
        space: A slot space that :func:`slot_layout` reads.
        chosen: The decisions made so far.
        highlight: Index of the decision just made, or None.
        body: The box ``(x0, y0, x1, y1)`` to draw in, in pixels.
        conv_ops: Choices of the slots' first field (``op``) drawn as convolutions.
        pool_ops: Choices of the slots' first field drawn as pooling.

    Raises:
        ConfigError: ``space`` is not laid out in slots as :func:`slot_layout` reads them.
    """
    from matplotlib.patches import FancyBboxPatch

    slot_space = cast("SlotReader", space)
    layout = slot_layout(slot_space)
    if layout is None:
        raise ConfigError(f"Space {space.name!r} is not a stack of slots named 'layer<i>/<field>': draw it otherwise.")
    slots, tail = layout
    x0, y0, x1, y1 = body
    legend_pt = c.pt(9)
    legend_h = c.measure("Ag", legend_pt)[1] + c.px(8)
    _legend(c, _stack_legend(slot_space, slots, conv_ops, pool_ops), x0, x1, y0 + legend_h / 2, legend_pt)
    y0 += legend_h + c.px(6)
    padded = list(chosen) + [0] * (space.num_decisions - len(chosen))
    start, end = _ENDS.get(space.name, (("input",), ("output",)))
    boxes: list[tuple[list[_Line], str]] = [([_Line(s, (), "title" if j == 0 else "value")
                                              for j, s in enumerate(start)], "io")]
    boxes += [_slot_lines(slot_space, slot, chosen, padded, i, conv_ops, pool_ops) for i, slot in enumerate(slots)]
    out = [_Line(end[0], (), "title"), *(_tail_line(space, k, chosen) for k in tail)]
    boxes.append((out + [_Line(s, (), "value") for s in end[1:]], "io"))
    n = len(boxes)

    # One row, the ends narrower than the slots; where a slot would get too narrow to read, rows that wrap.
    gap, min_w, io_share = c.px(22), c.px(84), 0.85
    bw = (x1 - x0 - gap * (n - 1)) / (n - 2 + 2 * io_share)
    if bw >= min_w or n <= 3:
        per_row, widths = n, [bw * io_share] + [bw] * (n - 2) + [bw * io_share]
    else:
        per_row = max(1, int((x1 - x0 + gap) // (min_w + gap)))
        bw = (x1 - x0 - gap * (per_row - 1)) / per_row
        widths = [bw] * n
    rows = math.ceil(n / per_row)
    row_h = (y1 - y0) / rows

    # Font sizes that fit every choice of every field, so that text keeps its size over an episode.
    titles, values = _stack_candidates(slot_space, slots, tail)
    inner = bw - c.px(14)
    io_inner = min(widths[0], widths[-1]) - c.px(14)
    title_pt = c.fit(sorted(titles), inner, c.pt(11.5), True)
    value_pt = min(c.fit(sorted(values), inner, c.pt(9.5), True), title_pt * 0.9)
    ends = [ln for b in (boxes[0], boxes[-1]) for ln in b[0]]
    io_title_pt = min(c.fit([ln.text for ln in ends if ln.kind == "title"], io_inner, title_pt, True), title_pt)
    tails = {_tail_line(space, k, (*[0] * k, i)).text for k in tail for i in range(space.decisions[k].n)}
    tails |= {_tail_line(space, k, ()).text for k in tail}
    io_value_pt = min(c.fit([ln.text for ln in ends if ln.kind != "title"] + sorted(tails), io_inner, value_pt),
                      value_pt)
    most = max(max(len(lines) for lines, _ in (boxes[0], boxes[-1])),
               *(1 + sum(1 for f in s if f != space.FIELDS[0] and not (f == "kernel" and space.FIELDS[0] == "op"))
                 for s in slots))
    tag_pt = min(c.pt(8), value_pt)
    tag_h = c.measure("layer 0", tag_pt)[1] + c.px(6)
    spacing = 1.45

    def content(tp: float, vp: float) -> float:
        return (tp + (most - 1) * vp) * _DPI / 72 * spacing + c.px(14)

    # Room above a box for a residual arc and below it for its name.
    bh_max = row_h - 2 * max(c.px(24), tag_h)
    if content(title_pt, value_pt) > bh_max:
        shrink = max(bh_max - c.px(14), 1.0) / (content(title_pt, value_pt) - c.px(14))
        title_pt, value_pt = title_pt * shrink, value_pt * shrink
    io_title_pt, io_value_pt = min(io_title_pt, title_pt), min(io_value_pt, value_pt)
    bh = min(max(content(title_pt, value_pt), bh_max * 0.45), content(title_pt, value_pt) + c.px(40))
    t_step, v_step = title_pt * _DPI / 72 * spacing, value_pt * _DPI / 72 * spacing

    rounding = f"round,pad=0,rounding_size={min(c.px(8), bw / 6):.2f}"
    frames: list[tuple[float, float, float]] = []  # left, centre y, width per box
    for b, (lines, family) in enumerate(boxes):
        row, col = divmod(b, per_row)
        bx = x0 + sum(widths[row * per_row: b]) + gap * col
        cy = y1 - row_h * (row + 0.5)
        w = widths[b]
        frames.append((bx, cy, w))
        hot = highlight is not None and any(highlight in ln.decisions for ln in lines)
        if family == "io":
            fc, ec, ls = _tint(_INK, 0.9), _INK, "-"
        elif family in ("open", "empty"):
            fc, ec, ls = _GHOST, _FAINT if family == "open" else _MUTED, "--"
        else:
            fc, ec, ls = _tint(_FAMILY_COLOURS[family], 0.88), _FAMILY_COLOURS[family], "-"
        c.ax.add_artist(FancyBboxPatch((bx, cy - bh / 2), w, bh, boxstyle=rounding, fc=fc,
                                       ec=_ACCENT if hot else ec, lw=max(c.px(3 if hot else 1.5), 0.8),
                                       linestyle="-" if hot else ls, zorder=3))
        if 0 < b < n - 1:
            c.text(bx + w / 2, cy - bh / 2 - c.px(4), f"layer {b - 1}", tag_pt, _MUTED, va="top")
        ty = cy + (t_step + (len(lines) - 1) * v_step) / 2 - t_step / 2
        for j, ln in enumerate(lines):
            is_hot = highlight is not None and highlight in ln.decisions
            is_title = ln.kind == "title"
            if is_hot:
                color = _ACCENT_INK
            elif is_title:
                color = _MUTED if family in ("open", "empty") else _INK
            else:
                color = _TEXT if ln.kind == "value" else _MUTED
            pt = (io_title_pt if is_title else io_value_pt) if family == "io" else title_pt if is_title else value_pt
            if family == "open":
                pt *= 1.5  # the lone "?" of a slot not begun
            bold = is_title or is_hot
            c.text(bx + w / 2, ty, c.clipped(ln.text, w - c.px(14), pt, bold), pt, color, bold, zorder=4)
            ty -= (t_step + v_step) / 2 if j == 0 else v_step

    # Arrows from box to box; between rows an elbow, from under one row to the top of the next.
    for b in range(n - 1):
        (ax_, ay, aw), (bx_, by, bw_) = frames[b], frames[b + 1]
        if by == ay:
            _arrow(c, (ax_ + aw, ay), (bx_, by), _MUTED, width=1.6, shrinkA=1, shrinkB=1)
            continue
        from matplotlib.lines import Line2D

        sx, mid = ax_ + aw - c.px(14), (ay - bh / 2 + by + bh / 2) / 2
        c.ax.add_artist(Line2D([sx, sx, bx_ + bw_ / 2], [ay - bh / 2, mid, mid], color=_MUTED,
                               linewidth=max(c.px(1.6), 0.8), solid_joinstyle="round"))
        _arrow(c, (bx_ + bw_ / 2, mid), (bx_ + bw_ / 2, by + bh / 2), _MUTED, width=1.6, shrinkA=0, shrinkB=1)
    # A residual connection leaves the arrow into its slot, passes over the box and rejoins the arrow out.
    for i, slot in enumerate(slots):
        k = slot.get("skip")
        if k is None or k >= len(chosen) or space.decisions[k].choices[chosen[k]] != "yes":
            continue
        bx, cy, w = frames[i + 1]
        hot = k == highlight
        bypass = _bypass(bx - gap / 2, bx + w + gap / 2, cy, cy + bh / 2 + c.px(14), min(c.px(8), gap / 2))
        if hot:
            _arrow(c, path=bypass, color=_ACCENT, width=11, head=False, zorder=1, alpha=0.45)
        _arrow(c, path=bypass, color=_ACCENT_INK if hot else _INK, width=1.8, zorder=5)


def _bypass(xl: float, xr: float, y: float, top: float, r: float) -> Any:
    """A path up from ``(xl, y)`` to ``top``, across, and down to ``(xr, y)``, its corners rounded by ``r``."""
    from matplotlib.path import Path

    verts = [(xl, y), (xl, top - r), (xl, top), (xl + r, top), (xr - r, top), (xr, top), (xr, top - r), (xr, y)]
    codes = [Path.MOVETO, Path.LINETO, Path.CURVE3, Path.CURVE3, Path.LINETO, Path.CURVE3, Path.CURVE3, Path.LINETO]
    return Path(verts, codes)


# -- rnn_cell: nodes in order, each joined to its input ----------------------------------------------


def rnn_cell_picture(c: Canvas, space: SearchSpace, chosen: tuple[int, ...], highlight: int | None,
                     body: tuple[float, float, float, float]) -> None:
    """The recurrent cell's nodes in order, each arc joining a node to its input, the loose ends averaged into h_t.

    A picture for :func:`draw_frame`, ``RNNCellSpace``'s.

    Args:
        c: The canvas.
        space: An ``RNNCellSpace`` (read for ``num_nodes``, ``activations``,
            ``input_positions`` and ``act_positions``).
        chosen: The decisions made so far.
        highlight: Index of the decision just made, or None.
        body: The box ``(x0, y0, x1, y1)`` to draw in, in pixels.
    """
    from matplotlib.patches import FancyBboxPatch

    # Read by duck typing: rnn_cell imports this module.
    cell: Any = space
    x0, y0, x1, y1 = body
    legend_pt = c.pt(9)
    legend_h = c.measure("Ag", legend_pt)[1] + c.px(8)
    items = [(a, _RNN_ACTS.get(a, _SKY), "-") for a in cell.activations]
    _legend(c, [*items, ("undecided", _FAINT, "--")], x0, x1, y0 + legend_h / 2, legend_pt)
    y0 += legend_h + c.px(8)

    n = cell.num_nodes
    io_w = min(c.px(46), (x1 - x0) / (n + 4))
    gap = min(c.px(18), io_w * 0.4)
    step = (x1 - x0 - 2 * (io_w + gap)) / n
    bw = step * 0.86
    xs = [x0 + io_w + gap + step * (i + 0.5) for i in range(n)]
    in_x, out_x = x0 + io_w / 2, x1 - io_w / 2
    bh = min(c.px(50), (y1 - y0) * 0.2)
    io_h = bh * 0.62
    # Input arcs above the row of nodes, the loose ends' arcs to h_t below it.
    yc = y0 + (y1 - y0) * 0.34
    above, below = y1 - (yc + bh / 2) - c.px(6), yc - bh / 2 - y0 - c.px(4)
    # In a tall frame the arcs keep a pleasing bend.
    above, below = min(above, (x1 - x0) * 0.3), min(below, (x1 - x0) * 0.2)
    yc = yc + (y1 - (yc + bh / 2) - c.px(6) - above) * 0.5

    parents: list[int | None] = []
    for i in range(n):
        p = cell.input_positions[i]
        parents.append(-1 if i == 0 else 0 if p is None else chosen[p] if p < len(chosen) else None)
    acts: list[str | None] = [cell.activations[0] if p is None else cell.decisions[p].choices[chosen[p]]
                              if p < len(chosen) else None for p in cell.act_positions]

    act_pt = c.fit([*cell.activations, "?"], bw - c.px(6), c.pt(10.5), bold=True)
    idx_pt = min(c.pt(8), act_pt * 0.85)
    rounding = f"round,pad=0,rounding_size={min(c.px(7), bw / 4):.2f}"
    for i in range(n):
        act = acts[i]
        hot = highlight is not None and highlight == cell.act_positions[i]
        color = _RNN_ACTS.get(act, _SKY) if act is not None else _FAINT
        fc = _tint(color, 0.85) if act is not None else _GHOST
        c.ax.add_artist(FancyBboxPatch((xs[i] - bw / 2, yc - bh / 2), bw, bh, boxstyle=rounding, fc=fc,
                                       ec=_ACCENT if hot else color, lw=max(c.px(3 if hot else 1.6), 0.8),
                                       linestyle="-" if act is not None or hot else "--", zorder=3))
        c.text(xs[i], yc + bh * 0.2, f"node {i}", idx_pt, _MUTED, zorder=4)
        c.text(xs[i], yc - bh * 0.14, act if act is not None else "?", act_pt,
               _ACCENT_INK if hot else _INK if act is not None else _MUTED, True, zorder=4)

    # x_t and h_{t-1} feed node 0; the new state h_t is the mean of the loose ends.
    # Measured as plain text: the rendered math is narrower than its source.
    io_pt = c.fit(["ht-1"], io_w - c.px(10), c.pt(11))
    io_rounding = f"round,pad=0,rounding_size={min(c.px(7), io_w / 4):.2f}"
    io_style = {"boxstyle": io_rounding, "fc": _tint(_INK, 0.9), "ec": _INK, "lw": max(c.px(1.4), 0.8), "zorder": 3}
    for label, dy in (("$x_t$", io_h * 0.7), ("$h_{t-1}$", -io_h * 0.7)):
        c.ax.add_artist(FancyBboxPatch((in_x - io_w / 2, yc + dy - io_h / 2), io_w, io_h, **io_style))
        c.text(in_x, yc + dy, label, io_pt, _INK, zorder=4)
        _arrow(c, (in_x + io_w / 2, yc + dy), (xs[0] - bw / 2, yc + dy * 0.3), _MUTED, width=1.4, shrinkA=1,
               shrinkB=1)
    c.ax.add_artist(FancyBboxPatch((out_x - io_w / 2, yc - io_h / 2), io_w, io_h, **io_style))
    c.text(out_x, yc, "$h_t$", io_pt, _INK, zorder=4)
    c.text(out_x, yc + io_h / 2 + c.px(5), "mean of\nloose ends", c.fit(["loose ends"], io_w + gap, c.pt(8)), _MUTED,
           va="bottom",
           zorder=4, linespacing=1.1)

    # A parent's arcs leave it from right to left, nearest child first, so that they nest without crossing.
    children: dict[int, list[int]] = {}
    for i in range(1, n):
        if parents[i] is not None:
            children.setdefault(cast(int, parents[i]), []).append(i)
    span = max(n - 1, 1) * step
    top = yc + bh / 2
    for i in range(1, n):
        p = parents[i]
        k = cell.input_positions[i]
        hot = highlight is not None and highlight == k
        if p is None:
            c.text(xs[i], top + c.px(10), "?", c.pt(10), _MUTED, True, zorder=4)
            continue
        kids = children[p]
        rank = kids.index(i)
        lean = bw * 0.3 * (1 - 2 * rank / max(len(kids) - 1, 1)) if len(kids) > 1 else bw * 0.2
        a, z = (xs[p] + lean, top), (xs[i] - bw * 0.2, top)
        height = min(above, max(above * ((i - p) * step / span) ** 0.8, c.px(14)))
        rad = -2 * height / max(z[0] - a[0], 1.0)
        if hot:
            _halo(c, a, z, rad)
        _arrow(c, a, z, _ACCENT_INK if hot else _INK, rad, width=2.0 if hot else 1.5, shrinkA=0, shrinkB=1)
    if all(p is not None for p in parents):
        used = set(parents)
        for i in range(n):
            if i in used:
                continue
            a, z = (xs[i], yc - bh / 2), (out_x, yc - io_h / 2)
            dist = z[0] - a[0]
            height = min(below, max(below * (dist / (x1 - x0)) ** 0.8, c.px(10)))
            _arrow(c, a, z, _MUTED, 2 * height / dist, style="--", width=1.3, shrinkA=1, shrinkB=1)


# -- any other space: a table of decisions ----------------------------------------------------------


def table_picture(c: Canvas, space: SearchSpace, chosen: tuple[int, ...], highlight: int | None,
                  body: tuple[float, float, float, float]) -> None:
    """A table of decision names and choices, in as many columns as the rows need: any space's picture.

    A picture for :func:`draw_frame`, ``SearchSpace``'s by default.

    Args:
        c: The canvas.
        space: The space the decisions belong to.
        chosen: The decisions made so far.
        highlight: Index of the decision just made, or None.
        body: The box ``(x0, y0, x1, y1)`` to draw in, in pixels.
    """
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = body
    n = space.num_decisions
    row_min = c.px(19)
    max_rows = max(1, int((y1 - y0) // row_min) - 1)
    cols = math.ceil(n / max_rows)
    rows = math.ceil(n / cols)
    col_gap = c.px(18)
    col_w = (x1 - x0 - col_gap * (cols - 1)) / cols
    row_h = min((y1 - y0) / (rows + 1), c.px(30))
    names = [d.name for d in space.decisions]
    choices = sorted({ch for d in space.decisions for ch in d.choices} | {"?"})
    name_w = col_w * 0.55
    pt = min(c.pt(10), row_h * 0.6 * 72 / _DPI)
    # Shrink to fit, but not past reading: a name still too long is cut with an ellipsis.
    name_pt = max(c.fit(names, name_w - c.px(14), pt), min(pt, c.pt(7.5)))
    choice_pt = max(c.fit(choices, col_w - name_w - c.px(10), pt, bold=True), min(pt, c.pt(7.5)))
    for col in range(cols):
        cx = x0 + col * (col_w + col_gap)
        top = y1 - row_h / 2
        c.text(cx + c.px(10), top, "decision", name_pt, _MUTED, ha="left")
        c.text(cx + name_w, top, "choice", name_pt, _MUTED, ha="left")
        c.ax.add_line(_hline(cx, cx + col_w, y1 - row_h, _FAINT, max(c.px(1), 0.6)))
    for k in range(n):
        col, row = divmod(k, rows)
        cx = x0 + col * (col_w + col_gap)
        ry = y1 - row_h * (row + 1.5)
        hot = k == highlight
        if hot:
            c.ax.add_artist(Rectangle((cx, ry - row_h / 2), col_w, row_h, fc=_tint(_ACCENT, 0.7), ec="none"))
            c.ax.add_artist(Rectangle((cx, ry - row_h / 2), c.px(4), row_h, fc=_ACCENT, ec="none"))
        elif row % 2:
            c.ax.add_artist(Rectangle((cx, ry - row_h / 2), col_w, row_h, fc=_GHOST, ec="none"))
        decided = k < len(chosen)
        c.text(cx + c.px(10), ry, c.clipped(names[k], name_w - c.px(14), name_pt), name_pt,
               _TEXT if decided else _MUTED, ha="left")
        choice = space.decisions[k].choices[chosen[k]] if decided else "?"
        c.text(cx + name_w, ry, c.clipped(choice, col_w - name_w - c.px(10), choice_pt, True), choice_pt,
               _ACCENT_INK if hot else _INK if decided else _MUTED, decided, ha="left")


def _hline(xa: float, xb: float, y: float, color: str, width: float) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([xa, xb], [y, y], color=color, linewidth=width)
