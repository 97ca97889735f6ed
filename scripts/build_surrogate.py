"""Build the surrogate benchmark of the ``layers`` space: ``NAS-Surrogate-v0``'s model (NAS-Bench-301's idea).

Two stages, each resumable:

1. ``collect``: random search of ``--archs`` distinct architectures on default
   ``NAS-v0`` (real training on digits, latency measured on this host), with
   ``--workers`` processes and a progress bar, into the run folder ``--out``.
   Killed and rerun, it continues where it stopped (the run folder's history
   and its evaluation cache), so no training is lost or repeated.
2. ``fit``: fits candidate predictors (MLP ensembles of a few sizes; LightGBM
   where the ``gbdt`` extra is installed) to validation accuracy on a training
   split, compares them by Kendall τ on a held-out split, refits the best MLP
   ensemble's settings on all but the held-out split for the shipped model
   (MLP weights are plain tensors, so the model ships as safetensors, which
   loads without unpickling and predicts with numpy alone), and writes the
   model, its metadata and its card to ``nas_gym/data/``.

The shipped model predicts validation accuracy, test accuracy and log
latency (three heads of one ensemble), so the env needs no task, training
or timing at all.

Run: ``.venv/bin/python scripts/build_surrogate.py collect --archs 3000 --workers 2``
then ``.venv/bin/python scripts/build_surrogate.py fit``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "runs" / "surrogate_data"


@dataclass
class Collect:
    """Train random NAS-v0 architectures (resumable)."""

    archs: int = 3000
    """Distinct architectures to train."""
    workers: int = 2
    """Worker processes (one core each)."""
    out: Path = DEFAULT_OUT
    """Run folder of the collection (history.jsonl, cache)."""
    seed: int = 0
    """Seed of the random search."""


@dataclass
class Fit:
    """Fit, compare and ship the surrogate."""

    data: Path = DEFAULT_OUT
    """Run folder written by ``collect``."""
    holdout: float = 0.2
    """Share of architectures held out for the card's Kendall τ."""
    seed: int = 0
    """Seed of the split and of the predictors."""
    data_dir: Path = REPO / "nas_gym" / "data"
    """Where the model, its metadata and its card go."""


def collect(args: Collect) -> None:
    """Random search on default NAS-v0; resumes from the run folder."""
    from nas_gym.search.searcher import run_search

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "meta.json").write_text(json.dumps({"host": f"{platform.processor() or platform.machine()}, "
                                                   f"{os.cpu_count()} cores"}))
    env_kwargs = {"cache": str(args.out / "cache.sqlite")}
    summary = run_search("random", "NAS-v0", env_kwargs, budget=args.archs, seed=args.seed, out_dir=args.out,
                         progress=True, workers=args.workers)
    print(f"collected {summary['num_evaluated']} architectures in {args.out}")


#: What the shipped surrogate predicts, and the transform each is fitted on (log for the positive, skewed ones).
TARGETS = {"val_accuracy": "identity", "test_accuracy": "identity", "latency_ms": "log",
           "params": "log", "flops": "log"}
#: Candidate predictors of validation accuracy, compared on the held-out split: (label, registry name, kwargs),
#: MLPs in order of inference cost.
CANDIDATES = [
    ("mlp 64x64, 150 steps (default)", "mlp_ensemble", {}),
    ("mlp 64x64, 500 steps", "mlp_ensemble", {"epochs": 500}),
    ("mlp 128x128, 400 steps", "mlp_ensemble", {"hidden": (128, 128), "epochs": 400}),
    ("mlp 256x256, 600 steps, lr 0.005", "mlp_ensemble", {"hidden": (256, 256), "epochs": 600, "lr": 0.005}),
    ("mlp 128x128x128, 600 steps, lr 0.005", "mlp_ensemble",
     {"hidden": (128, 128, 128), "epochs": 600, "lr": 0.005}),
    ("gbdt (LightGBM, 5 bagged boosters)", "gbdt", {}),
]


#: How much held-out Kendall τ the shipped model may give up for a cheaper network (each 128-wide layer
#: costs the env about a third of its speed; scripts/bench_env.py).
TAU_TOLERANCE = 0.02


def _inference_cost(kwargs: dict) -> int:
    """Multiply-adds of one member's hidden layers (the first layer is a row sum, about free)."""
    hidden = kwargs.get("hidden", (64, 64))
    return sum(a * b for a, b in zip(hidden[:-1], hidden[1:], strict=True)) + hidden[-1]


def _records(folder: Path) -> list[dict]:
    """The collection's evaluations (diverged trainings dropped: chance-level accuracy is no signal)."""
    history = folder / "history.jsonl"
    if not history.is_file():
        raise SystemExit(f"{history} does not exist: run `build_surrogate.py collect` first.")
    with open(history, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if not r["diverged"] and r["latency_ms"] is not None]


def _target(rows: list[dict], metric: str) -> np.ndarray:
    values = np.array([r[metric] for r in rows], dtype=np.float64)
    return np.log(np.maximum(values, 1e-9)) if TARGETS[metric] == "log" else values


def _scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    from scipy.stats import kendalltau, spearmanr

    return {"kendall_tau": float(kendalltau(pred, true)[0]), "spearman": float(spearmanr(pred, true)[0]),
            "mae": float(np.mean(np.abs(pred - true)))}


def fit(args: Fit) -> None:
    """Compare candidates on a held-out split, fit the shipped model, write it and its card."""
    import nas_gym
    from nas_gym.predictors import PREDICTORS
    from nas_gym.predictors.surrogate import SHIPPED, export_surrogate
    from nas_gym.spaces import make_space

    rows = _records(args.data)
    meta = json.loads((args.data / "meta.json").read_text()) if (args.data / "meta.json").is_file() else {}
    space = make_space("layers")
    archs = [space.from_string(r["arch"]) for r in rows]
    order = np.random.default_rng(args.seed).permutation(len(rows))
    n_test = int(round(args.holdout * len(rows)))
    test, train = order[:n_test], order[n_test:]
    print(f"{len(rows)} architectures: {len(train)} to fit, {len(test)} held out (seed {args.seed})\n")

    def fitted(name: str, kwargs: dict, metric: str):
        start = time.perf_counter()
        y = _target(rows, metric)
        model = PREDICTORS.make(name, {"seed": args.seed, **kwargs}, space)
        model.fit([archs[i] for i in train], y[train])
        mean, _ = model.predict([archs[i] for i in test])
        return model, {**_scores(mean, y[test]), "fit_s": time.perf_counter() - start}

    print("| predictor of validation accuracy | held-out Kendall τ | Spearman ρ | MAE | fit s |")
    print("|---|---|---|---|---|")
    compared = []
    for label, name, kwargs in CANDIDATES:
        try:
            _, score = fitted(name, kwargs, "val_accuracy")
        except nas_gym.NASGymError as e:  # e.g. LightGBM not installed
            print(f"| {label} | skipped: {e} | | | |")
            continue
        compared.append((label, name, kwargs, score))
        print(f"| {label} | {score['kendall_tau']:.3f} | {score['spearman']:.3f} | {score['mae']:.4f} "
              f"| {score['fit_s']:.1f} |")
    # The shipped model must load without optional packages (an MLP ensemble), and the env's speed is the
    # point of a surrogate: the cheapest MLP within TAU_TOLERANCE of the best MLP's held-out τ.
    mlps = [c for c in compared if c[1] == "mlp_ensemble"]
    best_tau = max(c[3]["kendall_tau"] for c in mlps)
    near = [c for c in mlps if c[3]["kendall_tau"] >= best_tau - TAU_TOLERANCE]
    label, name, kwargs, _ = min(near, key=lambda c: (_inference_cost(c[2]), -c[3]["kendall_tau"]))
    print(f"\nshipped: {label}, one ensemble per metric\n")
    print("| metric | fitted on | held-out Kendall τ | Spearman ρ | MAE (fitted units) |")
    print("|---|---|---|---|---|")
    models, heldout = {}, {}
    for metric, transform in TARGETS.items():
        models[metric], heldout[metric] = fitted(name, kwargs, metric)
        h = heldout[metric]
        print(f"| {metric} | {transform} | {h['kendall_tau']:.3f} | {h['spearman']:.3f} | {h['mae']:.4f} |")
    digest = hashlib.sha256((args.data / "history.jsonl").read_bytes()).hexdigest()[:12]
    info = {
        "data": {"env": "NAS-v0", "search": "random (distinct architectures)", "architectures": len(rows),
                 "history_sha256": digest, "collected_on": meta.get("host"), "package_version": nas_gym.__version__},
        "fit": {"predictor": label, "registry_name": name, "kwargs": kwargs, "seed": args.seed,
                "train": len(train), "heldout": len(test), "digest": digest},
        "heldout": heldout,
        "candidates": [{"label": c[0], **c[3]} for c in compared],
    }
    stem = export_surrogate(args.data_dir / SHIPPED, models, TARGETS, info)
    _write_card(stem.with_suffix(".md"), info, rows)
    print(f"\nwrote {stem}.safetensors, {stem}.json and {stem}.md")


def _write_card(path: Path, info: dict, rows: list[dict]) -> None:
    val = np.array([r["val_accuracy"] for r in rows])
    cost = sum(r["cost_s"] or 0.0 for r in rows)
    d, f, h = info["data"], info["fit"], info["heldout"]
    lines = [
        "# Surrogate of the `layers` space on digits (`NAS-Surrogate-v0`)",
        "",
        "Built by `scripts/build_surrogate.py` (NAS-Bench-301's idea on this project's own trainings).",
        "",
        "## Data",
        "",
        f"- {d['architectures']} distinct architectures of the default `layers` space (4 slots), drawn by random "
        "search on default `NAS-v0`: real training on scikit-learn's digits with the default training evaluator, "
        "latency measured on the build machine (batch 1, one thread, fastest of repeats) while two trainings ran.",
        f"- Diverged trainings dropped. Validation accuracy: min {val.min():.3f}, median {np.median(val):.3f}, "
        f"max {val.max():.3f}. Training time of the whole set: {cost / 3600:.2f} CPU-hours.",
        f"- Data digest (sha256 of history.jsonl, first 12 hex): `{d['history_sha256']}`; "
        f"nas_gym {d['package_version']}.",
        "",
        "## Fit",
        "",
        f"- Model: {f['predictor']} (`{f['registry_name']}` with {f['kwargs'] or 'default settings'}), one "
        "ensemble of 5 members per metric, on the per-decision one-hot encoding; accuracies fitted as they are, "
        "latency, parameters and FLOPs as logs.",
        f"- Chosen as the cheapest MLP ensemble within {TAU_TOLERANCE} held-out τ of the best one: the env's "
        "speed is the point of a surrogate (`scripts/bench_env.py` prints it against CartPole-v1).",
        f"- Split: {f['train']} architectures fitted, {f['heldout']} held out (seed {f['seed']}); the shipped model "
        "is the one fitted on the training split, so the scores below are held-out scores of this very model.",
        "- Weights: `surrogate_layers.safetensors` (plain tensors); metadata `surrogate_layers.json`. "
        "Predictions use numpy only.",
        "",
        "## Held-out scores of the shipped model",
        "",
        "| metric | Kendall τ | Spearman ρ | MAE (fitted units) |",
        "|---|---|---|---|",
        *[f"| {m} | {s['kendall_tau']:.3f} | {s['spearman']:.3f} | {s['mae']:.4f} |" for m, s in h.items()],
        "",
        "## Candidates compared (validation accuracy, same split)",
        "",
        "| predictor | Kendall τ | Spearman ρ | MAE |",
        "|---|---|---|---|",
        *[f"| {c['label']} | {c['kendall_tau']:.3f} | {c['spearman']:.3f} | {c['mae']:.4f} |"
          for c in info["candidates"]],
        "",
        "## Limits",
        "",
        "- It predicts the mean outcome of one training run: the seed-to-seed noise of real training is not "
        "modelled, and architectures far from the random-search distribution are extrapolations.",
        "- Latency is this build machine's; parameters and FLOPs are predictions, not counts.",
        "- Only the default `layers` space is modelled; the env refuses other space arguments.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    """Entry point."""
    args = tyro.cli(Annotated[Collect, tyro.conf.subcommand("collect")] | Annotated[Fit, tyro.conf.subcommand("fit")])
    if isinstance(args, Collect):
        collect(args)
    else:
        fit(args)


if __name__ == "__main__":
    main()
