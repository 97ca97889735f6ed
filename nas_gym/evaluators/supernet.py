"""The supernet evaluator: scores from one weight-sharing network (``evaluator="supernet"``).

Every architecture is a single path of one supernet (:mod:`nas_gym.supernets`)
trained on the env's task, and its score is the validation accuracy of that
path with the weights it shares with every other architecture — after the
batch-norm statistics are recomputed for the path on a few training batches,
as SPOS does (Guo et al. 2020). Nothing is trained from scratch, so an
evaluation costs milliseconds to a second instead of a full training.

Two ways to train the shared weights (``mode``):

- ``"inline"`` (ENAS's alternation, Pham et al. 2018): each evaluation first
  trains the shared weights for ``inline_steps`` SGD steps along the
  evaluated architecture's path, then scores it. The supernet changes with
  every evaluation, so the same architecture can score differently later.
- ``"pretrained"`` (SPOS; also random search with weight sharing, Li &
  Talwalkar 2019): before the first score, ``pretrain_epochs`` epochs (or
  ``pretrain_steps`` updates) of single-path training with a path drawn
  uniformly at random (``space.sample``) for each batch -- on the
  ``transformer`` space by the sandwich rule, the largest, the smallest and a
  random sub-transformer per batch (``sampling``); after that the weights
  stay fixed and a score is a function of the architecture alone. The pretraining's seconds
  count in the first evaluation's ``cost_s``.

What the metrics say: ``val_accuracy`` is the shared-weight score; the
final ``info`` and history line carry ``score_source="supernet"``,
``supernet_state`` (a digest of everything the shared weights were trained
on so far: settings, pretraining, each inline training's architecture) and
``supernet_steps`` (SGD steps taken so far). On a table env (``nb201`` with
the embedded table, or ``table=...``) the table stays the stand-alone
reference: ``test_accuracy`` and the latency column come from the
architecture's row; elsewhere ``test_accuracy`` is the path's accuracy on the
test split under the same shared weights. On a regression task (the
``rnn_cell`` space on ``NAS-RNN-v0``) the shared weights train on the MSE, the
scores are R² and ``val_mse``/``test_mse`` come with them
(:mod:`nas_gym.tasks.loss`). On a language-modelling task (``NAS-LM-v0``) the
scores are next-character accuracies and ``val_bpc``/``test_bpc`` come with
them; the supernet is :mod:`nas_gym.supernets.transformer`'s, and the env's
training settings become ``standalone_kwargs`` (:func:`nas_gym.env.parts.build_parts`).

Caching: scores are never written to or read from the evaluation cache. A
score depends on the supernet's state as well as on the architecture, and a
stand-alone result is another quantity altogether. Stand-alone results of
the same architectures (``nas_gym.search.weight_sharing.standalone_evaluator``) are
cached under the training evaluator's own keys.

State: the supernet, its optimiser, the data cursor and the path generator
are :meth:`SupernetEvaluator.state_dict` (tensors and plain data, loadable
with ``torch.load(weights_only=True)``). A :class:`~nas_gym.search.run.SearchRun`
saves it with every recorded evaluation and restores it on resume, because
replaying a history does not retrain the supernet. For the same reason the
evaluator runs in the process that holds the env: a run with several
workers refuses it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from nas_gym.error import ConfigError
from nas_gym.evaluators.base import Evaluator
from nas_gym.evaluators.metrics import Metrics
from nas_gym.evaluators.table import TabularBenchmark
from nas_gym.spaces.base import Architecture, SearchSpace
from nas_gym.supernets import check_single_path, make_supernet
from nas_gym.tasks.base import Task
from nas_gym.tasks.loss import bits_per_char, task_loss, task_score
from nas_gym.utils.counting import count_flops, count_params
from nas_gym.utils.device import fork_rng, resolve_device, torch_threads

MODES = ("inline", "pretrained")
SAMPLINGS = ("uniform", "fair", "sandwich")
OPTIMIZERS = ("adam", "sgd")
# Bump when training or scoring changes results (part of settings(), so of every supernet_state digest).
SUPERNET_VERSION = 1
_CPU = torch.device("cpu")
_SCORE_BATCH = 1024
#: Defaults that differ by space (None arguments take them; every other space keeps the general ones).
#: The transformer supernet: Adam at 3e-3 (as the LM envs' AdamW), the sandwich rule, and 400 updates of
#: 16 windows (3 paths each): about 50 s of pretraining on one core.
_SPACE_DEFAULTS: dict[str, dict[str, Any]] = {
    "rnn_cell": {"optimizer": "adam"},
    "transformer": {"optimizer": "adam", "sampling": "sandwich", "batch_size": 16, "pretrain_steps": 400},
}
_DEFAULTS: dict[str, Any] = {"optimizer": "sgd", "sampling": "uniform", "batch_size": 32,
                             "pretrain_steps": None, "pretrain_epochs": 30}


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class SupernetEvaluator(Evaluator):
    """Scores architectures as single paths of one supernet trained on ``task`` (see the module docstring).

    Args:
        task: The task the supernet trains and scores on.
        space: The env's search space (``nb201``, ``rnn_cell``, ``transformer``, or ``layers`` with one norm and
            one attention).
        mode: ``"inline"`` or ``"pretrained"``.
        inline_steps: SGD steps on the evaluated path before each score (``mode="inline"``). 8: ENAS
            at 10 cost 8.7 and 10.6 stand-alone evaluations in two runs on ``NAS-v0`` (goal: 10), at 8 it
            cost 5.5, 6.5 and 7.8 in three, and its final architecture stayed where it was (table percentile
            90.1 against 89.2 at 10, 80.1 at 6, seeds 0-9 on an AMD EPYC; 84.5 at 8 over seeds 0-29 on an
            AVX-512 Xeon; ``scripts/bench_supernet.py``).
        pretrain_epochs: Epochs of single-path training before the first score (``mode="pretrained"``); None:
            30 (ignored where ``pretrain_steps`` applies).
        pretrain_steps: Updates of the pretraining instead of epochs (each on one batch); None: 400 on
            ``transformer`` unless ``pretrain_epochs`` is given, epochs elsewhere.
        sampling: How the pretraining draws paths; None: ``"sandwich"`` on ``transformer``, else
            ``"uniform"``. ``"uniform"`` (SPOS): one path per batch, uniformly at random. ``"fair"`` (FairNAS's
            strict fairness, Chu et al. 2021): each update trains ``m`` paths
            (``m`` = the most choices of any decision) on the same batch, in which every decision takes each of
            its choices once (a random permutation per decision; decisions with fewer choices fill the rest at
            random; the space's ``repair`` keeps each path valid), then takes one step on the summed gradients.
            Both see the same number of path-batches per epoch: fair sampling takes ``m`` times fewer updates.
            ``"sandwich"`` (BigNAS, AutoFormer; the ``transformer`` supernet only): each update trains the largest
            network, the smallest and a random one on the same batch and steps on the summed gradients (an epoch
            of it takes 3 times fewer updates; ``pretrain_steps`` counts updates).
        batch_size: Training batch size; None: 16 on ``transformer``, else 32.
        optimizer: ``"sgd"`` (Nesterov; the papers' choice) or ``"adam"``; None: Adam on ``rnn_cell`` and
            ``transformer``, SGD elsewhere. Measured on the embedded MNIST-1D table (100 random cells, Kendall τ
            with the table after pretraining): Adam at 3e-3 ranks them *inversely* (τ ≈ -0.2 after 5 to 20 epochs:
            it favours shallow cells), SGD at 0.1 reaches τ ≈ 0.2-0.26 after 30 to 60 epochs. On
            NAS-RNN-v0's recurrent cell SGD does not train the shared weights at all (DARTS's relaxed cell:
            training MSE 0.98, the targets' variance, after 160 steps at lr 0.1; Adam at 3e-3: 0.056).
        lr: Learning rate (cosine-decayed to 0 over the pretraining; constant inline); None: 0.1 under SGD,
            3e-3 under Adam.
        momentum: SGD momentum (``optimizer="sgd"``).
        weight_decay: Weight decay.
        grad_clip: Gradient-norm clip.
        bn_batches: Training batches that recompute the batch-norm statistics of each scored path.
        seed: Seed of the supernet's weights, the shuffling and the pretraining's paths. The env's
            ``reset(seed=...)`` and a search's ``--seed`` leave it alone: searches at several seeds share one
            supernet unless each sets its own (``scripts/bench_supernet.py --vary-supernet`` does).
        num_threads: Torch intra-op threads while training and scoring.
        device: Where the supernet trains (``"cpu"``, ``"cuda"``, ``"auto"``, ...; see :mod:`nas_gym.utils.device`).
        standalone_kwargs: ``evaluator_kwargs`` of the stand-alone training evaluator that retrains a
            search's top architectures (``nas_gym.search.weight_sharing``); unused on table envs.
        table: The env's table (the stand-alone reference), or None.

    Raises:
        ConfigError: An unknown mode, a setting out of range, or a space without single paths.
    """

    stateful = True

    def __init__(
        self,
        task: Task,
        *,
        space: SearchSpace,
        mode: str = "inline",
        inline_steps: int = 8,
        pretrain_epochs: int | None = None,
        pretrain_steps: int | None = None,
        sampling: str | None = None,
        batch_size: int | None = None,
        optimizer: str | None = None,
        lr: float | None = None,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        grad_clip: float = 5.0,
        bn_batches: int = 4,
        seed: int = 0,
        num_threads: int = 1,
        device: str = "cpu",
        standalone_kwargs: dict[str, Any] | None = None,
        table: TabularBenchmark | None = None,
    ):
        check_single_path(space)
        self._check_mode(mode)
        defaults = {**_DEFAULTS, **_SPACE_DEFAULTS.get(space.name, {})}
        if optimizer is None:
            optimizer = defaults["optimizer"]
        if sampling is None:
            sampling = defaults["sampling"]
        if batch_size is None:
            batch_size = defaults["batch_size"]
        if pretrain_steps is None and pretrain_epochs is None:
            pretrain_steps = defaults["pretrain_steps"]
        if pretrain_epochs is None:
            pretrain_epochs = defaults["pretrain_epochs"]
        if lr is None:
            lr = 3e-3 if optimizer == "adam" else 0.1
        if sampling not in SAMPLINGS:
            raise ConfigError(f"supernet sampling must be one of {list(SAMPLINGS)}, got {sampling!r}.")
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"supernet optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}.")
        if sampling == "sandwich" and space.name != "transformer":
            raise ConfigError(f"supernet sampling='sandwich' needs a supernet with a largest and a smallest network "
                              f"(the 'transformer' space's); space {space.name!r} has none: use 'uniform' or 'fair'.")
        if pretrain_steps is not None and (isinstance(pretrain_steps, bool)
                                           or not isinstance(pretrain_steps, (int, np.integer)) or pretrain_steps < 0):
            raise ConfigError(f"supernet pretrain_steps must be None or an integer ≥ 0, got {pretrain_steps!r}.")
        for name, value, low in (("inline_steps", inline_steps, 0), ("pretrain_epochs", pretrain_epochs, 0),
                                 ("batch_size", batch_size, 2), ("bn_batches", bn_batches, 1),
                                 ("num_threads", num_threads, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(f"supernet {name} must be an integer ≥ {low}, got {value!r}.")
        for name, value in (("lr", lr), ("grad_clip", grad_clip)):
            if not (isinstance(value, (int, float)) and value > 0):
                raise ConfigError(f"supernet {name} must be a positive number, got {value!r}.")
        for name, value in (("momentum", momentum), ("weight_decay", weight_decay)):
            if not (isinstance(value, (int, float)) and value >= 0):
                raise ConfigError(f"supernet {name} must be a number ≥ 0, got {value!r}.")
        if standalone_kwargs is not None and not isinstance(standalone_kwargs, dict):
            raise ConfigError(f"supernet standalone_kwargs must be a dict of training settings, got "
                              f"{standalone_kwargs!r}.")
        self.task, self.space, self.table = task, space, table
        self.mode = mode
        self.inline_steps, self.pretrain_epochs = int(inline_steps), int(pretrain_epochs)
        self.pretrain_steps = None if pretrain_steps is None else int(pretrain_steps)
        self.sampling = sampling
        self.batch_size = min(int(batch_size), len(task.x_train))
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.grad_clip, self.bn_batches = float(grad_clip), int(bn_batches)
        self.seed, self.num_threads = int(seed), int(num_threads)
        self.standalone_kwargs = dict(standalone_kwargs or {})
        self.device = resolve_device(device)
        with fork_rng(_CPU):
            # Built on the CPU so the initial weights do not depend on the device (as the training evaluator).
            torch.manual_seed(self.seed)
            self.net = make_supernet(space, task, torch.Generator().manual_seed(self.seed)).to(self.device)
        self._weights = list(self.net.weight_parameters())
        self.optimizer_name = optimizer
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(self._weights, lr=self.lr, weight_decay=self.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(self._weights, lr=self.lr, momentum=self.momentum,
                                             nesterov=self.momentum > 0, weight_decay=self.weight_decay)
        data = {k: torch.from_numpy(getattr(task, k)).to(self.device)
                for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        self._data = data
        # The batches that recompute batch-norm statistics: fixed, so a score is a function of weights and path.
        rows = np.random.default_rng([self.seed, 1]).permutation(len(task.x_train))
        n = min(len(rows), self.bn_batches * self.batch_size)
        calib = torch.from_numpy(rows[:n]).to(self.device)
        self._calibration = list(data["x_train"][calib].split(self.batch_size))
        self.rng = np.random.default_rng([self.seed, 2])
        self._perm = self.rng.permutation(len(task.x_train))
        self._cursor = 0
        #: SGD steps on the shared weights so far.
        self.steps = 0
        #: Whether the pretraining (``mode="pretrained"``) is done.
        self.pretrained = False
        #: Evaluations made so far (a resumed run's checkpoint says how many it holds).
        self.evaluations = 0
        #: Digest of what the shared weights were trained on so far.
        self.state = _digest(self.settings())

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in MODES:
            raise ConfigError(f"supernet mode must be one of {list(MODES)}, got {mode!r}.")

    def use_mode(self, mode: str) -> None:
        """Switch to ``mode`` (what a weight-sharing method needs: ENAS ``"inline"``, SPOS/RSPS ``"pretrained"``).

        Raises:
            ConfigError: An unknown mode, or a switch after the shared weights have been trained.
        """
        self._check_mode(mode)
        if mode == self.mode:
            return
        if self.steps:
            raise ConfigError(f"The supernet has trained {self.steps} steps in mode {self.mode!r}; it cannot "
                              f"switch to {mode!r}. Make a new env.")
        self.mode = mode
        self.state = _digest(self.settings())

    # -- training ---------------------------------------------------------------------
    def _batch(self) -> torch.Tensor:
        """Indices of the next training batch (a new permutation each epoch)."""
        if self._cursor + self.batch_size > len(self._perm):
            self._perm, self._cursor = self.rng.permutation(len(self._perm)), 0
        rows = self._perm[self._cursor : self._cursor + self.batch_size]
        self._cursor += self.batch_size
        return torch.from_numpy(rows).to(self.device)

    def _step(self, path: Architecture | list[Architecture]) -> float:
        """One update on the next batch: along ``path``, or on the summed gradients of several paths (fair)."""
        self.net.train()
        rows = self._batch()
        x, y = self._data["x_train"][rows], self._data["y_train"][rows]
        # set_to_none: the operations off the path get no update at all (no momentum, no decay).
        self.optimizer.zero_grad(set_to_none=True)
        for p in path if isinstance(path, list) else [path]:
            loss = task_loss(self.task, self.net(x, path=p), y)
            loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in self._weights if p.grad is not None], self.grad_clip)
        self.optimizer.step()
        self.steps += 1
        return loss.item()

    @property
    def steps_per_epoch(self) -> int:
        """Training batches in one epoch of the task's training split."""
        return len(self.task.x_train) // self.batch_size

    def pretrain(self) -> float:
        """Train the shared weights with single paths for ``pretrain_epochs`` epochs or ``pretrain_steps`` updates.

        Once; returns the seconds it took. Paths are drawn as ``sampling`` says.

        The learning rate follows a cosine from ``lr`` to 0 over the pretraining.
        """
        if self.pretrained:
            return 0.0
        start = time.perf_counter()
        fair, sandwich = self.sampling == "fair", self.sampling == "sandwich"
        m = self.space.max_choices if fair else 3 if sandwich else 1
        total = self.pretrain_epochs * self.steps_per_epoch // m if self.pretrain_steps is None else self.pretrain_steps
        with torch_threads(self.num_threads), tqdm(total=total, desc="supernet pretraining", unit="step", leave=False,
                                   disable=None) as bar:
            for t in range(total):
                for group in self.optimizer.param_groups:
                    group["lr"] = 0.5 * self.lr * (1 + math.cos(math.pi * t / total))
                if fair:
                    self._step(self._fair_paths())
                elif sandwich:
                    self._step(self.net.sandwich_paths(self.rng))
                else:
                    self._step(self.space.sample(self.rng))
                bar.update()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        self.pretrained = True
        self.state = _digest(self.state, "pretrain", self.pretrain_epochs if self.pretrain_steps is None
                             else {"steps": self.pretrain_steps})
        return time.perf_counter() - start

    def _fair_paths(self) -> list[Architecture]:
        """``max_choices`` paths in which every decision takes each of its choices once (FairNAS)."""
        m = self.space.max_choices
        columns = []
        for n in self.space.nvec:
            n = int(n)
            column = self.rng.permutation(n)
            if n < m:
                column = np.concatenate([column, self.rng.integers(0, n, size=m - n)])
            columns.append(column)
        return [self.space.arch(self.space.repair([int(c[k]) for c in columns])) for k in range(m)]

    def train_path(self, arch: Architecture, steps: int) -> None:
        """Train the shared weights for ``steps`` SGD steps along ``arch``'s path."""
        with torch_threads(self.num_threads):
            for _ in range(steps):
                self._step(arch)
        if steps:
            self.state = _digest(self.state, "train", str(arch), steps)

    # -- scoring ----------------------------------------------------------------------
    def accuracy(self, arch: Architecture, split: str = "val") -> float:
        """Accuracy (R² on a regression task) of ``arch``'s path on ``split`` (``"val"`` or ``"test"``).

        The shared weights are used as they are; the path's batch-norm
        statistics are recomputed first (:meth:`Supernet.recalibrate`).
        """
        return self._scores(arch, (split,))[0][0]

    @torch.no_grad()
    def loss(self, arch: Architecture, split: str = "val") -> float:
        """The task's loss (cross-entropy, or MSE on a regression task) of ``arch``'s path on ``split``.

        Scored as :meth:`accuracy` is (batch-norm statistics recomputed first). Not
        the env's score: a diagnostic. On the embedded MNIST-1D table the negative
        validation loss of the pretrained supernet ranks cells better than its
        accuracy does (``scripts/bench_supernet.py --parts rank``).
        """
        with torch_threads(self.num_threads):
            self.net.recalibrate(arch, self._calibration)
            return float(task_loss(self.task, *self._outputs(arch, split)))

    def _outputs(self, arch: Architecture, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The recalibrated path's outputs on ``split`` (in batches of ``_SCORE_BATCH``) and its targets."""
        x, y = self._data[f"x_{split}"], self._data[f"y_{split}"]
        return torch.cat([self.net(xb, path=arch) for xb in x.split(_SCORE_BATCH)]), y

    @torch.no_grad()
    def _scores(self, arch: Architecture, splits: tuple[str, ...]) -> list[tuple[float, float | None]]:
        """The path's score on each of ``splits`` and, on a regression task, its MSE (see :mod:`nas_gym.tasks.loss`).

        The batch-norm statistics are recomputed once for all the splits: the
        weights do not change between them, so a second recalibration would
        give the same statistics at the cost of another pass over the batches.
        """
        out = []
        with torch_threads(self.num_threads):
            self.net.recalibrate(arch, self._calibration)
            for split in splits:
                score, mse, _ = task_score(self.task, *self._outputs(arch, split))
                out.append((score, mse))
        return out

    def evaluate(self, arch: Architecture) -> Metrics:
        """Train as the mode says (pretraining once, or ``inline_steps`` on this path), then score ``arch``."""
        start = time.perf_counter()
        pretrain_s = self.pretrain() if self.mode == "pretrained" else 0.0
        if self.mode == "inline":
            self.train_path(arch, self.inline_steps)
        test_loss = None
        if self.table is not None:
            [(val, val_loss)] = self._scores(arch, ("val",))
            test, latency = self.table.reference(arch)
        else:
            [(val, val_loss), (test, test_loss)], latency = self._scores(arch, ("val", "test")), None
        with fork_rng(_CPU):
            model = self.space.build(arch, self.task)
        params, flops = count_params(model), count_flops(model, self.task.input_shape)
        self.evaluations += 1
        extra: dict[str, Any] = {"score_source": "supernet", "supernet_state": self.state,
                                 "supernet_steps": self.steps}
        if pretrain_s:
            extra["pretrain_s"] = pretrain_s
        # The loss beside each score (tasks/loss.py): a regression task's MSE, a language model's nats.
        if self.task.is_regression:
            extra.update(val_mse=val_loss, test_mse=test_loss)
        elif self.task.is_language_model:
            extra.update(val_bpc=bits_per_char(val_loss), test_bpc=bits_per_char(test_loss))
        return Metrics(val_accuracy=val, test_accuracy=test, latency_ms=latency, params=params, flops=flops,
                       cost_s=time.perf_counter() - start, extra=extra)

    # -- settings and state -------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """What changes scores: mode, training settings, seed, the task's data and the version."""
        return {
            "mode": self.mode, "inline_steps": self.inline_steps, "pretrain_epochs": self.pretrain_epochs,
            # Only when set, as sampling below.
            **({"pretrain_steps": self.pretrain_steps} if self.pretrain_steps is not None else {}),
            # Only when not the default, so the digests of earlier uniform supernets (saved states, pins) hold.
            **({"sampling": self.sampling} if self.sampling != "uniform" else {}),
            "batch_size": self.batch_size, "optimizer": self.optimizer_name, "lr": self.lr, "momentum": self.momentum,
            "weight_decay": self.weight_decay, "grad_clip": self.grad_clip, "bn_batches": self.bn_batches,
            "seed": self.seed, "task": self.task.fingerprint, "space": self.space.key,
            "version": SUPERNET_VERSION,
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything that evolves: weights, optimiser, data cursor, path generator, counters (weights_only-safe)."""
        return {
            "net": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "rng": json.dumps(self.rng.bit_generator.state),
            "perm": torch.from_numpy(self._perm.copy()),
            "cursor": self._cursor, "steps": self.steps, "pretrained": self.pretrained,
            "evaluations": self.evaluations, "state": self.state, "settings": json.dumps(self.settings()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output, its mode included.

        Raises:
            ConfigError: The state was saved with other settings (other than the mode).
        """
        saved = json.loads(state["settings"])
        # The mode is the state's: a method switches it (use_mode) after a resumed run has restored the state.
        if {**saved, "mode": self.mode} != self.settings():
            raise ConfigError(f"This supernet state was saved with settings {state['settings']}, not this "
                              f"evaluator's {json.dumps(self.settings())}.")
        self.mode = saved["mode"]
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        self._perm = state["perm"].numpy().copy()
        self._cursor, self.steps = int(state["cursor"]), int(state["steps"])
        self.pretrained, self.evaluations = bool(state["pretrained"]), int(state["evaluations"])
        self.state = str(state["state"])

