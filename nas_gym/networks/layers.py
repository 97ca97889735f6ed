"""The layer-wise space's network: layer slots, the classifier head, and the 1-D/2-D torch layer classes.

:class:`nas_gym.spaces.layers.LayersSpace` encodes architectures; this module builds them
(``LayersSpace.build`` imports it when it builds, so the space itself needs no torch). The other
convolutional spaces and supernets build with :func:`nd_layers`, :class:`Head` and :class:`SqueezeExcite` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from nas_gym.error import ConfigError, unknown_name

CONV_OPS = ("conv", "sep_conv", "dil_conv")
POOL_OPS = ("max_pool", "avg_pool")
#: Each activation name of :data:`nas_gym.spaces.layers.ACTIVATIONS` as its torch layer class.
ACTIVATION_LAYERS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "swish": nn.SiLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


class NdLayers(NamedTuple):
    """Torch layer classes for one number of spatial dimensions."""

    conv: type[nn.Module]
    batch_norm: type[nn.Module]
    max_pool: type[nn.Module]
    avg_pool: type[nn.Module]
    global_pool: type[nn.Module]


def nd_layers(dims: int) -> NdLayers:
    """Layer classes for signals (``dims=1``) or images (``dims=2``).

    Raises:
        ConfigError: If ``dims`` is neither 1 nor 2.
    """
    if dims == 1:
        return NdLayers(nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d)
    if dims == 2:
        return NdLayers(nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
    raise ConfigError(
        f"Search spaces build for inputs (C, L) or (C, H, W), i.e. 1 or 2 spatial dims; got {dims}. "
        "Reshape the task's inputs."
    )


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: rescale channels by a gate computed from their means."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        """Make a gate with ``channels // reduction`` hidden units (at least 1)."""
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Multiply each channel of ``x`` (N, C, ...) by its gate."""
        weights = self.gate(x.flatten(2).mean(-1))
        return x * weights.view(*weights.shape, *([1] * (x.dim() - 2)))


class Slot(nn.Module):
    """One layer slot: op, then norm, activation, attention, plus an optional residual."""

    def __init__(self, body: nn.Module, skip: bool) -> None:
        """Wrap ``body``; with ``skip`` the slot's input is added to its output."""
        super().__init__()
        self.body = body
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the slot."""
        out = self.body(x)
        return out + x if self.skip else out


class Head(nn.Module):
    """Global average pool and a linear classifier."""

    def __init__(self, dims: int, channels: int, num_classes: int) -> None:
        """Classify ``channels`` pooled features into ``num_classes``."""
        super().__init__()
        self.pool = nd_layers(dims).global_pool(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (N, num_classes)."""
        return self.fc(self.pool(x).flatten(1))


def _norm_layer(name: str, dims: int, channels: int) -> nn.Module | None:
    if name == "batch":
        return nd_layers(dims).batch_norm(channels)
    if name == "layer":
        return nn.GroupNorm(1, channels)
    if name == "group":
        # GroupNorm needs the group count to divide the channels: take the largest of 4, 3, 2, 1 that does.
        return nn.GroupNorm(next(g for g in (4, 3, 2, 1) if channels % g == 0), channels)
    return None


def make_slot(
    op: str,
    dims: int,
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int,
    activation: str,
    norm: str,
    attention: str,
    skip: bool,
) -> Slot:
    """Build one slot's module; pooling ignores ``c_out``, ``activation``, ``norm`` and ``attention``.

    Args:
        op: A name from :data:`CONV_OPS` or :data:`POOL_OPS`.
        dims: 1 for signals, 2 for images.
        c_in: Input channels.
        c_out: Output channels of a convolution.
        kernel: Odd kernel size.
        stride: 1 or 2.
        activation: A name from :data:`nas_gym.spaces.layers.ACTIVATIONS`.
        norm: A name from :data:`nas_gym.spaces.layers.NORMS`.
        attention: A name from :data:`nas_gym.spaces.layers.ATTENTIONS`.
        skip: Add the slot's input to its output.

    Returns:
        The slot module; its output has ``ceil(size / stride)`` spatial size.
    """
    L = nd_layers(dims)
    pad = kernel // 2
    layers: list[nn.Module]
    if op in POOL_OPS:
        if op == "max_pool":
            layers = [L.max_pool(kernel, stride, pad)]
        else:
            # Padded zeros would darken borders; average over real inputs only.
            layers = [L.avg_pool(kernel, stride, pad, count_include_pad=False)]
    else:
        # A following norm has its own shift, so a conv bias would be redundant.
        bias = norm == "none"
        if op == "conv":
            layers = [L.conv(c_in, c_out, kernel, stride, pad, bias=bias)]
        elif op == "sep_conv":
            layers = [
                L.conv(c_in, c_in, kernel, stride, pad, groups=c_in, bias=False),
                L.conv(c_in, c_out, 1, bias=bias),
            ]
        elif op == "dil_conv":
            layers = [L.conv(c_in, c_out, kernel, stride, 2 * pad, dilation=2, bias=bias)]
        else:
            raise unknown_name("op", op, [*CONV_OPS, *POOL_OPS])
        norm_layer = _norm_layer(norm, dims, c_out)
        if norm_layer is not None:
            layers.append(norm_layer)
        layers.append(ACTIVATION_LAYERS[activation]())
        if attention == "se":
            layers.append(SqueezeExcite(c_out))
    return Slot(nn.Sequential(*layers), skip)


class LayersNet(nn.Module):
    """A chain of slots followed by the classifier head."""

    def __init__(self, slots: Sequence[nn.Module], head: Head) -> None:
        """Chain ``slots`` (identity slots already dropped) into ``head``."""
        super().__init__()
        self.slots = nn.Sequential(*slots)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (N, num_classes)."""
        return self.head(self.slots(x))
