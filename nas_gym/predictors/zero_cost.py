"""Zero-cost proxies: training-free scores of a network at initialisation, from one batch of a task.

Each proxy takes a freshly initialised network and one batch ``(x, y)`` and
returns one number, larger meaning "predicted better". They follow the
definitions of Abdelfattah et al. ("Zero-Cost Proxies for Lightweight NAS",
ICLR 2021) and Mellor et al. (NASWOT, ICML 2021) as NASLib implements them:

- ``synflow`` (Tanaka et al. 2020): the natural log of Σ |θ ⊙ ∂R/∂θ| with
  every parameter made positive (θ ← |θ|), batch norm in eval mode (an
  identity at initialisation, as with it removed), R the sum of the output
  for one all-ones input, in float64. The raw sum spans tens of orders of
  magnitude across a space, hence the log.
- ``naswot`` (Mellor et al. 2021): log |det K| of the batch's kernel of
  binary activation codes (input > 0 at every activation layer), where
  ``K_ij`` counts the units on which samples i and j agree; ``-inf`` when K
  is singular or the network has no activation layer.
- ``grad_norm``: Σ over conv/linear layers of ‖∂L/∂W‖₂, L the cross-entropy
  of the batch.
- ``snip`` (Lee et al. 2019): Σ |W ⊙ ∂L/∂W| over conv/linear weights.
- ``fisher`` (Theis et al. 2018; Turner et al. 2020): at every conv/linear
  output a, per channel ½ · mean over the batch of (Σ over positions
  a ⊙ ∂L/∂a)², summed.
- ``zico`` (Li et al., "ZiCo: Zero-shot NAS via Inverse Coefficient of
  Variation on Gradients", ICLR 2023): the batch is split into two halves
  (the paper's two batches); for every conv/linear weight w the loss
  gradient's mean |∂L/∂w| over the halves divided by its standard
  deviation, summed per layer (where the deviation is not 0), and the
  natural logs of those layer sums added: large, consistent gradients
  predict fast training.
- ``params`` and ``flops``: log10 of the trainable parameters and of one
  forward pass's multiply-accumulates: the baselines a proxy should beat.
- ``decoder_params`` (LiteTransformerSearch, Javaheripi et al. 2022): the
  number of parameters in a transformer's decoder layers, embeddings and
  output head left out, which ranks decoder-only language models by
  perplexity closely. Transformers only (the ``transformer`` space's
  networks, whose layers are ``model.blocks``); the raw count, not its log.

Language models (networks that read token ids, :func:`nas_gym.utils.inputs.token_vocab`):
the loss is the cross-entropy of the next token at every position, synflow's
data-free input is a window of token id 1, and fisher sums a linear layer's
products over positions per output feature. ``naswot`` refuses them: it reads
binary codes at activation modules, and these networks apply their
activations inside the feed-forward block (SwiGLU has no binary code).

Proxies are registered in :data:`ZERO_COST_PROXIES` by name (a function
``(model, x, y) -> float``), so a new one is one ``register`` line. Every
proxy runs on the CPU in float32 (synflow in float64) under the caller's
seeded initialisation, so a score is deterministic for a seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from nas_gym.error import ConfigError
from nas_gym.registry import Registry
from nas_gym.utils.counting import count_flops, count_params
from nas_gym.utils.inputs import input_dtype, token_vocab

Proxy = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]

#: Zero-cost proxies by name: ``(model, x, y) -> score``, larger meaning predicted better.
ZERO_COST_PROXIES: Registry[float] = Registry("zero-cost proxy", group="nas_gym.zero_cost_proxies")

_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU)


def _weighted(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _WEIGHTED)]


def _cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits ``out``; a language model's ``(N, L, V)`` against ``(N, L)`` counts every position."""
    if out.dim() == y.dim() + 1 and out.dim() > 2:
        return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    return nn.functional.cross_entropy(out, y)


def _loss_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    _cross_entropy(model(x), y).backward()


@ZERO_COST_PROXIES.register("grad_norm")
def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Summed per-layer L2 norms of the loss gradient of conv/linear weights."""
    _loss_backward(model, x, y)
    return float(sum(m.weight.grad.norm() for m in _weighted(model) if m.weight.grad is not None))


@ZERO_COST_PROXIES.register("snip")
def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Connection sensitivity: Σ |W ⊙ ∂L/∂W| (the gradient of the loss w.r.t. a multiplicative weight mask)."""
    _loss_backward(model, x, y)
    with torch.no_grad():
        return float(sum((m.weight.grad * m.weight).abs().sum() for m in _weighted(model) if m.weight.grad is not None))


@ZERO_COST_PROXIES.register("fisher")
def fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Σ over channels of ½ · E_batch[(Σ_positions a ⊙ ∂L/∂a)²] at every conv/linear output ``a``."""
    outputs: list[torch.Tensor] = []

    def keep(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        out.retain_grad()
        outputs.append(out)

    handles = [m.register_forward_hook(keep) for m in _weighted(model)]
    try:
        _loss_backward(model, x, y)
    finally:
        for h in handles:
            h.remove()
    # A language model's linear layers act per position: their channels are the last axis, not the second.
    tokens = token_vocab(model) is not None
    total = 0.0
    for a in outputs:
        if a.grad is None:
            continue
        product = a.detach() * a.grad
        if tokens and product.dim() > 2:
            per_channel = product.reshape(len(product), -1, product.shape[-1]).sum(1)
        else:
            per_channel = product.flatten(2).sum(-1) if product.dim() > 2 else product
        total += float(per_channel.pow(2).mean(0).mul(0.5).sum())
    return total


@ZERO_COST_PROXIES.register("zico")
def zico(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, splits: int = 2) -> float:
    """Σ over conv/linear layers of ``ln Σ_w E[|∂L/∂w|] / std(∂L/∂w)``, moments over ``splits`` parts of the batch.

    As the authors' code (``getzico``): a layer whose every gradient has zero
    deviation adds nothing, and neither does one whose sum is 0. ``-inf``
    when no layer adds anything (e.g. a cell with no path to the output).
    """
    model.train()
    layers = _weighted(model)
    grads: list[list[torch.Tensor]] = [[] for _ in layers]
    for xb, yb in zip(x.chunk(splits), y.chunk(splits), strict=True):
        model.zero_grad(set_to_none=True)
        _cross_entropy(model(xb), yb).backward()
        for kept, m in zip(grads, layers, strict=True):
            if m.weight.grad is not None:
                kept.append(m.weight.grad.detach().flatten().clone())
    total, terms = 0.0, 0
    for kept in grads:
        if len(kept) < 2:
            continue
        g = torch.stack(kept)
        std, mean_abs = g.std(0), g.abs().mean(0)
        nonzero = std != 0
        layer_sum = float((mean_abs[nonzero] / std[nonzero]).sum())
        if layer_sum > 0:
            total += math.log(layer_sum)
            terms += 1
    return total if terms else -math.inf


@ZERO_COST_PROXIES.register("synflow")
def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """``ln`` of the synaptic flow Σ |θ ⊙ ∂R/∂θ| of the linearised (|θ|, float64) network on an all-ones input.

    Works on the given model in place (it is a throwaway network built for the score).
    """
    del y  # data-free by design
    model.double().eval()  # batch norm in eval mode: at initialisation an identity, as with BN removed
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    # All ones: a float network's input, or a window of token id 1 for a language model (its embeddings go float64).
    ones_dtype = torch.float64 if token_vocab(model) is None else input_dtype(model)
    model(torch.ones((1, *x.shape[1:]), dtype=ones_dtype)).sum().backward()
    with torch.no_grad():
        total = sum(float((p * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
    return math.log(total) if total > 0 else -math.inf


@ZERO_COST_PROXIES.register("naswot")
def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """``log |det K|`` of the binary activation-code kernel of the batch (Mellor et al. 2021).

    Raises:
        ConfigError: For a language model (see the module docstring).
    """
    del y
    if token_vocab(model) is not None:
        raise ConfigError("Proxy 'naswot' reads binary codes at activation modules, but this language model applies "
                          "its activations inside the feed-forward block (SwiGLU has no binary code). Use "
                          "proxy='decoder_params' (or synflow, grad_norm, snip, fisher, zico, params, flops).")
    n = len(x)
    kernel = torch.zeros((n, n), dtype=torch.float64)

    def code(_m: nn.Module, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        c = (inp[0].reshape(n, -1) > 0).double()
        kernel.add_(c @ c.T + (1 - c) @ (1 - c).T)

    handles = [m.register_forward_hook(code) for m in model.modules() if isinstance(m, _ACTIVATIONS)]
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) != 0 else -math.inf


@ZERO_COST_PROXIES.register("params")
def params(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """``log10`` of the trainable parameters (a baseline every proxy should beat)."""
    return math.log10(max(1, count_params(model)))


@ZERO_COST_PROXIES.register("flops")
def flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """``log10`` of one forward pass's multiply-accumulates (a baseline every proxy should beat)."""
    return math.log10(max(1, count_flops(model, tuple(x.shape[1:]))))


@ZERO_COST_PROXIES.register("decoder_params")
def decoder_params(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Parameters of a transformer's decoder layers (``model.blocks``), embeddings and output head excluded.

    LiteTransformerSearch's proxy (Javaheripi et al. 2022): the raw count.

    Raises:
        ConfigError: For a network without decoder layers (not the ``transformer`` space's).
    """
    del x, y  # data-free by design
    blocks = getattr(model, "blocks", None)
    if token_vocab(model) is None or not isinstance(blocks, nn.ModuleList):
        raise ConfigError(f"Proxy 'decoder_params' counts the parameters of a transformer's decoder layers, but this "
                          f"network ({type(model).__name__}) has none: use it on the 'transformer' space (e.g. "
                          "NAS-LM-v0), and proxy='params' elsewhere.")
    return float(sum(p.numel() for p in blocks.parameters() if p.requires_grad))


#: The proxies of every space, in the order of the module docstring's table.
PROXY_NAMES = ("synflow", "naswot", "grad_norm", "snip", "fisher", "zico", "params", "flops")
#: The proxies of the ``transformer`` space alone.
TRANSFORMER_PROXY_NAMES = ("decoder_params",)


def squash(score: float) -> float:
    """A strictly increasing map of a score onto [0, 1] (``-inf`` → 0): ``0.5 + atan(score) / π``.

    The zero-cost evaluator reports it as ``val_accuracy``, so every reward
    and method works unchanged and orders architectures as the proxy does.
    """
    return 0.0 if score == -math.inf else 0.5 + math.atan(score) / math.pi
