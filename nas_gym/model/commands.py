"""The ``nas-gym train`` and ``nas-gym scale`` commands: their options and what they print.

The work is in :mod:`nas_gym.model.retrain` (train a run's architecture fully, or
fine-tune a trained model) and :mod:`nas_gym.model.scaling` (compound scaling).
This module imports neither, nor torch, until a command runs, so that
``nas-gym search`` starts its worker processes as early as before.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from types import SimpleNamespace

from nas_gym.error import ConfigError


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``nas-gym train``."""
    from nas_gym.model.train_config import OPTIMIZERS, TrainConfig

    d = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(TrainConfig)})  # no torch import yet
    p.add_argument("run_folder", nargs="?", default=None, help="run folder of nas-gym search (or use --from)")
    p.add_argument("--rank", type=int, default=1, help="train the run's K-th best architecture (default: 1)")
    p.add_argument("--arch", default=None, help="train this architecture string (in the run's space) instead")
    p.add_argument("--from", dest="from_folder", default=None,
                   help="fine-tune the trained model in this folder (on --task; transfer) instead of a run's")
    p.add_argument("--task", default=None, help="task to train on (default: the run's)")
    p.add_argument("--task-kwargs", type=json.loads, default=None, help="task arguments as JSON, e.g. a npz path")
    p.add_argument("--out", default=None, help="model folder (default: RUN_FOLDER/model, or FROM/finetuned)")
    p.add_argument("--onnx", action="store_true", help="also export model.onnx (checked with onnxruntime)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs (default: {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default: {d.batch_size}")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help=f"default: {d.optimizer}")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default: {d.lr})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"default: {d.weight_decay}")
    p.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs, help=f"default: {d.warmup_epochs}")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help=f"default: {d.label_smoothing}")
    p.add_argument("--no-augment", action="store_true", help="no random translations on image tasks")
    p.add_argument("--patience", type=int, default=d.patience,
                   help=f"early stopping after this many epochs without a better validation accuracy; 0 for none "
                        f"(default: {d.patience})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"default: {d.seed}")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--precision", default=d.precision, help="fp32, bf16 or fp16 (mixed precision on a GPU)")
    p.add_argument("--num-threads", type=int, default=None,
                   help="torch threads while training (default: torch's own, one per core)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``nas-gym train``."""
    from nas_gym.model.retrain import choose_from_model, choose_from_run, train
    from nas_gym.model.train_config import TrainConfig

    if (args.run_folder is None) == (args.from_folder is None):
        raise ConfigError("nas-gym train takes a RUN_FOLDER of nas-gym search, or --from MODEL_FOLDER "
                          "to fine-tune a trained model; exactly one of them.")
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
        augment=not args.no_augment, patience=args.patience or None, seed=args.seed, device=args.device,
        precision=args.precision, num_threads=args.num_threads,
    )
    if args.from_folder is not None:
        if args.task is None:
            raise ConfigError("--from fine-tunes on another task: name it with --task (and --task-kwargs).")
        choice = choose_from_model(args.from_folder)
        out = Path(args.out or Path(args.from_folder) / "finetuned")
    else:
        choice = choose_from_run(args.run_folder, rank=args.rank, arch=args.arch)
        out = Path(args.out or Path(args.run_folder) / "model")
    metrics = train(choice, config, out, task=args.task, task_kwargs=args.task_kwargs, onnx=args.onnx,
                    progress=not args.no_progress)
    print(f"\nTrained {choice.network['arch']}")
    if metrics.get("resumed_from"):
        print(f"  resumed        from the checkpoint after epoch {metrics['resumed_from']}")
    print(f"  epochs run     {metrics['epochs_run']} (best validation at epoch {metrics['best_epoch']}"
          f"{', stopped early' if metrics['stopped_early'] else ''})")
    print(f"  val_accuracy   {metrics['val_accuracy']:.4f}")
    print(f"  test_accuracy  {metrics['test_accuracy']:.4f}")
    if metrics.get("search_test_accuracy") is not None:
        print(f"  (the search's short training: test_accuracy {metrics['search_test_accuracy']:.4f})")
    print(f"  params         {metrics['params']}")
    print(f"  flops          {metrics['flops']}")
    if "transfer" in metrics:
        print(f"  transfer       {metrics['transfer']['copied']} tensors kept, initialised afresh: "
              f"{', '.join(metrics['transfer']['initialised']) or 'none'}")
    if "onnx_max_abs_diff" in metrics:
        print(f"  onnx           {out}/model.onnx (max |onnx - torch| on the test split "
              f"{metrics['onnx_max_abs_diff']:.2e})")
    print(f"Model folder:    {out}  (load with nas_gym.load_model('{out}'))")
    print(f"TensorBoard:     tensorboard --logdir {out}/tb")
    return 0


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``nas-gym scale`` to ``parser``."""
    parser.add_argument("model_folder", metavar="MODEL_FOLDER", help="model folder of a trained 'layers' network")
    parser.add_argument("--phi", type=int, default=2, metavar="N",
                        help="scale at phi = 0, 1, ..., N (default: 2; each step about doubles the FLOPs)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of each scaled model's training (default: the base model's)")
    parser.add_argument("--grid-epochs", type=int, default=None,
                        help="epochs of each (alpha, beta, gamma) candidate's training (default: 5)")
    parser.add_argument("--out", default=None, help="output folder (default: MODEL_FOLDER/scaled)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def cmd_scale(args: argparse.Namespace) -> int:
    """Run ``nas-gym scale``: scale, train, and print the table of the scaled models."""
    from nas_gym.model.scale import SCALE_FILE, _read_json, grid_table, scale_model, scale_table

    if args.phi < 0:
        raise ConfigError(f"--phi must be >= 0 (phi = 0..N are built), got {args.phi}.")
    out = Path(args.out) if args.out is not None else Path(args.model_folder) / "scaled"
    start = time.perf_counter()
    rows = scale_model(args.model_folder, list(range(args.phi + 1)), out, epochs=args.epochs,
                       progress=not args.no_progress,
                       **({} if args.grid_epochs is None else {"grid_epochs": args.grid_epochs}))
    coefficients = (_read_json(out / SCALE_FILE) or {}).get("coefficients", {})
    print(f"Grid search at φ=1 ({coefficients.get('grid_epochs')} epochs per candidate):")
    print(grid_table(coefficients.get("candidates", [])))
    print(f"\nalpha={coefficients.get('alpha')} (depth), beta={coefficients.get('beta')} (width), "
          f"gamma={coefficients.get('gamma')} (resolution)\n")
    print(scale_table(rows))
    print(f"\nScaled models: {', '.join(str(out / r['folder']) for r in rows)}; table: {out / SCALE_FILE} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0
