"""The ``nas-gym scale`` workflow: EfficientNet's compound scaling of a trained model (Tan & Le 2019).

- :func:`compound_coefficients`: the grid search for ``alpha``, ``beta``,
  ``gamma`` (the paper's step 1): candidates that meet the constraint, their
  *measured* FLOPs ratio checked, each trained briefly; the best validation
  accuracy wins.
- :func:`scale_model`: a trained model folder scaled at several ``phi``
  (step 2), each scaled model trained from scratch and saved as a model
  folder, with ``scale.json`` (resumable).
- :func:`scale_table` / :func:`grid_table`: what ``nas-gym scale`` prints
  (the command itself is in :mod:`nas_gym.model.commands`).

The transform that scales one network is :mod:`nas_gym.model.scaling`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from nas_gym.error import ConfigError
from nas_gym.model.scaling import as_layers_arch, build_scaled, check_layers, check_multiplier, scaled_op_keys
from nas_gym.spaces.base import Architecture, SearchSpace
from nas_gym.spaces.layers import LayersSpace
from nas_gym.tasks.base import Task

if TYPE_CHECKING:
    from nas_gym.model.training import TrainConfig

logger = logging.getLogger(__name__)

#: The default grid of ``(alpha, beta)``; ``gamma`` is solved from ``alpha * beta**2 * gamma**2 = 2``
#: and candidates with ``gamma < 1`` are dropped: 8 candidates (see :func:`constrained_grid`).
DEFAULT_ALPHAS = (1.0, 1.2, 1.4)
DEFAULT_BETAS = (1.0, 1.1, 1.2)

#: Relative tolerance on each measured FLOPs step (``phi - 1`` to ``phi``) of a candidate: rounding
#: depth, filters and sizes to integers makes it differ from ``alpha * beta**2 * gamma**2``.
DEFAULT_FLOPS_TOLERANCE = 0.25

#: Epochs each grid candidate is trained for in :func:`compound_coefficients`.
DEFAULT_GRID_EPOCHS = 5

SCALE_FILE = "scale.json"



# -- step 1: alpha, beta, gamma ---------------------------------------------------------------------

#: A candidate's ``alpha * beta**2 * gamma**2`` may be off the FLOPs target by this much (relative).
CONSTRAINT_TOLERANCE = 0.1


def constrained_grid(
    alphas: Iterable[float] = DEFAULT_ALPHAS, betas: Iterable[float] = DEFAULT_BETAS, flops_target: float = 2.0
) -> list[tuple[float, float, float]]:
    """Candidates ``(alpha, beta, gamma)`` with ``gamma`` solved from ``alpha * beta**2 * gamma**2 = flops_target``.

    ``gamma`` is rounded to 3 decimals; pairs that would need ``gamma < 1``
    are left out. The defaults give the 8 candidates of the default grid.

    >>> constrained_grid([1.0, 1.2], [1.0, 1.1])
    [(1.0, 1.0, 1.414), (1.0, 1.1, 1.286), (1.2, 1.0, 1.291), (1.2, 1.1, 1.174)]
    """
    out = []
    for alpha in alphas:
        for beta in betas:
            gamma = round(math.sqrt(flops_target / (alpha * beta * beta)), 3)
            if gamma >= 1:
                out.append((float(alpha), float(beta), gamma))
    return out


def _seeded_build(seed: int, *args: Any, **kwargs: Any) -> nn.Module:
    # Initialise from the config's seed without moving the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_scaled(*args, **kwargs)


def _flops(space: LayersSpace, arch: Architecture, input_shape: Sequence[int], num_classes: int,
           depth: float = 1.0, width: float = 1.0, resolution: float = 1.0) -> int:
    from nas_gym.utils.counting import count_flops

    model = _seeded_build(0, space, arch, input_shape, num_classes, depth=depth, width=width, resolution=resolution)
    return count_flops(model, tuple(input_shape))


def compound_coefficients(
    space: SearchSpace,
    arch: Architecture | str,
    task: Task,
    *,
    train_config: TrainConfig,
    grid: Sequence[tuple[float, float, float]] | None = None,
    flops_target: float = 2.0,
    tolerance: float = DEFAULT_FLOPS_TOLERANCE,
    check_phis: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """Find ``alpha``, ``beta``, ``gamma`` by a small grid search at ``phi = 1`` (EfficientNet's step 1).

    A candidate is trained only if it meets the FLOPs constraint twice over:

    1. nominally: ``alpha * beta**2 * gamma**2`` within
       :data:`CONSTRAINT_TOLERANCE` (10 %) of ``flops_target``; and
    2. as measured (``count_flops``, since depth, filters and sizes are
       rounded to integers): for every ``phi`` in ``1..check_phis``, the
       network at ``phi`` has ``flops_target`` times the FLOPs of the one at
       ``phi - 1``, within ``tolerance`` (relative).

    Each such candidate is built at ``phi = 1`` (initialised from
    ``train_config.seed``) and trained with ``fit(model, task, train_config)``
    (once per distinct network: rounding can make candidates coincide);
    the best validation accuracy wins (ties: the fewer FLOPs, then the
    earlier candidate).

    Args:
        space: The ``layers`` space of ``arch``.
        arch: The base architecture (or its string).
        task: The data the candidates train on.
        train_config: The (short) schedule each candidate is trained with.
        grid: Candidates ``(alpha, beta, gamma)``, each >= 1; None for
            :func:`constrained_grid` with its defaults (8 candidates).
        flops_target: FLOPs growth per step of ``phi`` (2 in the paper).
        tolerance: Relative tolerance on each measured step.
        check_phis: Largest ``phi`` whose measured step is checked.
        progress: Show training progress bars.

    Returns:
        ``{"alpha", "beta", "gamma", "flops_target", "tolerance", "check_phis", "candidates", "seconds"}``;
        ``candidates`` has one dict per grid entry: ``alpha``, ``beta``, ``gamma``, ``product``
        (``alpha * beta**2 * gamma**2``), ``flops_steps`` (measured ratios, ``phi = 1..check_phis``),
        ``params`` and ``val_accuracy`` (at ``phi = 1``; None when not trained), ``status``
        (``trained``, ``off target`` or ``flops steps off``) and, for a candidate that rounds to the same
        network at ``phi = 1`` as an earlier one (and shares its training), ``same_as``.

    Raises:
        ConfigError: For a space other than ``layers``, a grid entry below 1, or when no candidate
            meets the constraint (the message shows the measured steps).
    """
    from nas_gym.model.training import fit
    from nas_gym.utils.counting import count_params

    space = check_layers(space)
    arch = as_layers_arch(space, arch)
    start = time.perf_counter()
    grid = constrained_grid(flops_target=flops_target) if grid is None else list(grid)
    shape, k = task.input_shape, task.num_classes
    base_flops = _flops(space, arch, shape, k)
    candidates: list[dict[str, Any]] = []
    for alpha, beta, gamma in grid:
        for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
            check_multiplier(name, value)
        product = alpha * beta**2 * gamma**2
        row: dict[str, Any] = {"alpha": alpha, "beta": beta, "gamma": gamma, "product": round(product, 4),
                               "flops_steps": [], "params": None, "val_accuracy": None}
        flops = [base_flops]
        for phi in range(1, check_phis + 1):
            flops.append(_flops(space, arch, shape, k, alpha**phi, beta**phi, gamma**phi))
        row["flops_steps"] = [round(flops[i] / flops[i - 1], 4) for i in range(1, len(flops))]
        if abs(product - flops_target) > CONSTRAINT_TOLERANCE * flops_target:
            row["status"] = "off target"
        elif any(abs(r - flops_target) > tolerance * flops_target for r in row["flops_steps"]):
            row["status"] = "flops steps off"
        else:
            row["status"] = "trained"
        candidates.append(row)
    chosen = [row for row in candidates if row["status"] == "trained"]
    if not chosen:
        shown = "; ".join(f"({r['alpha']}, {r['beta']}, {r['gamma']}): {r['status']} {r['flops_steps']}"
                          for r in candidates)
        raise ConfigError(
            f"No (alpha, beta, gamma) candidate meets the FLOPs constraint: alpha*beta^2*gamma^2 within "
            f"{CONSTRAINT_TOLERANCE:.0%} of {flops_target} and each measured FLOPs step (phi = 1..{check_phis}) "
            f"within {tolerance:.0%} of {flops_target}x. Measured: {shown}. Small networks scale in whole "
            "layers and channels; pass another grid or a larger tolerance."
        )
    trained: dict[Any, dict[str, Any]] = {}
    for i, row in enumerate(chosen):
        multipliers = {"depth": row["alpha"], "width": row["beta"], "resolution": row["gamma"]}
        # Rounding can make two candidates the same network at phi = 1: train it once.
        plan = repr(scaled_op_keys(space, arch, shape, k, **multipliers))
        if plan in trained:
            first = trained[plan]
            row.update(params=first["params"], val_accuracy=first["val_accuracy"],
                       same_as=[first["alpha"], first["beta"], first["gamma"]])
            continue
        trained[plan] = row
        model = _seeded_build(train_config.seed, space, arch, shape, k, **multipliers)
        row["params"] = count_params(model)
        result = fit(model, task, train_config, progress=progress,
                     desc=f"grid {i + 1}/{len(chosen)} a={row['alpha']} b={row['beta']} g={row['gamma']}")
        row["val_accuracy"] = result.val_accuracy
        logger.info("Candidate alpha=%s beta=%s gamma=%s: val_accuracy %.4f, FLOPs steps %s.",
                    row["alpha"], row["beta"], row["gamma"], result.val_accuracy, row["flops_steps"])
    best = max(chosen, key=lambda r: (r["val_accuracy"], -r["flops_steps"][0], -chosen.index(r)))
    return {
        "alpha": best["alpha"],
        "beta": best["beta"],
        "gamma": best["gamma"],
        "flops_target": flops_target,
        "tolerance": tolerance,
        "check_phis": check_phis,
        "candidates": candidates,
        "seconds": time.perf_counter() - start,
    }


# -- step 2: the scaled models ------------------------------------------------------------------------


def _latency_settings() -> dict[str, Any]:
    """Timing settings of the ``measured`` latency model (its defaults), so figures compare with a search's."""
    from nas_gym.latency import MeasuredLatency

    params = inspect.signature(MeasuredLatency).parameters
    return {name: params[name].default for name in ("batch_size", "warmup", "repeats", "num_threads")}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} is unreadable ({e}). Delete it to start that part again.") from e


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)  # a kill during the write leaves the previous file whole


def _scaling(phi: int, coefficients: dict[str, Any]) -> dict[str, Any]:
    alpha, beta, gamma = coefficients["alpha"], coefficients["beta"], coefficients["gamma"]
    return {"phi": phi, "depth": alpha**phi, "width": beta**phi, "resolution": gamma**phi,
            "alpha": alpha, "beta": beta, "gamma": gamma}


def _row(scaling: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("params", "flops", "flops_ratio", "latency_ms", "val_accuracy", "test_accuracy", "best_epoch",
            "epochs_run", "seconds", "input_shape")
    return {"phi": scaling["phi"], "depth": scaling["depth"], "width": scaling["width"],
            "resolution": scaling["resolution"], **{k: metrics.get(k) for k in keys}, "folder": f"phi{scaling['phi']}"}


def _done_row(folder: Path, scaling: dict[str, Any]) -> dict[str, Any] | None:
    """The row of a finished ``phi`` folder with these scaling settings; None if there is none."""
    from nas_gym.model.folder import read_model_config

    if not (folder / "model.json").is_file():
        return None
    config = read_model_config(folder)
    if config.get("network", {}).get("scaling") != scaling or "metrics" not in config:
        return None
    return _row(scaling, config["metrics"])


def scale_model(
    model_folder: str | os.PathLike[str],
    phis: Sequence[int],
    out_dir: str | os.PathLike[str],
    *,
    epochs: int | None = None,
    grid_epochs: int = DEFAULT_GRID_EPOCHS,
    grid: Sequence[tuple[float, float, float]] | None = None,
    tolerance: float = DEFAULT_FLOPS_TOLERANCE,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Compound-scale a trained ``layers`` model at each ``phi`` and train every scaled model from scratch.

    Reads ``model.json`` of ``model_folder`` (network and training
    schedule); finds ``alpha``, ``beta``, ``gamma`` with
    :func:`compound_coefficients` (candidates trained ``grid_epochs``
    epochs, measured FLOPs steps checked up to the largest ``phi``); then per
    ``phi`` builds the net at depth ``alpha**phi``, width ``beta**phi`` and
    resolution ``gamma**phi``, trains it with the base's schedule (``epochs``
    overrides its epochs), and measures parameters, FLOPs (``count_flops``)
    and batch-1 latency (``measure_ms`` with the ``measured`` latency
    model's settings). Each is saved as the model folder
    ``out_dir/phi{phi}`` (``network["scaling"]`` lets ``load_model`` rebuild
    it), and ``out_dir/scale.json`` holds the coefficients, the grid and one
    row per ``phi``.

    Resumable: the coefficients in ``scale.json`` are reused, a finished
    ``phi`` folder is skipped, and an interrupted training continues from its
    checkpoint in the ``phi`` folder.

    Args:
        model_folder: A model folder of a ``layers`` architecture (``save_model``'s layout).
        phis: Compound coefficients to build, each an integer >= 0.
        out_dir: Where the ``phi`` folders and ``scale.json`` go.
        epochs: Epochs of each scaled model's training; None for the base's.
        grid_epochs: Epochs of each grid candidate's training.
        grid: Candidates ``(alpha, beta, gamma)``; None for the default grid.
        tolerance: Relative tolerance on each measured FLOPs step.
        progress: Show training progress bars.

    Returns:
        One row per ``phi`` (in ``phis`` order): ``phi``, ``depth``, ``width``, ``resolution``,
        ``params``, ``flops``, ``flops_ratio`` (to the unscaled base), ``latency_ms``,
        ``val_accuracy``, ``test_accuracy``, ``best_epoch``, ``epochs_run``, ``seconds`` (training),
        ``input_shape`` (after upsampling) and ``folder`` (relative to ``out_dir``).

    Raises:
        ConfigError: For a model that is not a ``layers`` architecture or is scaled already, a bad ``phi``,
            an ``out_dir`` that holds the scaling of another model, or no candidate meeting the constraint.
    """
    from nas_gym.latency import measure_ms
    from nas_gym.model.folder import build_model, read_model_config, save_model
    from nas_gym.model.training import TrainConfig, fit
    from nas_gym.spaces import make_space
    from nas_gym.tasks.base import make_task
    from nas_gym.utils.counting import count_flops, count_params

    phis = list(phis)
    for phi in phis:
        if isinstance(phi, bool) or not isinstance(phi, (int, np.integer)) or phi < 0:
            raise ConfigError(f"Each phi must be an integer >= 0 (0 = the base network), got {phi!r} in {phis}.")
    if not phis:
        raise ConfigError("Give at least one phi, e.g. [0, 1, 2].")
    config = read_model_config(model_folder)
    network = config["network"]
    if network.get("space") != "layers":
        raise ConfigError(
            f"Only 'layers' architectures can be compound-scaled; {model_folder} holds a "
            f"{network.get('space')!r} architecture. Train a 'layers' model to scale it."
        )
    if network.get("scaling"):
        raise ConfigError(
            f"{model_folder} holds a scaled model already (phi={network['scaling'].get('phi')}); "
            "scale its base model instead."
        )
    space = check_layers(make_space("layers", **network.get("space_kwargs", {})))
    arch = space.from_string(network["arch"])
    task = make_task(network["task"], **network.get("task_kwargs", {}))
    train_config = TrainConfig.from_json(config["training"]).for_task(task.kind)  # a None field: the default
    if epochs is not None:
        train_config = dataclasses.replace(train_config, epochs=epochs)
    grid_config = dataclasses.replace(train_config, epochs=grid_epochs)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scale_path = out / SCALE_FILE
    state = _read_json(scale_path) or {}
    base = {"folder": os.fspath(model_folder), "network": network}
    if state and state.get("base", {}).get("network") != network:
        raise ConfigError(
            f"{scale_path} holds the scaling of another model ({state.get('base', {}).get('folder')}); "
            "choose another --out, or delete that folder to start over."
        )
    coefficients = state.get("coefficients")
    if coefficients is None:
        coefficients = compound_coefficients(space, arch, task, train_config=grid_config, grid=grid,
                                             tolerance=tolerance, check_phis=max(1, *phis), progress=progress)
        coefficients["grid_epochs"] = grid_epochs
        state = {"base": base, "coefficients": coefficients, "rows": []}
        _write_json(scale_path, state)
    else:
        logger.info("Reusing alpha=%s, beta=%s, gamma=%s from %s.", coefficients["alpha"], coefficients["beta"],
                    coefficients["gamma"], scale_path)
    logger.info("alpha=%s beta=%s gamma=%s", coefficients["alpha"], coefficients["beta"], coefficients["gamma"])

    shape, k = task.input_shape, task.num_classes
    base_flops = _flops(space, arch, shape, k)
    latency_settings = _latency_settings()

    rows: dict[int, dict[str, Any]] = {row["phi"]: row for row in state.get("rows", [])}
    for phi in phis:
        scaling = _scaling(int(phi), coefficients)
        folder = out / f"phi{phi}"
        done = _done_row(folder, scaling)
        if done is not None:
            logger.info("phi=%d is done already (%s); skipping it.", phi, folder)
            rows[int(phi)] = done
            continue
        folder.mkdir(parents=True, exist_ok=True)
        scaled_network = {**network, "scaling": scaling}
        model = build_model(scaled_network, seed=train_config.seed)  # what load_model rebuilds
        resized, _ = scaled_op_keys(space, arch, shape, k, depth=scaling["depth"], width=scaling["width"],
                                    resolution=scaling["resolution"])
        flops = count_flops(model, shape)
        result = fit(model, task, train_config, checkpoint_dir=folder, progress=progress, desc=f"phi={phi}")
        metrics = {
            **result.to_json(),
            "params": count_params(model),
            "flops": flops,
            "flops_ratio": flops / base_flops,
            "latency_ms": measure_ms(model, shape, **latency_settings),
            "latency_settings": latency_settings,
            "input_shape": list(resized),
        }
        scaled_config = {
            "network": scaled_network,
            "training": train_config.to_json(),
            "metrics": metrics,
            "source": {"scaled_from": os.fspath(model_folder), "phi": int(phi)},
        }
        save_model(folder, model, scaled_config)
        (folder / "checkpoint.pt").unlink(missing_ok=True)  # the saved model replaces it
        rows[int(phi)] = _row(scaling, metrics)
        state["rows"] = [rows[p] for p in sorted(rows)]
        _write_json(scale_path, state)
    state["rows"] = [rows[p] for p in sorted(rows)]
    _write_json(scale_path, state)
    return [rows[int(phi)] for phi in phis]


def scale_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`scale_model` as a markdown table (what ``nas-gym scale`` prints)."""
    head = ["φ", "depth", "width", "resolution", "params", "FLOPs", "FLOPs ×", "latency ms", "val acc", "test acc"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in rows:
        cells = [str(r["phi"]), f"{r['depth']:.3f}", f"{r['width']:.3f}", f"{r['resolution']:.3f}",
                 f"{r['params']:,}", f"{r['flops']:,}", f"{r['flops_ratio']:.2f}", f"{r['latency_ms']:.3f}",
                 f"{r['val_accuracy']:.4f}", f"{r['test_accuracy']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grid_table(candidates: Sequence[dict[str, Any]]) -> str:
    """The candidates of :func:`compound_coefficients` as a markdown table."""
    head = ["α", "β", "γ", "α·β²·γ²", "FLOPs steps", "val acc (φ=1)", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * (len(head) - 1) + "---|"]
    for c in candidates:
        acc = "" if c["val_accuracy"] is None else f"{c['val_accuracy']:.4f}"
        status = c["status"] + (f" (same net as {tuple(c['same_as'])})" if c.get("same_as") else "")
        cells = [f"{c['alpha']:g}", f"{c['beta']:g}", f"{c['gamma']:g}", f"{c['product']:.3f}",
                 ", ".join(f"{r:.2f}" for r in c["flops_steps"]), acc, status]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
