"""An ensemble of small MLPs, the predictor of BANANAS (White, Neiswanger and Savani, AAAI 2021).

Each member is a fully connected ReLU network trained full-batch with Adam
on the standardised targets from its own initialisation; the ensemble's
mean is the prediction and the spread of its members (standard deviation)
the uncertainty that BANANAS's acquisition function uses. BANANAS's code
(``naszilla``'s ``MetaNeuralnet``) trains 5 members of 10 layers of width
20 for 200 epochs on the mean absolute error, in batches of 32, with Adam
at 0.01; with the small training sets of a search (tens to hundreds of
points) a shallower, wider network trained full-batch on the squared error
takes a fraction of the time (``scripts/bench_predictors.py`` prints how
well it ranks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nas_gym.error import ConfigError
from nas_gym.predictors.base import Predictor
from nas_gym.spaces import SearchSpace


class MLPEnsemble(Predictor):
    """``num_members`` MLPs fit independently; mean and standard deviation over members.

    Training runs on one CPU thread (the previous thread count is restored
    afterwards) and inside :func:`torch.random.fork_rng`, so it neither
    depends on nor changes torch's global random state: member ``m`` is
    initialised from ``seed`` and ``m`` alone. On 100 points a member takes
    a fraction of a second.

    Args:
        space: The space the architectures belong to.
        encoding: Feature encoding; None for the space's default.
        seed: Seed of the members' initialisation.
        num_members: Ensemble size.
        hidden: Widths of the hidden layers.
        epochs: Full-batch Adam steps per member.
        lr: Adam learning rate.
        weight_decay: Adam weight decay (L2).

    Raises:
        ConfigError: A setting out of range, or a bad encoding.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        encoding: str | None = None,
        seed: int = 0,
        num_members: int = 5,
        hidden: Sequence[int] = (64, 64),
        epochs: int = 150,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
    ):
        super().__init__(space, encoding=encoding, seed=seed)
        if int(num_members) < 1:
            raise ConfigError(f"MLPEnsemble num_members must be ≥ 1, got {num_members!r}.")
        if not hidden or any(int(h) < 1 for h in hidden):
            raise ConfigError(f"MLPEnsemble hidden must be a non-empty list of widths ≥ 1, got {hidden!r}.")
        if int(epochs) < 1 or not lr > 0 or not weight_decay >= 0:
            raise ConfigError(
                f"MLPEnsemble needs epochs ≥ 1, lr > 0 and weight_decay ≥ 0, got {epochs!r}, {lr!r}, {weight_decay!r}."
            )
        self.num_members = int(num_members)
        self.hidden = tuple(int(h) for h in hidden)
        self.epochs = int(epochs)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self._members: list[nn.Module] = []

    def _network(self, width: int) -> nn.Module:
        layers: list[nn.Module] = []
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        return nn.Sequential(*layers)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                xs, ys = torch.from_numpy(x), torch.from_numpy(y).unsqueeze(1)
                self._members = []
                for m in range(self.num_members):
                    # One seed per (predictor seed, member): members differ, refits repeat.
                    torch.manual_seed(int(np.random.SeedSequence([self.seed, m]).generate_state(1)[0]))
                    net = self._network(x.shape[1])
                    _train_adam(net, xs, ys, self.epochs, self.lr, self.weight_decay)
                    net.eval()
                    self._members.append(net)
        finally:
            torch.set_num_threads(threads)

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                xs = torch.from_numpy(x)
                preds = np.stack([net(xs).squeeze(1).double().numpy() for net in self._members])
        finally:
            torch.set_num_threads(threads)
        return preds.mean(axis=0), preds.std(axis=0)


def _train_adam(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, weight_decay: float) -> None:
    """Full-batch Adam (Kingma and Ba's update, L2 added to the gradient) on the mean squared error.

    Written out rather than ``torch.optim.Adam`` because building the first
    torch optimiser in a process imports ``torch._dynamo``, seconds that
    would dwarf the training of a net this small.
    """
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    params = list(net.parameters())
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        loss = nn.functional.mse_loss(net(x), y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            if weight_decay:
                grads = torch._foreach_add(grads, params, alpha=weight_decay)
            torch._foreach_mul_(first, beta1)
            torch._foreach_add_(first, grads, alpha=1 - beta1)
            torch._foreach_mul_(second, beta2)
            torch._foreach_addcmul_(second, grads, grads, value=1 - beta2)
            denom = torch._foreach_sqrt(torch._foreach_div(second, 1 - beta2**t))
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, first, denom, value=-lr / (1 - beta1**t))
