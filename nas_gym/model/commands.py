"""The ``nas-gym train``, ``nas-gym scale`` and ``nas-gym sample`` commands: their options and what they print.

The work is in :mod:`nas_gym.model.retrain` (train a run's architecture fully, or
fine-tune a trained model), :mod:`nas_gym.model.scaling` (compound scaling) and
:mod:`nas_gym.model.sample` (text from a trained language model).
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
    from nas_gym.model.train_config import OPTIMIZERS, TASK_DEFAULTS, TrainConfig

    d = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(TrainConfig)})  # no torch import yet
    classifier, lm = TASK_DEFAULTS["classification"], TASK_DEFAULTS["language_model"]

    def per_kind(key: str) -> str:
        """The two defaults of an option whose default depends on the task (TrainConfig's None)."""
        return f"default: {classifier[key]}; a language model's: {lm[key]}"

    p.epilog = ("Options whose help names a language model's default take that one on a language-modelling task "
                "(a NAS-LM-v0 run): model.json records the settings used. A language model's figures add val_bpc "
                "and test_bpc (bits per character); nas-gym sample MODEL_FOLDER prints text it writes.")
    p.add_argument("run_folder", nargs="?", default=None, help="run folder of nas-gym search (or use --from)")
    p.add_argument("--rank", type=int, default=1, help="train the run's K-th best architecture (default: 1)")
    p.add_argument("--arch", default=None, help="train this architecture string (in the run's space) instead")
    p.add_argument("--from", dest="from_folder", default=None,
                   help="fine-tune the trained model in this folder (on --task; transfer) instead of a run's")
    p.add_argument("--task", default=None, help="task to train on (default: the run's)")
    p.add_argument("--task-kwargs", type=json.loads, default=None, help="task arguments as JSON, e.g. a npz path")
    p.add_argument("--out", default=None, help="model folder (default: RUN_FOLDER/model, or FROM/finetuned)")
    p.add_argument("--onnx", action="store_true", help="also export model.onnx (checked with onnxruntime)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs ({per_kind('epochs')})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=per_kind("batch_size"))
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help=per_kind("optimizer"))
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate ({per_kind('lr')})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=per_kind("weight_decay"))
    p.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs,
                   help=f"linear warm-up, then cosine decay ({per_kind('warmup_epochs')})")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help=per_kind("label_smoothing"))
    p.add_argument("--clip-grad-norm", type=float, default=d.clip_grad_norm,
                   help="clip the norm of all gradients together to this; 0 for no clipping (default: none; "
                        f"a language model's: {lm['clip_grad_norm']})")
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
        clip_grad_norm=args.clip_grad_norm, augment=not args.no_augment, patience=args.patience or None,
        seed=args.seed, device=args.device, precision=args.precision, num_threads=args.num_threads,
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
    if "val_bpc" in metrics:  # a language model: next-character accuracy above, bits per character here
        print(f"  val_bpc        {metrics['val_bpc']:.4f}")
        print(f"  test_bpc       {metrics['test_bpc']:.4f}")
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
    if "val_bpc" in metrics:
        print(f"Sample text:     nas-gym sample {out}")
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


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``nas-gym sample``."""
    p.add_argument("model_folder", metavar="MODEL_FOLDER", help="model folder of a trained language model")
    p.add_argument("--prompt", default="", help="text to continue (default: none, start a new line)")
    p.add_argument("--length", type=int, default=200, help="characters to generate per sample (default: 200)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="softmax temperature; 0 takes the most likely character every time (default: 0.8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first sample; sample i uses SEED+i (default: 0)")
    p.add_argument("--lines", type=int, default=1,
                   help="samples to print, one per line, their own line breaks shown as ⏎ (default: 1)")


def cmd_sample(args: argparse.Namespace) -> int:
    """Run ``nas-gym sample``: print ``--lines`` samples, the prompt followed by what the model wrote."""
    from nas_gym.model.sample import LINE_BREAK, sample_texts

    if args.lines < 1:
        raise ConfigError(f"--lines must be at least 1, got {args.lines}.")
    texts = sample_texts(args.model_folder, prompt=args.prompt, length=args.length, temperature=args.temperature,
                         seeds=range(args.seed, args.seed + args.lines))
    for text in texts:
        print((args.prompt + text).replace("\n", LINE_BREAK))
    return 0
