"""A trained model on disk: ``model.safetensors`` (weights, no pickle) and ``model.json`` (how to rebuild it).

``model.json`` holds:

- ``network``: what builds the module without any data: the space's name
  and arguments, the architecture string, the task it was built for (name,
  arguments, input shape, classes) and, for a scaled model, its multipliers
  (:mod:`nas_gym.model.scaling`); for a language model also ``task_kind``
  (``"language_model"``) and ``vocabulary``, the task's characters in id
  order (``""`` for ``<unk>``, id 0), so that sampling text
  (:mod:`nas_gym.model.sample`) needs no dataset;
- ``training``: the :class:`~nas_gym.model.training.TrainConfig`;
- ``metrics``: what training measured;
- ``source``: where the architecture came from (run folder and rank, or a model it was fine-tuned from);
- ``format`` and ``nas_gym_version``.

:func:`load_model` rebuilds the module from ``network`` and loads the
weights with ``safetensors`` (strictly: every tensor must match), so a
folder from someone else runs no code of theirs. A tensor shared by two
names (a language model's output head tied to its token embedding) is saved
once, under its first name; the rebuilt module ties it again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from nas_gym.error import ConfigError, DataError
from nas_gym.tasks.base import Task, shape_task

FORMAT = "nas_gym.model/1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"
METRICS_FILE = "metrics.json"


def network_spec(space: Any, arch: Any, task: Task, *, task_name: str, task_kwargs: dict[str, Any] | None = None,
                 scaling: dict[str, float] | None = None) -> dict[str, Any]:
    """The ``network`` entry of ``model.json`` for ``arch`` of ``space`` built for ``task``."""
    spec = {
        "space": space.name,
        "space_kwargs": space.config(),
        "arch": space.to_string(arch),
        "task": task_name,
        "task_kwargs": dict(task_kwargs or {}),
        "input_shape": list(task.input_shape),
        "num_classes": int(task.num_classes),
        "scaling": scaling,
    }
    if task.is_language_model:  # only there, so a classifier's model.json reads as it always did
        spec["task_kind"] = task.kind
        spec["vocabulary"] = list(task.vocabulary)
    return spec


def shape_only_task(network: dict[str, Any]) -> Task:
    """A task without examples that has what a space needs to build ``network``: input shape, classes, kind.

    Raises:
        DataError: A language model's ``vocabulary`` that does not have ``num_classes`` entries.
    """
    shape, classes = tuple(network["input_shape"]), int(network["num_classes"])
    kind = network.get("task_kind", "classification")
    if kind == "classification":
        return shape_task(shape, classes)
    vocabulary = tuple(network.get("vocabulary") or ())
    if vocabulary and len(vocabulary) != classes:
        raise DataError(f"model.json: a vocabulary of {len(vocabulary)} characters for {classes} token ids; "
                        "they must match (the file was edited, or is damaged).")
    windows = np.zeros((0, *shape), dtype=np.int64)  # token ids in, the next ids out
    return Task("shape-only", windows, windows, windows, windows, windows, windows, num_classes=classes, kind=kind,
                vocabulary=vocabulary)


def build_model(network: dict[str, Any], *, seed: int | None = None) -> nn.Module:
    """Build the (untrained) module that ``network`` describes.

    Args:
        network: The ``network`` entry of ``model.json`` (see :func:`network_spec`).
        seed: Seeds the initial weights (with the caller's global torch RNG left as it was); None draws them
            from the global RNG.

    Raises:
        ConfigError: An unknown space or an architecture the space rejects.
        DataError: A language model's vocabulary of another size than its classes.
    """
    from nas_gym.spaces import make_space

    space = make_space(network["space"], **network.get("space_kwargs", {}))
    arch = space.from_string(network["arch"])
    shape, classes = tuple(network["input_shape"]), int(network["num_classes"])
    task = shape_only_task(network)

    def build() -> nn.Module:
        if network.get("scaling"):
            from nas_gym.model.scaling import build_scaled

            return build_scaled(space, arch, shape, classes, **network["scaling"])
        return space.build(arch, task)

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def _tied_names(state: dict[str, torch.Tensor]) -> list[str]:
    """Names in ``state`` whose tensor is an earlier name's (tied weights): safetensors stores it once."""
    seen, tied = set(), []
    for name, value in state.items():
        key = (value.data_ptr(), tuple(value.shape), value.stride(), value.dtype)
        if value.numel() and key in seen:
            tied.append(name)
        seen.add(key)
    return tied


def save_model(folder: str | os.PathLike[str], model: nn.Module, config: dict[str, Any]) -> Path:
    """Write ``model``'s weights to ``model.safetensors`` and ``config`` (with format and version) to ``model.json``.

    ``model.json`` is written last, so a folder that has it is complete.
    """
    from safetensors.torch import save

    from nas_gym._version import __version__

    if "network" not in config:
        raise ConfigError("save_model: config needs a 'network' entry (see nas_gym.model.folder.network_spec).")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    tied = set(_tied_names(state))
    weights = {k: v.detach().to("cpu").contiguous() for k, v in state.items() if k not in tied}
    tmp = out / (WEIGHTS_FILE + ".tmp")
    # Created by this process, as model.json is, so the file gets the umask's permissions like the folder's other
    # files (safetensors' save_file creates it 0600); a stale one would keep its own mode.
    tmp.unlink(missing_ok=True)
    tmp.write_bytes(save(weights, metadata={"format": FORMAT}))
    os.replace(tmp, out / WEIGHTS_FILE)
    _write_json(out / CONFIG_FILE, {"format": FORMAT, "nas_gym_version": __version__, **config})
    return out


def write_metrics(folder: str | os.PathLike[str], metrics: dict[str, Any]) -> None:
    """Write ``metrics.json`` in ``folder``."""
    _write_json(Path(folder) / METRICS_FILE, metrics)


def read_model_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``model.json`` of a model folder.

    Raises:
        DataError: No ``model.json`` there, or one of another format.
    """
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise DataError(f"{folder} is not a model folder: it has no {CONFIG_FILE} (nas-gym train writes one).")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not valid JSON: {e}.") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT or "network" not in config:
        raise DataError(f"{path} is not a nas_gym model description (expected format {FORMAT!r}).")
    return config


def load_model(folder: str | os.PathLike[str], *, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The trained module of a model folder, in eval mode, and its ``model.json``.

    Args:
        folder: A folder written by ``nas-gym train`` (or :func:`save_model`).
        device: Where to put the module (:func:`nas_gym.utils.device.resolve_device` names).

    Raises:
        DataError: The folder lacks a file, or its weights do not fit the network ``model.json`` describes.
    """
    from safetensors.torch import load_file

    from nas_gym.utils.device import resolve_device

    config = read_model_config(folder)
    weights_path = Path(folder) / WEIGHTS_FILE
    if not weights_path.is_file():
        raise DataError(f"{folder} has {CONFIG_FILE} but no {WEIGHTS_FILE}.")
    model = build_model(config["network"], seed=0)
    try:
        # Strict, but for tied names: the rebuilt module shares them with the name saved.
        missing, unexpected = model.load_state_dict(load_file(str(weights_path)), strict=False)
    except RuntimeError as e:
        raise DataError(f"{weights_path} does not fit the network in {CONFIG_FILE}: {e}") from e
    missing = sorted(set(missing) - set(_tied_names(model.state_dict())))
    if missing or unexpected:
        raise DataError(f"{weights_path} does not fit the network in {CONFIG_FILE}: missing tensors {missing}, "
                        f"unexpected tensors {sorted(unexpected)}.")
    return model.to(resolve_device(device)).eval(), config


def transfer_weights(source: nn.Module, target: nn.Module) -> tuple[list[str], list[str]]:
    """Copy every tensor of ``source`` whose name and shape ``target`` has; return (copied, left as initialised).

    The stem (other input channels) and the head (other classes) are the
    usual tensors left out when a network moves to another task.
    """
    src = source.state_dict()
    state = target.state_dict()
    copied, fresh = [], []
    for name, value in state.items():
        if name in src and src[name].shape == value.shape:
            state[name] = src[name].detach().clone()
            copied.append(name)
        else:
            fresh.append(name)
    target.load_state_dict(state)
    return copied, fresh
