"""Check the suite's normalisation end to end: random search, through the env, scores 0 on every env.

Runs the project's ``random`` method on every env of a suite (default ``core``)
for ``--seeds`` seeds, exactly as ``nas-gym benchmark --suite`` does, and prints
per env the mean normalised score at each checkpoint with its 95 % interval
(percentile bootstrap over seeds). On an exhaustive table both ends of the
score are exact (random search's expected best in closed form, the table's
optimum), so the mean must be 0 within its interval; on an env with a stored
reference it is 0 up to the reference's own sampling error. Also prints what
the optimum itself scores (1 by construction)::

    python scripts/bench_suite_exactness.py --suite core --seeds 200 --budget 100 --out runs/exactness
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="core")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--out", default="runs/exactness")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)

    from nas_gym.benchmark import aggregate as agg
    from nas_gym.benchmark.suite_runner import run_suite

    start = time.perf_counter()
    result = run_suite(args.suite, ["random"], seeds=args.seeds, budget=args.budget, out_dir=args.out,
                       workers=args.workers)
    summary = result.summary
    print(f"\nrandom search, {args.seeds} seeds, {args.budget} evaluations, suite {args.suite} "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"{'env':<22} {'evals':>5} {'mean score':>11} {'95 % CI':>20} {'inside':>7}  reference")
    for task, runs in summary["runs"]["random"].items():
        ref = summary["references"][task]
        for k in summary["checkpoints"]:
            x = np.array([r["anytime"][str(k)] if str(k) in r["anytime"] else r["anytime"][k]
                          for r in runs.values()])
            point, low, high = agg.bootstrap_ci(x[:, None], agg.mean)
            kind = "exact" if ref["exact"] else "estimated"
            print(f"{task:<22} {k:>5} {point:>11.4f} {f'[{low:.4f}, {high:.4f}]':>20} "
                  f"{'yes' if low <= 0 <= high else 'NO':>7}  {kind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
