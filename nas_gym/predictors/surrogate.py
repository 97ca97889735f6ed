"""Surrogate benchmarks: a fitted model that stands in for training (NAS-Bench-301's idea, Zela et al. 2022).

A surrogate is two files with one stem: ``STEM.safetensors`` holds the
weights of one MLP ensemble per predicted metric, and ``STEM.json`` says what
they mean (format ``nas_gym.surrogate/1``): the space and its arguments, the
feature encoding, and per metric the transform of the target (``identity``
or ``log``), the target's mean and standard deviation, and the layer count of
each member; plus how the data was made and how well the model predicts
held-out architectures (the card). Nothing is unpickled: safetensors holds
plain tensors, JSON plain data.

:class:`Surrogate` predicts with numpy alone (a few small matrix products per
architecture), so an env scored by it steps at the speed of its own Python
code; :func:`export_surrogate` writes fitted
:class:`~nas_gym.predictors.mlp_ensemble.MLPEnsemble` predictors in this
format (what ``scripts/build_surrogate.py`` ships as package data).

The model shipped in the package, ``nas_gym/data/surrogate_layers.*``, is
the one ``NAS-Surrogate-v0`` uses; its card is
``nas_gym/data/surrogate_layers.md``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.error import ConfigError, DataError
from nas_gym.spaces import Architecture, SearchSpace, make_space

if TYPE_CHECKING:
    from nas_gym.predictors.mlp_ensemble import MLPEnsemble

FORMAT = "nas_gym.surrogate/1"
#: Metrics a surrogate may predict, as :class:`~nas_gym.evaluators.metrics.Metrics` fields.
METRICS = ("val_accuracy", "test_accuracy", "latency_ms", "params", "flops")
TRANSFORMS = ("identity", "log")
#: Stem of the package's own surrogate (``NAS-Surrogate-v0``'s).
SHIPPED = "surrogate_layers"


def shipped_path() -> Path:
    """Stem (without suffix) of the surrogate in the package data."""
    return Path(str(resources.files("nas_gym.data") / SHIPPED))


def _stem(path: str | os.PathLike[str]) -> Path:
    p = Path(path).expanduser()
    return p.with_suffix("") if p.suffix in (".json", ".safetensors") else p


class Surrogate:
    """A loaded surrogate: predicts metrics of architectures of its space.

    Args:
        path: The files' stem (``.json``/``.safetensors`` optional); None for
            the one shipped in the package.

    Raises:
        DataError: A file is missing, of another format, or inconsistent with its metadata.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None):
        stem = shipped_path() if path is None else _stem(path)
        meta_path, weights_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
        for p in (meta_path, weights_path):
            if not p.is_file():
                raise DataError(f"Surrogate file {str(p)!r} does not exist; a surrogate is STEM.json plus "
                                "STEM.safetensors, as scripts/build_surrogate.py writes them.")
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{meta_path}: not valid JSON ({e}).") from e
        if self.meta.get("format") != FORMAT:
            raise DataError(f"{meta_path}: format {self.meta.get('format')!r}, expected {FORMAT!r}.")
        from safetensors.numpy import load_file

        tensors = load_file(str(weights_path))
        self.path = stem
        self.space = make_space(self.meta["space"], **self.meta.get("space_kwargs", {}))
        self.encoding = self.meta["encoding"]
        self.targets: dict[str, dict[str, Any]] = self.meta["targets"]
        for metric, spec in self.targets.items():
            if metric not in METRICS or spec.get("transform") not in TRANSFORMS:
                raise DataError(f"{meta_path}: target {metric!r} with transform {spec.get('transform')!r}; "
                                f"expected metrics from {METRICS} and transforms from {TRANSFORMS}.")
        # Every member of every metric is one of G = metrics x members networks of one shape, stacked so
        # that a prediction is one gather and a few batched matrix products (the env's last step pays it).
        nets = [(metric, m) for metric, spec in self.targets.items() for m in range(spec["members"])]
        depth = {spec["layers"] for spec in self.targets.values()}
        try:
            if len(depth) != 1:
                raise ValueError("metrics have networks of different depths")
            self._weights = [np.stack([tensors[f"{t}.{m}.{i}.weight"].T for t, m in nets]).astype(np.float32)
                             for i in range(depth.pop())]
            self._biases = [np.stack([tensors[f"{t}.{m}.{i}.bias"] for t, m in nets]).astype(np.float32)[:, None]
                            for i in range(len(self._weights))]
        except KeyError as e:
            raise DataError(f"{weights_path}: tensor {e} is missing.") from e
        except ValueError as e:  # stacking networks of different widths
            raise DataError(f"{weights_path}: the networks differ in shape ({e}); one shape for all is expected.") \
                from e
        from nas_gym.predictors.encodings import num_features

        if num_features(self.space, self.encoding) != self._weights[0].shape[1]:
            raise DataError(f"{weights_path}: input width does not match the {self.encoding} encoding of "
                            f"space {self.space.name!r}.")
        # The first layer as (features, G, width): a one-hot row times it is a sum of rows at the set columns.
        self._first = np.ascontiguousarray(self._weights[0].transpose(1, 0, 2))
        self._offsets = np.concatenate([[0], np.cumsum(self.space.nvec)[:-1]]).astype(np.int64)
        self._names = list(self.targets)
        self._num_members = self.targets[self._names[0]]["members"]
        if any(spec["members"] != self._num_members for spec in self.targets.values()):
            raise DataError(f"{meta_path}: every metric must have the same number of members.")
        self._mean = np.array([[[spec["mean"]]] for spec in self.targets.values()])
        self._std = np.array([[[spec["std"]]] for spec in self.targets.values()])
        self._log = np.array([[[spec["transform"] == "log"]] for spec in self.targets.values()])

    def check_space(self, space: SearchSpace) -> None:
        """Refuse a space other than the one the surrogate was fitted on.

        Raises:
            ConfigError: ``space`` differs (name or arguments).
        """
        if space.key != self.space.key:
            raise ConfigError(
                f"The surrogate {self.path.name} models space {self.space.name!r} with {self.space.config()}, "
                f"not {space.name!r} with {space.config()}: use that space (the default of NAS-Surrogate-v0) "
                "or build a surrogate of yours with scripts/build_surrogate.py."
            )

    def predict(self, archs: Sequence[Architecture]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per metric, the ensemble's mean and standard deviation for each architecture (in the metric's units).

        A log-transformed metric's mean is ``exp`` of the members' mean log, and its spread that of the
        members' ``exp``.
        """
        if self.encoding == "onehot":
            columns = np.array([tuple(a) for a in archs], dtype=np.int64).reshape(len(archs), -1) + self._offsets
            h = self._first[columns].sum(axis=1).transpose(1, 0, 2)  # (G, n, width)
        else:
            from nas_gym.predictors.encodings import encode

            x = encode(self.space, archs, self.encoding)
            h = np.matmul(x[None], self._weights[0])
        for w, b in zip(self._weights[1:], self._biases[:-1], strict=True):
            h = np.matmul(np.maximum(h + b, 0.0), w)
        # (metrics, members, n) in the fitted units, then in the metrics' own.
        fitted = (h[:, :, 0] + self._biases[-1][:, :, 0]).reshape(len(self._names), self._num_members, -1)
        fitted = fitted.astype(np.float64) * self._std + self._mean
        # Means and spreads written out: np.mean/np.std cost more than the networks on arrays this small.
        inv = 1.0 / self._num_members
        mean = fitted.sum(axis=1) * inv
        values = np.where(self._log, np.exp(fitted), fitted)
        mean = np.where(self._log[:, 0], np.exp(mean), mean)
        spread = values - (values.sum(axis=1) * inv)[:, None]
        std = np.sqrt((spread * spread).sum(axis=1) * inv)
        return {name: (mean[t], std[t]) for t, name in enumerate(self._names)}


def export_surrogate(
    path: str | os.PathLike[str],
    predictors: Mapping[str, MLPEnsemble],
    transforms: Mapping[str, str],
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write fitted MLP ensembles as a surrogate (``STEM.safetensors`` and ``STEM.json``).

    Args:
        path: The stem to write.
        predictors: One fitted ensemble per metric (keys from :data:`METRICS`), all on one space and encoding.
        transforms: Per metric, ``identity`` or ``log`` (what the ensemble was fitted to).
        info: Further plain data for the card (data, fit, held-out scores).

    Returns:
        The stem written.

    Raises:
        ConfigError: An unknown metric or transform, unfitted predictors, or predictors on different spaces.
    """
    from safetensors.torch import save_file
    from torch import nn

    stem = _stem(path)
    first = next(iter(predictors.values()))
    tensors: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    for metric, pred in predictors.items():
        if metric not in METRICS or transforms.get(metric) not in TRANSFORMS:
            raise ConfigError(f"export_surrogate: metric {metric!r} with transform {transforms.get(metric)!r}; "
                              f"use metrics from {METRICS} and transforms from {TRANSFORMS}.")
        if not pred._fitted or pred.space.key != first.space.key or pred.encoding != first.encoding:
            raise ConfigError("export_surrogate needs fitted predictors of one space and encoding.")
        linears = [[m for m in member if isinstance(m, nn.Linear)] for member in pred._members]
        for m, layers in enumerate(linears):
            for i, lin in enumerate(layers):
                tensors[f"{metric}.{m}.{i}.weight"] = lin.weight.detach().contiguous()
                tensors[f"{metric}.{m}.{i}.bias"] = lin.bias.detach().contiguous()
        targets[metric] = {"transform": transforms[metric], "mean": pred._y_mean, "std": pred._y_std,
                           "members": len(linears), "layers": len(linears[0]), "hidden": list(pred.hidden),
                           "epochs": pred.epochs, "lr": pred.lr, "weight_decay": pred.weight_decay}
    meta = {"format": FORMAT, "space": first.space.name, "space_kwargs": first.space.config(),
            "encoding": first.encoding, "targets": targets, **dict(info or {})}
    stem.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(stem.with_suffix(".safetensors")))
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=_plain) + "\n", encoding="utf-8")
    return stem


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    raise TypeError(f"not JSON data: {type(v).__name__}")
