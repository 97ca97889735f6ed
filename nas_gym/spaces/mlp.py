"""The multilayer-perceptron search space: fully connected networks for vector inputs.

Each of ``num_layers`` slots is either empty (``none``: no layer) or a hidden
layer that chooses its width, activation, normalisation and dropout -- the
space of the classic introductory random-search example (hidden size x
activation), for tabular tasks such as ``wine`` and ``breast_cancer``. The
network flattens its input first, so it builds for any task: vectors ``(D,)``,
signals ``(1, 40)`` and images ``(1, 8, 8)`` alike. Its hidden layer is
:func:`nas_gym.networks.mlp.make_dense`, imported when the space builds.

As in the ``layers`` space, the fields of an empty slot are "don't care": they
may only take their first choice, so every network has exactly one index
tuple. The string form reads like ``64-relu-batch-0.1|none|32-tanh-none-0|none``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ArchitectureError, ConfigError, did_you_mean
from nas_gym.spaces.base import Architecture, check_not_language_model
from nas_gym.spaces.layers import ACTIVATIONS, _ints, _names, _nonempty
from nas_gym.spaces.slots import EMPTY, SlotSpace, check_num_layers
from nas_gym.tasks.base import Task
from nas_gym.utils.lazy import moved_names

if TYPE_CHECKING:
    from torch import nn

NORMS = ("none", "batch", "layer")
# Field order inside a slot: the order of the slot's decisions and of its string tokens.
FIELDS = ("width", "act", "norm", "dropout")
_FIELD_HELP = "width-activation-norm-dropout, e.g. '64-relu-batch-0.1'"
# make_dense lived here until the space was split from its torch modules.
__getattr__ = moved_names(__name__, "nas_gym.networks.mlp", ("make_dense",))


def _dropout_name(p: float) -> str:
    """Shortest text of ``p`` that reads back as the same float (``0``, ``0.1``)."""
    short = f"{p:g}"
    return short if float(short) == p else repr(p)


def _dropouts(given: Sequence[Any]) -> tuple[float, ...]:
    out = _nonempty("dropout", given)
    for p in out:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p < 1:
            raise ConfigError(f"Each dropout must be a probability in [0, 1), got {p!r} in {list(out)}.")
    return tuple(float(p) for p in out)


class MLPSpace(SlotSpace):
    """A skeleton of ``num_layers`` fully connected slots, each a group of decisions.

    Per slot the decisions are, in this order and only where the field has
    two or more choices: ``width`` (``none`` or a number of units), ``act``,
    ``norm`` and ``dropout``; they are named ``layer{i}/{field}``. ``width``
    always has two or more choices (``none`` plus ``widths``), so it is
    always a decision.

    Masks (``valid_choices``): a slot whose width is ``none`` is no layer,
    so its ``act``, ``norm`` and ``dropout`` take only their first choice.
    Nothing else is masked. A network whose slots are all empty is allowed:
    it is the flattened input and the linear classifier, i.e. multinomial
    logistic regression, a fair baseline on tabular data.

    Canonical form (:meth:`canonical`): an empty slot computes nothing and a
    hidden layer's input is the previous layer's output whatever lies
    between, so only the order of the non-empty slots matters; the canonical
    architecture has them first, in their order, and the empty slots last.

    Args:
        num_layers: Number of slots (at least 1).
        widths: Hidden-unit choices of a non-empty slot (positive integers).
        activations: From ``relu``, ``relu6``, ``swish``, ``gelu``, ``elu``,
            ``tanh``, ``sigmoid``.
        norms: From ``none``, ``batch`` (``BatchNorm1d``) and ``layer``
            (``LayerNorm``), applied between the linear layer and the activation.
        dropouts: Dropout probabilities in [0, 1) after the activation
            (0 adds no dropout layer).

    Raises:
        ConfigError: For an unknown name or an impossible value.

    Example:
        >>> space = MLPSpace(num_layers=3)
        >>> arch = space.from_string("none|64-relu-batch-0.1|32-tanh-none-0")
        >>> str(space.canonical(arch))
        '64-relu-batch-0.1|32-tanh-none-0|none'
    """

    name = "mlp"
    FIELDS = FIELDS
    FIELD_HELP = _FIELD_HELP

    def __init__(
        self,
        num_layers: int = 4,
        widths: Sequence[int] = (16, 32, 64, 128, 256),
        activations: Sequence[str] = ("relu", "tanh", "gelu", "sigmoid"),
        norms: Sequence[str] = ("none", "batch", "layer"),
        dropouts: Sequence[float] = (0.0, 0.1, 0.3),
    ) -> None:
        """Check the configuration and lay out the decisions."""
        num_layers = check_num_layers(num_layers)
        self.widths = _ints("width", widths, lambda v: v > 0, "a positive integer")
        self.activations = _names("activation", activations, ACTIVATIONS)
        self.norms = _names("norm", norms, NORMS)
        self.dropouts = _dropouts(dropouts)
        values: dict[str, tuple[Any, ...]] = {
            "width": (None, *self.widths),
            "act": self.activations,
            "norm": self.norms,
            "dropout": self.dropouts,
        }
        names = {f: tuple(_choice_name(f, v) for v in values[f]) for f in FIELDS}
        self._lay_out(num_layers, values, names)

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as plain data."""
        return {
            "num_layers": self.num_layers,
            "widths": list(self.widths),
            "activations": list(self.activations),
            "norms": list(self.norms),
            "dropouts": list(self.dropouts),
        }

    # -- strings --------------------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        """Slots joined by ``|``; see :meth:`from_string` for the format."""
        return "|".join(self._slot_strings(arch))

    def _token(self, field: str, value: Any) -> str:
        return _choice_name(field, value)

    def from_string(self, text: str) -> Architecture:
        """Parse ``64-relu-batch-0.1|none|32-tanh-none-0|none``.

        One ``|``-separated part per slot: ``none`` for an empty slot, or the
        four tokens ``{width}-{activation}-{norm}-{dropout}`` in that order
        (dropout as a number, ``0`` for none). Fields with one choice in this
        space are written too, and must be that choice.

        Raises:
            ArchitectureError: Naming the bad slot and token and the valid choices.
        """
        if not isinstance(text, str):
            raise ArchitectureError(f"Expected an architecture string, got {type(text).__name__} {text!r}.")
        parts = text.strip().split("|")
        if len(parts) != self.num_layers:
            raise ArchitectureError(
                f"Architecture {text!r} has {len(parts)} slot(s) separated by '|'; this space has "
                f"{self.num_layers}, e.g. {self.to_string(self.sample(np.random.default_rng(0)))!r}."
            )
        return Architecture(self, tuple(i for s, part in enumerate(parts) for i in self._parse_slot(part.strip(), s)))

    def _choice_index(self, field: str, tok: str, where: str) -> int:
        """Index of token ``tok`` among ``field``'s choices; numbers compare by value (``0.0`` is ``0``)."""
        names = self._names[field] if field != "width" else self._names[field][1:]
        values = self._values[field] if field != "width" else self._values[field][1:]
        value: Any = tok
        try:
            if field == "width":
                value = int(tok) if tok.isdigit() else tok
            elif field == "dropout":
                value = float(tok)
        except ValueError:
            pass
        if value in values:
            return values.index(value) + (field == "width")
        hint = did_you_mean(tok, names) if field in ("act", "norm") else ""
        raise ArchitectureError(
            f"{where}: {field} {tok!r} is not a choice of this space.{hint} Choices: {', '.join(names)} "
            f"(a slot is {_FIELD_HELP}, or 'none')."
        )

    # -- networks ---------------------------------------------------------------------
    def check_task(self, task: Task) -> None:
        """Refuse a language-modelling task (token ids are no features): use the ``transformer`` space for those.

        Raises:
            ConfigError: Naming the task and suggesting ``space="transformer"``.
        """
        check_not_language_model(self.name, task)

    def _layer_keys(self, arch: Architecture, task: Task) -> tuple[list[tuple], tuple]:
        """Per-slot keys (empty slots dropped) and the head key, for the flattened inputs of ``task``."""
        features = math.prod(task.input_shape)
        keys: list[tuple] = []
        for s in range(self.num_layers):
            v = self.slot_values(arch, s)
            if v["width"] is None:
                continue
            keys.append(("mlp/dense", features, v["width"], v["act"], v["norm"], v["dropout"]))
            features = v["width"]
        return keys, ("mlp/head", features, task.num_classes)

    def build(self, arch: Architecture, task: Task) -> nn.Module:
        """Build the network: ``Flatten``, the non-empty slots in order, then a linear classifier.

        A slot is ``Linear(width)``, then ``BatchNorm1d``/``LayerNorm`` (or
        nothing), the activation and ``Dropout(p)`` (left out for ``p == 0``).
        The input is flattened, so any task's input shape works.
        """
        from torch import nn  # needed only to build

        keys, head = self._layer_keys(arch, task)
        return nn.Sequential(nn.Flatten(), *(self.build_op(k)[0] for k in (*keys, head)))

    def op_keys(self, arch: Architecture, task: Task) -> list[tuple]:
        """One key per non-empty slot, then the head key.

        Slot keys are ``("mlp/dense", in_features, width, activation, norm,
        dropout)``; the head key is ``("mlp/head", in_features,
        num_classes)``. Flattening costs nothing and has no key.
        """
        keys, head = self._layer_keys(arch, task)
        return [*keys, head]

    def build_op(self, key: tuple) -> tuple[nn.Module, tuple[int, ...]]:
        """Build the module and input shape (without batch) for one key of :meth:`op_keys`.

        Raises:
            ConfigError: If ``key`` is not a key of this space.
        """
        bad = ConfigError(
            f"Not a per-op key of the mlp space: {key!r}. Expected a key from MLPSpace.op_keys, "
            "e.g. ('mlp/dense', 13, 64, 'relu', 'batch', 0.1) or ('mlp/head', 64, 3)."
        )
        from torch import nn

        from nas_gym.networks.mlp import make_dense  # torch, needed only to build

        name = key[0] if key and isinstance(key[0], str) else ""
        try:
            if name == "mlp/head":
                _, features, num_classes = key
                return nn.Linear(features, num_classes), (features,)
            if name == "mlp/dense":
                _, features, width, act, norm, dropout = key
                return make_dense(features, width, act, norm, dropout), (features,)
        except (ValueError, TypeError, KeyError) as e:
            if isinstance(e, ConfigError):
                raise
            raise bad from e
        raise bad


def _choice_name(field: str, value: Any) -> str:
    if field == "width":
        return EMPTY if value is None else str(value)
    if field == "dropout":
        return _dropout_name(value)
    return str(value)
