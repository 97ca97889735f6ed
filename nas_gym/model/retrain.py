"""``nas-gym train``: from a search's run folder to a fully trained, saved model.

It picks an architecture from a run folder (the best one, ``--rank K``, or
``--arch STR``), builds it for the run's task (or ``--task``), trains it from
scratch with :func:`nas_gym.model.training.fit`'s longer schedule and writes a
model folder (:mod:`nas_gym.model.folder`): ``model.safetensors``,
``model.json``, ``metrics.json``, ``checkpoint.pt`` (resume), TensorBoard
scalars under ``tb/``, and ``model.onnx`` with ``--onnx``. With ``--from
FOLDER`` it fine-tunes a trained model on another task of the same input
rank instead (transfer): every tensor whose shape still fits is kept, the
stem and head are initialised afresh where the channels or classes differ.

Started again with the same settings after a kill, it continues from the
last finished epoch; once ``model.json`` is written it only reports.

A run of ``NAS-LM-v0`` (a ``transformer`` on a character-level task) trains
the same way with a language model's defaults (AdamW, warm-up then cosine,
gradient clipping; :data:`~nas_gym.model.train_config.TASK_DEFAULTS`); its
metrics add ``val_bpc``/``test_bpc``, and ``model.json`` keeps the task's
vocabulary, which :mod:`nas_gym.model.sample` samples text with.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from nas_gym.error import ConfigError, DataError
from nas_gym.model.train_config import TrainConfig

SETTINGS_FILE = "train.json"


@dataclasses.dataclass(frozen=True)
class Choice:
    """The architecture to train and where it came from.

    Attributes:
        network: The ``network`` entry of ``model.json``, before the task's shape is known (space, arch, task).
        source: Run folder and rank (with the search's figures for it), or the model fine-tuned from.
    """

    network: dict[str, Any]
    source: dict[str, Any]


def _run_settings(meta: dict[str, Any]) -> dict[str, Any]:
    """The env's arguments of a run: the registered id's defaults updated by the run's own ``env_kwargs``."""
    import gymnasium as gym

    import nas_gym  # noqa: F401  (registers the ids)

    try:
        defaults = dict(gym.spec(meta["env_id"]).kwargs)
    except gym.error.Error as e:
        raise ConfigError(f"The run's env {meta['env_id']!r} is not registered here: {e}") from e
    return {**defaults, **meta.get("env_kwargs", {})}


def ranked_architectures(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per distinct architecture, best first: feasible before infeasible, then by reward.

    The ranking of a run without a ``summary.json`` (:func:`nas_gym.search.summary.ranked_results`).
    """
    from nas_gym.search.summary import ranked_results

    return ranked_results(None, history)


def choose_from_run(run_folder: str | Path, *, rank: int = 1, arch: str | None = None) -> Choice:
    """The architecture of rank ``rank`` (1: the run's result) in a run folder, or ``arch`` in the run's space.

    Rank 1 is the architecture ``nas-gym search`` printed: a weight-sharing
    run's best stand-alone, a multi-fidelity run's best full training (see
    :func:`nas_gym.search.summary.ranked_results` for the order of the others).

    Raises:
        DataError: Not a run folder, an empty one, or a weight-sharing run with no stand-alone scores yet.
        ConfigError: ``rank`` beyond the architectures the run can be ranked by.
    """
    from nas_gym.search.folder import RunFolder
    from nas_gym.search.summary import pick_result

    folder = RunFolder(run_folder)
    meta = folder.read_meta()
    if meta is None:
        raise DataError(f"{run_folder} is not a run folder: it has no run.json (nas-gym search writes one).")
    env = _run_settings(meta)
    network = {"space": env.get("space", "layers"), "space_kwargs": env.get("space_kwargs") or {},
               "task": env.get("task"), "task_kwargs": env.get("task_kwargs") or {}}
    source: dict[str, Any] = {"run": str(run_folder), "env_id": meta["env_id"]}
    if arch is not None:
        network["arch"] = arch
        source["arch_given"] = True
        return Choice(network, source)
    # The run's result first (a weight-sharing run's best stand-alone, not the supernet's favourite).
    record = pick_result(folder.read_summary(), folder.read_history(), rank, where=run_folder)
    network["arch"] = record["arch"]
    source.update(rank=rank, search={k: record.get(k) for k in
                                     ("reward", "val_accuracy", "test_accuracy", "latency_ms", "params")})
    return Choice(network, source)


def choose_from_model(model_folder: str | Path) -> Choice:
    """The architecture of a trained model, to fine-tune (its weights are loaded by :func:`train`)."""
    from nas_gym.model.folder import read_model_config

    config = read_model_config(model_folder)
    derived = ("input_shape", "num_classes", "task_kind", "vocabulary")  # the task gives them again
    network = {k: v for k, v in config["network"].items() if k not in derived}
    return Choice(network, {"from": str(model_folder), "from_task": config["network"].get("task")})


def train(
    choice: Choice,
    config: TrainConfig,
    out: str | Path,
    *,
    task: str | None = None,
    task_kwargs: dict[str, Any] | None = None,
    onnx: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``choice`` with ``config`` into the model folder ``out``; return its ``metrics.json`` content.

    Args:
        choice: What to train (:func:`choose_from_run` or :func:`choose_from_model`).
        config: The schedule; fields left at None take the task's defaults (:meth:`TrainConfig.for_task`),
            and ``model.json`` records what they resolved to.
        out: The model folder; a folder holding a finished model of the same settings is only read back,
            one holding a checkpoint of them is resumed.
        task: A task name overriding the run's (needed for runs on tables, which have no task).
        task_kwargs: Its arguments (``path``, ``split_seed``).
        onnx: Also export ``model.onnx`` and check it against torch on the test split (extra ``onnx``).
        progress: Show the progress bar.

    Raises:
        ConfigError: No task, a task of another input rank than the model fine-tuned from, or an output
            folder holding another training.
    """
    import torch

    from nas_gym.model.folder import (
        METRICS_FILE,
        build_model,
        load_model,
        network_spec,
        read_model_config,
        save_model,
        transfer_weights,
        write_metrics,
    )
    from nas_gym.model.training import fit
    from nas_gym.spaces import make_space
    from nas_gym.tasks.base import make_task
    from nas_gym.utils.counting import count_flops, count_params

    network = dict(choice.network)
    if task is not None:
        network["task"], network["task_kwargs"] = task, dict(task_kwargs or {})
    elif task_kwargs:
        network["task_kwargs"] = dict(task_kwargs)
    if not network.get("task"):
        raise ConfigError("This run's env scores architectures from a table and has no task to train on: pass "
                          "--task (digits, mnist1d, or npz with --task-kwargs '{\"path\": \"data.npz\"}').")
    data = make_task(network["task"], **network["task_kwargs"])
    config = config.for_task(data.kind)
    space = make_space(network["space"], **network["space_kwargs"])
    arch = space.from_string(network["arch"])
    spec = network_spec(space, arch, data, task_name=network["task"], task_kwargs=network["task_kwargs"],
                        scaling=network.get("scaling"))
    out = Path(out)
    settings = {"network": spec, "training": config.to_json(), "source": choice.source}
    settings = json.loads(json.dumps(settings, default=str))
    settings_path = out / SETTINGS_FILE
    if settings_path.is_file():
        before = json.loads(settings_path.read_text())
        if before != settings:
            raise ConfigError(f"{out} holds another training ({settings_path}); use another --out, or delete "
                              "the folder to start over.")
        if (out / "model.json").is_file() and (out / METRICS_FILE).is_file():
            read_model_config(out)
            return json.loads((out / METRICS_FILE).read_text())
    out.mkdir(parents=True, exist_ok=True)
    settings_path.write_text(json.dumps(settings, indent=2) + "\n")

    model = build_model(spec, seed=config.seed)
    transfer = None
    if "from" in choice.source:
        source_model, source_config = load_model(choice.source["from"])
        source_rank = len(source_config["network"]["input_shape"])
        if source_rank != len(spec["input_shape"]):
            raise ConfigError(
                f"Cannot fine-tune the model in {choice.source['from']} (inputs of rank {source_rank}, "
                f"{source_config['network']['input_shape']}) on task {network['task']!r} (inputs "
                f"{spec['input_shape']}): the input rank must match (1-D signals or 2-D images on both)."
            )
        copied, fresh = transfer_weights(source_model, model)
        transfer = {"copied": len(copied), "initialised": fresh}
    with torch.no_grad():
        params, flops = count_params(model), count_flops(model, data.input_shape)
    result = fit(model, data, config, checkpoint_dir=out, log_dir=out / "tb", progress=progress,
                 desc=f"train {network['arch']}")
    metrics: dict[str, Any] = {**result.to_json(), "params": params, "flops": flops}
    if transfer is not None:
        metrics["transfer"] = transfer
    searched_here = (choice.network.get("task"), choice.network.get("task_kwargs") or {}) == (
        network["task"], network["task_kwargs"])
    if "search" in choice.source and searched_here:  # the search's figure compares only on its own task
        metrics["search_test_accuracy"] = choice.source["search"].get("test_accuracy")
    if onnx:
        from nas_gym.model.onnx import check_onnx, export_onnx

        path = export_onnx(model, data.input_shape, out / "model.onnx")
        metrics["onnx_max_abs_diff"] = check_onnx(path, model, torch.from_numpy(data.x_test))
    write_metrics(out, metrics)
    save_model(out, model, {**settings, "metrics": {k: v for k, v in metrics.items() if k != "curve"}})
    return metrics
