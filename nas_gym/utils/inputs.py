"""Example inputs a built network accepts: float tensors, or token ids for a network that reads tokens.

Counting, timing and exporting a network feed it a made-up batch. Most
networks take float32 inputs; a language model (the ``transformer`` space's)
takes int64 token ids below its vocabulary size and says so with an integer
attribute ``vocab_size`` (:func:`token_vocab`). These helpers make the batch
each kind accepts, so no caller needs to know which kind it holds.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def token_vocab(model: nn.Module) -> int | None:
    """The vocabulary size of a network that reads token ids (its ``vocab_size``), or None for float inputs."""
    vocab = getattr(model, "vocab_size", None)
    return vocab if isinstance(vocab, int) and not isinstance(vocab, bool) and vocab > 0 else None


def input_dtype(model: nn.Module) -> torch.dtype:
    """The dtype ``model`` takes: int64 for token ids, else float32."""
    return torch.float32 if token_vocab(model) is None else torch.int64


def zero_input(model: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    """A batch of zeros (token id 0 for a token model) of ``shape``, batch axis included."""
    return torch.zeros(shape, dtype=input_dtype(model))


def random_input(model: nn.Module, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """A batch of ``shape`` (batch axis included) drawn from ``generator``.

    Standard normal floats, or uniform token ids ``0..vocab_size-1`` for a token model.
    """
    vocab = token_vocab(model)
    if vocab is None:
        return torch.randn(shape, generator=generator)
    return torch.randint(0, vocab, shape, generator=generator)
