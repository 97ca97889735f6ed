"""Build the embedded NB201 tabular benchmark: train every cell of the ``nb201`` space on a real offline task.

The 15,625 cells fall into 6,466 isomorphism classes (``NB201Space.canonical``);
each class is trained once, on its canonical representative, with the
project's own :class:`~nas_gym.evaluators.training.TrainingEvaluator`, and
every cell of the class gets the class's figures.

Phases, each resumable (kill it at any time and run the same command again):

1. Training in ``--workers`` spawned processes (one torch thread each). Each
   result is appended to ``<work-dir>/train.jsonl`` and flushed; on restart,
   classes already there are skipped.
2. Latency of every class on this host (:class:`~nas_gym.latency.MeasuredLatency`,
   batch 1, one thread, median of repeats), measured in this process after
   training, so no timing runs while the workers load the cores. Appended to
   ``<work-dir>/latency.jsonl``.
3. Expansion to one row per cell, written to ``--out`` (gzip-compressed CSV,
   byte-reproducible) with a markdown card next to it (``.md``).

Rerunning after completion only rewrites the outputs. ``--limit N`` builds the
first N classes only (smoke tests); its table covers just their cells.

Run: ``.venv/bin/python scripts/build_table.py`` (``--help`` for options).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import logging
import multiprocessing as mp
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import tyro
from tqdm import tqdm

from nas_gym.data import NB201_DATASETS
from nas_gym.error import ConfigError, DataError
from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.latency import MeasuredLatency, host_fingerprint
from nas_gym.spaces.base import Architecture
from nas_gym.spaces.nb201 import EDGES, OPS, NB201Space
from nas_gym.tasks.base import make_task

logger = logging.getLogger("build_table")

REPO = Path(__file__).resolve().parents[1]
COLUMNS = (
    "arch_index",
    "arch_str",
    "val_accuracy",
    "test_accuracy",
    "params",
    "flops",
    "train_seconds",
    "latency_ms",
    "class_id",
    "no_path",
)


@dataclass
class Args:
    task: str = "mnist1d"
    """Task to train on: mnist1d or digits (see nas_gym.tasks.base)."""
    epochs: int = 1
    """Training epochs per class."""
    batch_size: int = 32
    """Examples per optimisation step."""
    lr: float = 3e-3
    """Peak learning rate (Adam, cosine decay to zero)."""
    train_fraction: float = 1.0
    """Fraction of the training split used (a cheaper proxy below 1)."""
    seed: int = 0
    """Training seed: weight initialisation and shuffling."""
    channels: int = 8
    """Width C of the scaled-down NB201 macro network."""
    cells_per_stage: int = 1
    """Cells per stage of the macro network."""
    workers: int = 2
    """Training processes (one torch thread each)."""
    work_dir: Path | None = None
    """Checkpoint folder (train.jsonl, latency.jsonl, settings.json, runs.jsonl); defaults to build/nb201_<task>."""
    out: Path | None = None
    """Output table (.csv.gz); defaults to nas_gym/data/nb201_<task>.csv.gz. The card is written next to it (.md)."""
    reference: Path | None = NB201_DATASETS["cifar100"].path
    """NAS-Bench-201 table for arch_index order and the card's correlations; None or absent: enumeration order."""
    limit: int | None = None
    """Build only the first N classes (smoke tests)."""
    latency_repeats: int = 15
    """Timed forward passes per class; the median is recorded."""
    curve: bool = False
    """Also record each class's learning curve: columns val_accuracy@1..epochs (fidelities by table lookup)."""

    @property
    def work_path(self) -> Path:
        """The checkpoint folder."""
        return self.work_dir if self.work_dir is not None else REPO / "build" / f"nb201_{self.task}"

    @property
    def out_path(self) -> Path:
        """The output table."""
        return self.out if self.out is not None else REPO / "nas_gym" / "data" / f"nb201_{self.task}.csv.gz"

    @property
    def card_path(self) -> Path:
        """The card, next to the table: ``x.csv.gz`` -> ``x.md``."""
        name = self.out_path.name
        stem = name[: -len(".csv.gz")] if name.endswith(".csv.gz") else self.out_path.stem
        return self.out_path.with_name(stem + ".md")

    def training_settings(self) -> dict[str, Any]:
        """Settings that change trained figures; a resumed build must match them."""
        return {
            "task": self.task,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": "adam",
            "lr": self.lr,
            "lr_schedule": "cosine",
            "train_fraction": self.train_fraction,
            "seed": self.seed,
            "space": {"channels": self.channels, "cells_per_stage": self.cells_per_stage},
            # Only when asked, so builds made before curves existed still resume.
            **({"curve": True} if self.curve else {}),
        }

    @property
    def columns(self) -> tuple[str, ...]:
        """The table's columns: :data:`COLUMNS`, then ``val_accuracy@e`` per epoch with ``curve``."""
        return (*COLUMNS, *(f"val_accuracy@{e}" for e in range(1, self.epochs + 1))) if self.curve else COLUMNS


# -- classes -------------------------------------------------------------------------


def classes(space: NB201Space) -> tuple[list[Architecture], dict[tuple[int, ...], int]]:
    """Canonical representatives in index order, and each cell's class id."""
    reps: dict[tuple[int, ...], int] = {}
    class_of: dict[tuple[int, ...], int] = {}
    for arch in space.enumerate():
        rep = space.canonical(arch).indices
        class_of[arch.indices] = reps.setdefault(rep, len(reps))
    return [Architecture(space, rep) for rep in reps], class_of


def no_path(indices: tuple[int, ...]) -> bool:
    """Whether no chain of non-``none`` edges joins the input to node 3.

    Then the network's prediction does not depend on its input (a zero node
    can only pass on a learned batch-norm shift), so it scores about chance.
    """
    reached = {0}
    for (to, i), o in zip(EDGES, indices, strict=True):
        if OPS[o] != "none" and i in reached:
            reached.add(to)
    return 3 not in reached


# -- checkpoints ---------------------------------------------------------------------


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a checkpoint file; a torn last line (killed mid-write) is skipped."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines) - 1:
                logger.warning("%s: skipping a torn last line (the build was killed mid-write).", path)
                continue
            raise DataError(f"{path}: line {n + 1} is not JSON ({e}). Delete the line to retrain that class.") from e


def drop_torn_tail(path: Path) -> None:
    """Cut a last line left without its newline by a kill, so appended records start on a line of their own."""
    if not path.is_file():
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)


def append_jsonl(f: io.TextIOBase, record: dict[str, Any]) -> None:
    """Write one record and push it to disk, so a kill loses at most the record in flight."""
    f.write(json.dumps(record) + "\n")
    f.flush()
    os.fsync(f.fileno())


def check_settings(args: Args) -> None:
    """Write the training settings once; refuse to resume with different ones."""
    path = args.work_path / "settings.json"
    settings = args.training_settings()
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored != settings:
            raise ConfigError(
                f"{args.work_path} holds a build with settings {stored}, but this run asks for {settings}. "
                "Pass the same settings to resume, or another --work-dir for a new build."
            )
        return
    path.write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")


# -- phase 1: training -----------------------------------------------------------------

_evaluator: TrainingEvaluator | None = None
_space: NB201Space | None = None
_curve = False


def _init_worker(settings: dict[str, Any]) -> None:
    global _evaluator, _space, _curve
    # One thread per process: two workers then use the two cores without oversubscribing.
    torch.set_num_threads(1)
    _space = NB201Space(**settings["space"])
    _evaluator = TrainingEvaluator(
        make_task(settings["task"]),
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        optimizer=settings["optimizer"],
        lr=settings["lr"],
        lr_schedule=settings["lr_schedule"],
        train_fraction=settings["train_fraction"],
        seed=settings["seed"],
        num_threads=1,
    )
    _curve = bool(settings.get("curve"))


def _train(job: tuple[int, tuple[int, ...]]) -> dict[str, Any]:
    class_id, indices = job
    arch = Architecture(_space, indices)
    # At the full budget evaluate_at scores what evaluate does, and keeps the validation accuracy of every epoch.
    m = _evaluator.evaluate_at(arch, _evaluator.epochs) if _curve else _evaluator.evaluate(arch)
    curve = {"learning_curve": m.extra["learning_curve"]} if _curve else {}
    return {
        "class_id": class_id,
        "arch": str(arch),
        "val_accuracy": m.val_accuracy,
        "test_accuracy": m.test_accuracy,
        "params": m.params,
        "flops": m.flops,
        "train_seconds": m.cost_s,
        "diverged": m.diverged,
        **curve,
    }


def _pool(args: Args, jobs: int) -> Any:
    """Spawned training processes with ``args``' recipe (one torch thread each), at most one per job."""
    workers = max(1, min(args.workers, jobs))
    return mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(args.training_settings(),))


def train_cells(args: Args, cells: list[tuple[int, ...]]) -> list[dict[str, Any]]:
    """Train ``cells`` (index tuples) with ``args``' recipe, without a checkpoint; their records in input order.

    What a benchmark needs to retrain some cells as the table was built, e.g. with
    another training seed (``dataclasses.replace(Args(), seed=1)``) to measure how
    much of the table's ranking is the training seed's. Cells are trained as
    written: pass canonical representatives to match the table's rows.
    """
    with _pool(args, len(cells)) as pool, tqdm(total=len(cells), desc="train", unit="cell", leave=False) as bar:
        records = []
        for record in pool.imap(_train, enumerate(cells), chunksize=4):
            records.append(record)
            bar.update()
    return records


def train_phase(args: Args, reps: list[Architecture]) -> dict[int, dict[str, Any]]:
    """Train the classes not in the checkpoint yet; return every class's record."""
    path = args.work_path / "train.jsonl"
    done = {r["class_id"]: r for r in read_jsonl(path) if r["class_id"] < len(reps)}
    todo = [(c, rep.indices) for c, rep in enumerate(reps) if c not in done]
    print(f"Training: {len(done)} of {len(reps)} classes already in {path}; {len(todo)} to train.", flush=True)
    if not todo:
        return done
    drop_torn_tail(path)
    with (
        open(path, "a", encoding="utf-8") as f,
        _pool(args, len(todo)) as pool,
        tqdm(total=len(reps), initial=len(done), desc="train", unit="class", smoothing=0.05) as bar,
    ):
        # Small chunks keep the checkpoint close behind the work if the build is killed.
        for record in pool.imap_unordered(_train, todo, chunksize=4):
            append_jsonl(f, record)
            done[record["class_id"]] = record
            bar.update()
    return done


# -- phase 2: latency -------------------------------------------------------------------


def latency_phase(args: Args, space: NB201Space, reps: list[Architecture]) -> dict[int, float]:
    """Measure each class's latency on this host, resumably; return ms per class id."""
    path = args.work_path / "latency.jsonl"
    done = {r["class_id"]: r["latency_ms"] for r in read_jsonl(path) if r["class_id"] < len(reps)}
    todo = [c for c in range(len(reps)) if c not in done]
    print(f"Latency: {len(done)} of {len(reps)} classes already in {path}; {len(todo)} to measure.", flush=True)
    if not todo:
        return done
    drop_torn_tail(path)
    model = MeasuredLatency(make_task(args.task), repeats=args.latency_repeats, num_threads=1, cache=None)
    with open(path, "a", encoding="utf-8") as f:
        for c in tqdm(todo, desc="latency", unit="class"):
            done[c] = model.latency_ms(reps[c])
            append_jsonl(f, {"class_id": c, "latency_ms": done[c]})
    return done


# -- phase 3: expansion and card -----------------------------------------------------


def read_reference(path: Path | None, space: NB201Space) -> dict[str, dict[str, Any]] | None:
    """NB201 reference rows by arch string, or None when there is no reference table."""
    if path is None or not path.is_file():
        logger.warning("No reference table at %s: rows follow enumeration order; the card has no correlations.", path)
        return None
    with open(path, newline="", encoding="utf-8") as f:
        rows = {r["arch_str"]: r for r in csv.DictReader(f)}
    if len(rows) != space.size():
        raise DataError(
            f"{path}: expected {space.size()} NB201 rows, got {len(rows)}. Pass the full table or --reference None."
        )
    return rows


def expand(
    space: NB201Space,
    class_of: dict[tuple[int, ...], int],
    trained: dict[int, dict[str, Any]],
    latency: dict[int, float],
    reference: dict[str, dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """One row per cell whose class is built, in the reference's arch_index order (else enumeration order)."""
    cells = list(space.enumerate())
    if reference is not None:
        index = {s: int(r["arch_index"]) for s, r in reference.items()}
        cells.sort(key=lambda a: index[str(a)])
    rows = []
    for n, arch in enumerate(cells):
        c = class_of[arch.indices]
        if c not in trained or c not in latency:
            continue
        t = trained[c]
        s = str(arch)
        rows.append(
            {
                "arch_index": int(reference[s]["arch_index"]) if reference is not None else n,
                "arch_str": s,
                "val_accuracy": round(t["val_accuracy"], 5),
                "test_accuracy": round(t["test_accuracy"], 5),
                "params": t["params"],
                "flops": t["flops"],
                "train_seconds": round(t["train_seconds"], 3),
                "latency_ms": round(latency[c], 4),
                "class_id": c,
                "no_path": int(no_path(arch.indices)),
                **{f"val_accuracy@{e}": round(v, 5) for e, v in enumerate(t.get("learning_curve", ()), 1)},
            }
        )
    return rows


def write_table(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> None:
    """Gzip-compressed CSV with a zero timestamp, so equal tables give equal bytes."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(text.getvalue().encode("utf-8"))
    os.replace(tmp, path)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties."""

    def ranks(x: np.ndarray) -> np.ndarray:
        _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
        # Average rank of each distinct value: start of its block plus half its width.
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return (starts + (counts - 1) / 2.0)[inverse]

    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def histogram(values: np.ndarray, bins: int = 12, width: int = 50) -> str:
    """Text histogram of accuracies in %."""
    counts, edges = np.histogram(values * 100, bins=bins)
    top = max(counts.max(), 1)
    lines = [
        f"{lo:6.2f}-{hi:6.2f} % | {'#' * int(round(width * n / top)):<{width}} {n}"
        for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
    return "\n".join(lines)


def _quantiles(values: np.ndarray) -> str:
    q = np.quantile(values * 100, [0, 0.25, 0.5, 0.75, 1])
    return " / ".join(f"{x:.2f}" for x in q) + f" (mean {values.mean() * 100:.2f}, std {values.std() * 100:.2f})"


def _runs_summary(work_dir: Path) -> tuple[float, int, str]:
    runs = list(read_jsonl(work_dir / "runs.jsonl"))
    wall = sum(r["end"] - r["start"] for r in runs)
    dates = sorted({dt.datetime.fromtimestamp(r["end"], dt.timezone.utc).strftime("%Y-%m-%d") for r in runs})
    return wall, len(runs), ", ".join(dates)


def write_card(
    args: Args, rows: list[dict[str, Any]], reps: list[Architecture], reference: dict | None
) -> None:
    """Markdown card: task, settings, build machine, distribution and correlations."""
    if not rows:
        raise ConfigError("No class has been trained yet; nothing to describe. Run the build first.")
    num_classes = len(reps)
    first_of: dict[int, dict[str, Any]] = {}
    for r in rows:
        # A class's row in the card names its canonical representative, the cell that was trained.
        first_of.setdefault(r["class_id"], {**r, "arch_str": str(reps[r["class_id"]])})
    by_class = [first_of[c] for c in sorted(first_of)]
    val = np.array([r["val_accuracy"] for r in rows])
    test = np.array([r["test_accuracy"] for r in rows])
    cval = np.array([r["val_accuracy"] for r in by_class])
    ctest = np.array([r["test_accuracy"] for r in by_class])
    connected = [r for r in by_class if not r["no_path"]]
    task = make_task(args.task)
    host = host_fingerprint(1)
    wall, runs, dates = _runs_summary(args.work_path)
    train_s = sum(r["train_seconds"] for r in by_class)
    s = args.training_settings()
    partial = (
        f"\n**Partial build:** {len(by_class)} of {num_classes} classes (`--limit`); figures below cover those only.\n"
        if len(by_class) < num_classes
        else ""
    )
    out = [
        f"# NB201 on {args.task}: an embedded tabular benchmark",
        "",
        f"`{args.out_path.name}`: one row per NAS-Bench-201 cell ({len(rows):,} rows), built by "
        "`scripts/build_table.py` with the project's own `TrainingEvaluator` and `MeasuredLatency`. "
        f"Each of the {num_classes:,} isomorphism classes (`NB201Space.canonical`) was trained once, on its "
        "canonical representative, and every cell of the class carries the class's figures.",
        partial,
        "Load it with:",
        "",
        "```python",
        "from nas_gym.evaluators.table import TabularBenchmark",
        "from nas_gym.spaces.nb201 import NB201Space",
        f'table = TabularBenchmark.load("nas_gym/data/{args.out_path.name}", space=NB201Space(),',
        '                               val_column="val_accuracy", test_column="test_accuracy",',
        '                               latency_column="latency_ms", cost_column="train_seconds")',
        "```",
        "",
        "## Columns",
        "",
        "| column | meaning |",
        "|---|---|",
        "| `arch_index` | NAS-Bench-201 index (row order of the reference table `nb201_cifar.csv`) |",
        "| `arch_str` | NB201 arch string |",
        "| `val_accuracy`, `test_accuracy` | accuracy as a **fraction** in [0, 1] |",
        "| `params` | trainable parameters of the scaled-down network |",
        "| `flops` | multiply-accumulates of one forward pass, batch 1 (conv and linear layers) |",
        "| `train_seconds` | wall seconds of building, training and scoring the class's representative (one thread) |",
        "| `latency_ms` | median forward time on the build machine, batch 1, one thread |",
        "| `class_id` | isomorphism class (0-based, in order of the canonical index tuples) |",
        "| `no_path` | 1 when no chain of non-`none` edges joins input and output: the prediction ignores the "
        "input, so accuracy is about chance. These classes were trained like the others; their figures are real. |",
        "",
        "## Task and training",
        "",
        f"- Task: `{args.task}` (`nas_gym.tasks.base.make_task`, split seed 0): {len(task.x_train):,} train / "
        f"{len(task.x_val):,} validation / {len(task.x_test):,} test examples, input shape {task.input_shape}, "
        f"{task.num_classes} classes. Fingerprint `{task.fingerprint}`.",
        f"- Network: `NB201Space(channels={args.channels}, cells_per_stage={args.cells_per_stage})` - stem, three "
        "stages of cells (C, 2C, 4C) separated by residual reductions, global pool, linear.",
        f"- Training: `TrainingEvaluator` with {s['epochs']} epoch(s), batch {s['batch_size']}, Adam, lr {s['lr']:g} "
        f"with per-step cosine decay to 0, no weight decay, train fraction {s['train_fraction']:g}, one torch thread.",
        f"- Seeds: training seed {s['seed']} (initialisation and shuffling), one seed per class; split seed 0.",
        f"- Latency: `MeasuredLatency` on the build machine, batch 1, 3 warm-up and {args.latency_repeats} timed "
        "passes (median), one thread, measured after all training finished (no training competing from this build; the "
        "machine was shared with other work, so expect some noise).",
        "",
        "## Build",
        "",
        f"- Machine: {host['cpu']}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, torch {host['torch']}.",
        f"- Date(s): {dates or 'unknown'} (UTC). Wall time {wall / 60:.1f} min over {runs} invocation(s), "
        f"{args.workers} training processes; {train_s / 3600:.2f} h of per-class training wall time summed "
        "(one thread each; on a shared machine this exceeds the CPU time).",
        f"- Command: `.venv/bin/python scripts/build_table.py --task {args.task} --epochs {args.epochs} "
        f"--batch-size {args.batch_size} --lr {args.lr:g} --train-fraction {args.train_fraction:g} --seed {args.seed} "
        f"--workers {args.workers}`",
        "",
        "## Accuracy distribution",
        "",
        "Min / quartiles / max in %:",
        "",
        "| over | validation | test |",
        "|---|---|---|",
        f"| {len(by_class):,} classes | {_quantiles(cval)} | {_quantiles(ctest)} |",
        f"| {len(rows):,} cells | {_quantiles(val)} | {_quantiles(test)} |",
        f"| {len(connected):,} classes with an input-output path | "
        f"{_quantiles(np.array([r['val_accuracy'] for r in connected])) if connected else '-'} | "
        f"{_quantiles(np.array([r['test_accuracy'] for r in connected])) if connected else '-'} |",
        "",
        f"Validation accuracy over the {len(rows):,} cells:",
        "",
        "```",
        histogram(val),
        "```",
        "",
        f"Spearman of our validation with our test accuracy over classes: {spearman(cval, ctest):.3f} "
        "(how far the split noise lets one seed rank cells).",
        "",
        "## Top 5 classes by validation accuracy",
        "",
        "| class | canonical cell | val % | test % | params | latency ms |"
        + (" NB201 CIFAR-10 test % of this cell |" if reference else ""),
        "|---|---|---|---|---|---|" + ("---|" if reference else ""),
    ]
    for r in sorted(by_class, key=lambda r: (-r["val_accuracy"], r["class_id"]))[:5]:
        line = (
            f"| {r['class_id']} | `{r['arch_str']}` | {r['val_accuracy'] * 100:.2f} | {r['test_accuracy'] * 100:.2f} "
            f"| {r['params']:,} | {r['latency_ms']:.3f} |"
        )
        if reference:
            line += f" {float(reference[r['arch_str']]['c10_test']):.2f} |"
        out.append(line)
    out += ["", "## Agreement with NAS-Bench-201 (CIFAR, 200 epochs) and HW-NAS-Bench", ""]
    if reference:
        out += _correlations(rows, by_class, reference)
    else:
        out.append("No reference table was available at build time.")
    args.card_path.write_text("\n".join(out) + "\n", encoding="utf-8")


def _correlations(rows: list[dict], by_class: list[dict], reference: dict[str, dict[str, Any]]) -> list[str]:
    """Spearman rows of the card: our columns against the reference's, over cells and over classes."""
    accuracy_cols = ("c10_test", "c100_valid", "c100_test")
    latency_cols = ("lat_fpga_ms", "lat_eyeriss_ms", "lat_pixel3_ms", "lat_raspi4_ms")
    # A class's reference figure is the mean over its cells: NB201 trained each cell separately.
    members: dict[int, list[str]] = {}
    for r in rows:
        members.setdefault(r["class_id"], []).append(r["arch_str"])

    def ref_cells(col: str) -> np.ndarray:
        return np.array([float(reference[r["arch_str"]][col]) for r in rows])

    def ref_classes(col: str) -> np.ndarray:
        return np.array([np.mean([float(reference[s][col]) for s in members[r["class_id"]]]) for r in by_class])

    def ours(records: list[dict], col: str) -> np.ndarray:
        return np.array([r[col] for r in records], dtype=float)

    linked = [r for r in by_class if not r["no_path"]]
    lines = [
        f"Spearman rank correlation (all {len(rows):,} cells; {len(by_class):,} classes, a class's NB201 figure being "
        f"the mean over its cells; and the {len(linked):,} classes with an input-output path):",
        "",
        "| ours | NB201 column | cells | classes | classes with a path |",
        "|---|---|---|---|---|",
    ]
    keep = np.array([not r["no_path"] for r in by_class])
    pairs = [("val_accuracy", c) for c in accuracy_cols] + [("test_accuracy", "c10_test")]
    pairs += [("latency_ms", c) for c in latency_cols] + [("flops", "lat_fpga_ms"), ("params", "c10_test")]
    for ours_col, ref_col in pairs:
        mine, theirs = ours(by_class, ours_col), ref_classes(ref_col)
        linked_rho = spearman(mine[keep], theirs[keep]) if keep.any() else float("nan")
        lines.append(
            f"| `{ours_col}` | `{ref_col}` | {spearman(ours(rows, ours_col), ref_cells(ref_col)):.3f} "
            f"| {spearman(mine, theirs):.3f} "
            f"| {linked_rho:.3f} |"
        )
    best = max(by_class, key=lambda r: (r["val_accuracy"], -r["class_id"]))
    lines += [
        "",
        f"The best class by our validation accuracy (`{best['arch_str']}`) has NB201 CIFAR-10 test "
        f"{float(reference[best['arch_str']]['c10_test']):.2f} % (best in NB201: "
        f"{max(float(r['c10_test']) for r in reference.values()):.2f} %).",
    ]
    return lines


# -- main ----------------------------------------------------------------------------


def main(args: Args) -> None:
    """Train what is missing, measure latency, then write the table and its card."""
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be a positive number of classes, got {args.limit}.")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}.")
    start = time.time()
    args.work_path.mkdir(parents=True, exist_ok=True)
    check_settings(args)
    space = NB201Space(channels=args.channels, cells_per_stage=args.cells_per_stage)
    reps, class_of = classes(space)
    targets = reps[: args.limit] if args.limit is not None else reps
    # Every invocation, interrupted ones included, adds its wall time to the card's build time.
    try:
        trained = train_phase(args, targets)
        latency = latency_phase(args, space, targets)
    finally:
        drop_torn_tail(args.work_path / "runs.jsonl")
        with open(args.work_path / "runs.jsonl", "a", encoding="utf-8") as f:
            append_jsonl(f, {"start": start, "end": time.time(), "classes": len(targets)})
    reference = read_reference(args.reference, space)
    rows = expand(space, class_of, trained, latency, reference)
    write_table(args.out_path, rows, args.columns)
    write_card(args, rows, reps, reference)
    size = args.out_path.stat().st_size
    print(f"Wrote {args.out_path} ({len(rows):,} rows, {size / 1e6:.2f} MB) and {args.card_path}.", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(tyro.cli(Args))
