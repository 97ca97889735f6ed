"""Performance predictors on NAS-Bench-201: Kendall τ on held-out architectures against the training-set size.

For each table (the embedded MNIST-1D table of ``NAS-Bench-201-v0``, and the
CIFAR-100 columns of the packaged NAS-Bench-201 CIFAR table,
``nas_gym/data/nb201_cifar.csv.gz``), each predictor and encoding, each training-set size and each seed:
fit on that many architectures drawn uniformly from the table's rows, predict
``--test-size`` other rows and take Kendall's τ between the predicted and the
true validation accuracy (``scipy.stats.kendalltau``, τ-b). Prints one
markdown table per data set: mean ± standard deviation over seeds, and the
mean fit time.

No published figures are printed beside these: White et al.'s ("How Powerful
are Performance Predictors in NAS?", NeurIPS 2021) results are plots, and no
table of their numbers could be checked here.

Run: ``.venv/bin/python scripts/bench_predictors.py`` (``--help`` for options).
"""

from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import tyro

from nas_gym.data import NB201_DATASETS

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    cifar_table: Path = NB201_DATASETS["cifar100"].path
    """NAS-Bench-201 CSV with arch_str and c100_valid columns; skipped when absent."""
    predictors: list[str] = field(default_factory=lambda: ["mlp_ensemble", "gbdt"])
    """Predictor names (nas_gym.predictors.PREDICTORS)."""
    encodings: list[str] = field(default_factory=lambda: ["path", "onehot"])
    """Encodings to compare."""
    sizes: list[int] = field(default_factory=lambda: [20, 50, 100, 200, 500])
    """Training-set sizes."""
    seeds: int = 3
    """Draws of training and test sets (and predictor seeds) per cell."""
    test_size: int = 1000
    """Held-out architectures per draw."""


def _tables(args: Args) -> list[tuple[str, object, str]]:
    """(title, table, validation column) for each data set present."""
    import gymnasium as gym

    import nas_gym  # noqa: F401  (registers the envs)
    from nas_gym.evaluators.table import TabularBenchmark
    from nas_gym.spaces import NB201Space

    warnings.filterwarnings("ignore", message=".*is out of date.*")
    env = gym.make("NAS-Bench-201-v0")
    embedded = env.unwrapped.parts.table
    env.close()
    out = [(f"embedded table ({embedded.path.name}, val_accuracy)", embedded, embedded.roles["val"])]
    if args.cifar_table.is_file():
        cifar = TabularBenchmark.load(args.cifar_table, space=NB201Space(), val_column="c100_valid")
        out.append((f"CIFAR-100 ({args.cifar_table.name}, c100_valid)", cifar, "c100_valid"))
    else:
        print(f"{args.cifar_table} is absent: CIFAR-100 skipped.\n")
    return out


def main(args: Args) -> None:
    import numpy as np
    from scipy.stats import kendalltau

    from nas_gym.predictors import make_predictor

    for title, table, column in _tables(args):
        val = table.column(column)
        archs = [table.arch_at(i) for i in range(len(table))]
        print(f"### {title}: Kendall τ on {args.test_size} held-out architectures, mean ± sd over {args.seeds} seeds\n")
        print("| predictor | encoding | " + " | ".join(f"n={n}" for n in args.sizes) + " | fit s (largest n) |")
        print("|---|---|" + "---|" * len(args.sizes) + "---|")
        for name in args.predictors:
            for encoding in args.encodings:
                cells, fit_s = [], 0.0
                for n in args.sizes:
                    taus = []
                    for seed in range(args.seeds):
                        rows = np.random.default_rng(seed).permutation(len(table))
                        train, test = rows[:n], rows[n:n + args.test_size]
                        start = time.perf_counter()
                        predictor = make_predictor(name, table.space, seed=seed, encoding=encoding)
                        predictor.fit([archs[i] for i in train], val[train])
                        fit_s = time.perf_counter() - start
                        mean, _ = predictor.predict([archs[i] for i in test])
                        taus.append(float(kendalltau(mean, val[test])[0]))
                    sd = statistics.stdev(taus) if len(taus) > 1 else 0.0
                    cells.append(f"{statistics.fmean(taus):.3f} ± {sd:.3f}")
                print(f"| {name} | {encoding} | " + " | ".join(cells) + f" | {fit_s:.2f} |", flush=True)
        print()


if __name__ == "__main__":
    main(tyro.cli(Args))
