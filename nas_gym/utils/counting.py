"""Size and cost of a torch network: trainable parameters and multiply-accumulates of one forward pass."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from nas_gym.utils.inputs import zero_input


def count_params(model: nn.Module) -> int:
    """Count the trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Count the multiply-accumulates of one forward pass of ``model`` for a batch of 1.

    Counts convolution, linear and one-layer recurrent (``nn.RNN``/``LSTM``/
    ``GRU``) layers (where nearly all the work is) with forward hooks, and
    what a module's own ``extra_macs(inputs, output)`` method reports for
    products outside those layers (self-attention's scores and weighted
    values); pooling, normalisation, activations and gate arithmetic are not
    counted.

    Args:
        model: The network; it is run once in eval mode and left in eval mode.
        input_shape: Shape of one input without the batch axis (a batch of zeros is fed: token id 0 to a
            network that reads tokens, :func:`nas_gym.utils.inputs.token_vocab`).

    Returns:
        The multiply-accumulate count.
    """
    total = 0

    def conv_hook(module: nn.modules.conv._ConvNd, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        total += out.numel() * per_output

    def linear_hook(module: nn.Linear, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * module.in_features

    def recurrent_hook(module: nn.RNNBase, inp: Any, _out: Any) -> None:
        # Per step and direction, every gate multiplies [x_t ; h_{t-1}] by its weights.
        nonlocal total
        steps = inp[0].shape[1 if module.batch_first else 0]
        gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
        directions = 2 if module.bidirectional else 1
        total += steps * directions * gates * module.hidden_size * (module.input_size + module.hidden_size)

    def own_hook(module: nn.Module, inp: Any, out: Any) -> None:
        nonlocal total
        total += int(module.extra_macs(inp, out))

    handles = []
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, nn.RNNBase) and m.num_layers == 1:
            handles.append(m.register_forward_hook(recurrent_hook))
        if callable(getattr(m, "extra_macs", None)):
            handles.append(m.register_forward_hook(own_hook))
    model.eval()
    try:
        with torch.no_grad():
            model(zero_input(model, (1, *input_shape)))
    finally:
        for h in handles:
            h.remove()
    return int(total)
