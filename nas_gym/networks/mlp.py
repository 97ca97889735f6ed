"""The multilayer-perceptron space's hidden layer, the one torch module :class:`nas_gym.spaces.mlp.MLPSpace` adds.

The space imports this module when it builds, so that the space itself needs no torch.
"""

from __future__ import annotations

from torch import nn

from nas_gym.error import ConfigError, did_you_mean
from nas_gym.networks.layers import ACTIVATION_LAYERS

#: The norms a hidden layer builds (the ``mlp`` space's choices).
NORMS = ("none", "batch", "layer")


def make_dense(in_features: int, width: int, activation: str, norm: str, dropout: float) -> nn.Sequential:
    """One hidden layer: ``Linear``, then norm, activation and dropout.

    Args:
        in_features: Input features.
        width: Output features.
        activation: A name from :data:`nas_gym.spaces.layers.ACTIVATIONS`.
        norm: A name from :data:`NORMS`.
        dropout: Dropout probability; 0 adds no dropout layer.

    Returns:
        The layer as an ``nn.Sequential``.

    Raises:
        ConfigError: For an unknown norm.
    """
    if norm not in NORMS:
        raise ConfigError(f"Unknown norm {norm!r}.{did_you_mean(norm, NORMS)} Known norms: {', '.join(NORMS)}.")
    # A following norm has its own shift, so a linear bias would be redundant.
    layers: list[nn.Module] = [nn.Linear(in_features, width, bias=norm == "none")]
    if norm == "batch":
        layers.append(nn.BatchNorm1d(width))
    elif norm == "layer":
        layers.append(nn.LayerNorm(width))
    layers.append(ACTIVATION_LAYERS[activation]())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
