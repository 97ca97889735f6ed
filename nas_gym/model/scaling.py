"""Compound scaling of a found ``layers`` architecture (EfficientNet, Tan & Le 2019).

EfficientNet scales a small base network in depth, width and input
resolution together: by ``alpha ** phi``, ``beta ** phi`` and
``gamma ** phi`` for a compound coefficient ``phi``, where
``alpha * beta**2 * gamma**2 ~= 2`` so that each step of ``phi`` about
doubles the FLOPs. ``alpha``, ``beta`` and ``gamma`` come from a small grid
search at ``phi = 1`` (the paper's step 1); ``phi`` then grows (step 2).

This module is the transform alone, with no training: :func:`scaled_op_keys` /
:func:`build_scaled` scale one architecture by given ``depth``, ``width`` and
``resolution`` multipliers. At 1, 1, 1 the network is exactly
``space.build(arch, task)``. The workflow that searches the coefficients and
trains the scaled models (``nas-gym scale``) is :mod:`nas_gym.model.scale`.

The scaling rules, for a net of the ``layers`` space:

- **Depth**: only convolution slots are deepened (pooling and identity do
  no learned work). With ``n`` convolution slots the scaled net has
  ``round(depth * n)`` convolution layers: each slot is a stage of one
  layer, and the extra layers go round-robin over the slots, the one whose
  repeat costs the fewest multiply-accumulates first (the order is fixed by
  the base network, so a larger ``phi`` only adds layers). EfficientNet's
  per-stage ``ceil(depth * repeats)`` would double every one-layer stage at
  any ``depth > 1``. A repeat copies its slot (op, kernel, activation, norm,
  attention) with stride 1, its input channels equal to its output channels,
  and a residual connection, as EfficientNet's repeated blocks have; the slot
  itself keeps its own stride and skip. Networks this small deepen in whole
  layers of unequal cost, which is why :func:`compound_coefficients` checks
  the measured FLOPs of each candidate.
- **Width**: every convolution's filters become
  ``round_filters(filters * width)``: the nearest multiple of 4, at least 4
  and never more than 10 % under the exact product (EfficientNet's rule with
  divisor 4 instead of 8: the nets here have 16-64 filters). Pooling keeps
  channels; the input's channels are the task's; the head follows the last
  channels. At ``width = 1`` filters are kept as they are.
- **Resolution**: the tasks here have a fixed input size, so a larger
  resolution cannot come from the data: the network's first module upsamples
  its input (``nn.Upsample``, linear or bilinear) to
  ``round(size * resolution)`` per spatial axis. The scaled model still takes
  the task's inputs; it computes on more positions but sees no new detail,
  so resolution here buys compute, not information. At ``resolution = 1``
  there is no upsampling module.

Example:
    >>> from nas_gym.spaces import LayersSpace
    >>> space = LayersSpace(num_layers=2)
    >>> arch = space.from_string("conv3x3-16-relu|max_pool3x3")
    >>> keys = scaled_op_keys(space, arch, (1, 8, 8), 10, depth=1.5, width=1.2, resolution=1.25)
    >>> keys[0]
    (1, 10, 10)
    >>> [k[0] for k in keys[1]]
    ['layers/conv', 'layers/conv', 'layers/max_pool', 'layers/head']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn

from nas_gym.error import ConfigError
from nas_gym.networks.layers import LayersNet
from nas_gym.spaces.base import Architecture, SearchSpace
from nas_gym.spaces.layers import CONV_OPS, LayersSpace
from nas_gym.tasks.base import shape_task

#: Channel counts are rounded to multiples of this (EfficientNet uses 8; the nets here are narrower).
FILTER_DIVISOR = 4

# -- one scaled network ---------------------------------------------------------------------------


def round_filters(filters: int, width: float, divisor: int = FILTER_DIVISOR) -> int:
    """Channels of a convolution with ``filters`` channels scaled by ``width``.

    EfficientNet's ``round_filters``: the nearest multiple of ``divisor``, at
    least ``divisor``, raised by one ``divisor`` if rounding lost more than
    10 %. ``width = 1`` keeps ``filters`` exactly (even when it is no
    multiple of ``divisor``), so the unscaled net is the base net.

    >>> round_filters(16, 1.1), round_filters(16, 1.21), round_filters(32, 1.5), round_filters(6, 1.0)
    (16, 20, 48, 6)
    """
    if width == 1:
        return int(filters)
    exact = filters * width
    new = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    if new < 0.9 * exact:
        new += divisor
    return int(new)


def depth_repeats(repeat_costs: Sequence[float], depth: float) -> list[int]:
    """Layers per convolution slot when the slots are deepened by ``depth``.

    The total is ``round(depth * n)`` (half up) for ``n`` slots. The extra
    layers go round-robin over the slots in increasing order of
    ``repeat_costs`` (ties: earlier slot first), so a larger ``depth`` only
    ever adds layers, every slot keeps at least one, and the FLOPs grow as
    smoothly as whole layers allow.

    Args:
        repeat_costs: Per slot, the cost of one more layer like it (its multiply-accumulates).
        depth: Depth multiplier (>= 1).

    >>> [depth_repeats([9, 1, 4], d) for d in (1.0, 1.44, 1.7, 2.5)]
    [[1, 1, 1], [1, 2, 1], [1, 2, 2], [2, 3, 3]]
    """
    n = len(repeat_costs)
    extra = math.floor(n * depth + 0.5) - n
    per_slot, rest = divmod(extra, n) if n else (0, 0)
    first = set(sorted(range(n), key=lambda i: (repeat_costs[i], i))[:rest])
    return [1 + per_slot + (i in first) for i in range(n)]


def _repeat_macs(key: tuple) -> int:
    """Multiply-accumulates of one stride-1 repeat of the convolution slot ``key`` (c_out in and out)."""
    name, dims, _c_in, c, kernel = key[:5]
    per_position = c * kernel**dims + c * c if name == "layers/sep_conv" else c * c * kernel**dims
    return per_position * math.prod(-(-n // key[5]) for n in key[11:])


def check_layers(space: Any) -> LayersSpace:
    """``space`` if it is a ``layers`` space (the only one compound scaling knows), else a ConfigError."""
    if not isinstance(space, LayersSpace):
        name = getattr(space, "name", type(space).__name__)
        raise ConfigError(
            f"Only architectures of the 'layers' space can be compound-scaled (they are chains of layers with "
            f"a depth and a width); got a {name!r} architecture. Train a 'layers' model to scale it."
        )
    return space


def check_multiplier(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite multiplier of at least 1, else a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 1:
        raise ConfigError(
            f"The {name} multiplier must be a number >= 1 (1 = unscaled), got {value!r}. "
            "Compound scaling only grows a network: use phi >= 0 with alpha, beta, gamma >= 1."
        )
    return float(value)


def _is_conv(key: tuple) -> bool:
    return key[0][len("layers/") :] in CONV_OPS


def as_layers_arch(space: LayersSpace, arch: Architecture | str) -> Architecture:
    """``arch``, parsed by ``space`` when given as its string form."""
    return space.from_string(arch) if isinstance(arch, str) else arch


def scaled_op_keys(
    space: SearchSpace,
    arch: Architecture | str,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    depth: float,
    width: float,
    resolution: float,
) -> tuple[tuple[int, ...], list[tuple]]:
    """Plan of a scaled network: the upsampled input shape and one op key per layer.

    The keys are :meth:`LayersSpace.op_keys` keys (``build_op`` builds each;
    the op-table latency model can time them), with the head's key last.
    See the module docstring for the depth, width and resolution rules.

    Args:
        space: The ``layers`` space of ``arch``.
        arch: The base architecture (or its string).
        input_shape: The task's input shape without the batch axis, ``(C, L)`` or ``(C, H, W)``.
        num_classes: Outputs of the head.
        depth: Depth multiplier (>= 1).
        width: Width multiplier (>= 1).
        resolution: Resolution multiplier (>= 1).

    Returns:
        ``(resized_input_shape, keys)``; the resized shape equals ``input_shape`` when nothing is upsampled.

    Raises:
        ConfigError: For a space other than ``layers`` or a multiplier below 1.
    """
    space = check_layers(space)
    depth = check_multiplier("depth", depth)
    width = check_multiplier("width", width)
    resolution = check_multiplier("resolution", resolution)
    arch = as_layers_arch(space, arch)
    *base_keys, head = space.op_keys(arch, shape_task(tuple(input_shape), num_classes))
    channels = int(input_shape[0])
    spatial = tuple(math.floor(n * resolution + 0.5) for n in input_shape[1:])
    resized = (channels, *spatial)
    # Which slots deepen first is decided on the base network, so it is the same at every phi.
    repeats = iter(depth_repeats([_repeat_macs(k) for k in base_keys if _is_conv(k)], depth))
    keys: list[tuple] = []
    for key in base_keys:
        name, dims, _c_in, c_out, kernel, stride, dilation, act, norm, att, skip = key[:11]
        is_conv = _is_conv(key)
        c_out = round_filters(c_out, width) if is_conv else channels
        keys.append((name, dims, channels, c_out, kernel, stride, dilation, act, norm, att, skip, *spatial))
        channels, spatial = c_out, tuple(-(-n // stride) for n in spatial)
        for _ in range(next(repeats) - 1 if is_conv else 0):
            keys.append((name, dims, channels, channels, kernel, 1, dilation, act, norm, att, 1, *spatial))
    keys.append((head[0], head[1], channels, head[3], *spatial))
    return resized, keys


def build_scaled(
    space: SearchSpace,
    arch: Architecture | str,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    depth: float,
    width: float,
    resolution: float,
    phi: int | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    gamma: float | None = None,
) -> nn.Module:
    """Build a ``layers`` architecture scaled in depth, width and input resolution.

    The result is a :class:`LayersNet` that takes the task's inputs
    (``input_shape``). With ``resolution > 1`` its first module upsamples
    them (linearly): the tasks have a fixed resolution, so the larger input
    has more positions to compute on but no new detail. With all three
    multipliers 1 it is exactly ``space.build(arch, task)`` (same modules,
    so the same parameters and FLOPs, and the same weights from the same
    seed).

    Args:
        space: The ``layers`` space of ``arch`` (a :class:`LayersSpace`).
        arch: The base architecture (or its string).
        input_shape: The task's input shape without the batch axis.
        num_classes: Outputs of the head.
        depth: Depth multiplier (>= 1): convolution layers ``round(depth * n)``, spread over the slots.
        width: Width multiplier (>= 1) of every convolution's filters.
        resolution: Multiplier (>= 1) of the input's spatial size.
        phi: Compound coefficient these multipliers came from; recorded in ``model.json``, unused here.
        alpha: Depth coefficient (``depth = alpha ** phi``); unused here.
        beta: Width coefficient; unused here.
        gamma: Resolution coefficient; unused here.

    Returns:
        The network, in training mode, with freshly initialised weights.

    Raises:
        ConfigError: For a space other than ``layers`` or a multiplier below 1.
    """
    del phi, alpha, beta, gamma  # provenance that model.json keeps next to the multipliers
    resized, keys = scaled_op_keys(
        space, arch, input_shape, num_classes, depth=depth, width=width, resolution=resolution
    )
    layers = [space.build_op(key)[0] for key in keys[:-1]]
    if tuple(resized) != tuple(input_shape):
        mode = "linear" if len(input_shape) == 2 else "bilinear"
        layers.insert(0, nn.Upsample(size=tuple(resized[1:]), mode=mode, align_corners=False))
    return LayersNet(layers, space.build_op(keys[-1])[0])


