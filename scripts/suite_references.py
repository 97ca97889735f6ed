"""Build the stored reference of a suite env whose optimum no table gives (``"reference": {"file": ...}``).

The normalised score's two ends (see ``nas_gym/benchmark/scores.py``):

- random search's expected best after k evaluations, estimated by the closed
  form over a sample of random-search rewards (``--random`` draws of the
  project's own ``random`` method, through the env, seed ``--seed``);
- the optimum, estimated as the best reward that long searches found
  (``--searchers``, each ``--search-budget`` evaluations at ``--search-seeds``
  seeds), or the random sample, whichever is higher.

The file records both, how they were made and this command, so that a suite's
numbers can be rebuilt::

    python scripts/suite_references.py --suite core --task surrogate \\
        --random 5000 --searchers evolution,local_search --search-budget 2000 --search-seeds 3
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="core", help="suite name or file (default: core)")
    parser.add_argument("--task", required=True, help="the suite's task to build the reference of")
    parser.add_argument("--random", type=int, default=5000, help="random-search draws (default: 5000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random sample (default: 0)")
    parser.add_argument("--searchers", default="evolution,local_search",
                        help="methods whose best rewards estimate the optimum (default: evolution,local_search)")
    parser.add_argument("--search-budget", type=int, default=2000, help="evaluations per search (default: 2000)")
    parser.add_argument("--search-seeds", type=int, default=3, help="seeds per searcher (default: 3)")
    parser.add_argument("--out", default=None, help="file to write (default: the task's reference file)")
    args = parser.parse_args(argv)

    import nas_gym  # noqa: F401  (registers the envs)
    from nas_gym.benchmark.suites import load_suite
    from nas_gym.search.folder import RunFolder
    from nas_gym.search.searcher import run_search

    suite = load_suite(args.suite)
    task = suite.task(args.task)
    if task.reference == "table":
        parser.error(f"{task.name} is scored exactly from its table; it needs no stored reference.")
    out = Path(args.out) if args.out else suite.folder / task.reference["file"]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_search("random", task.env_id, task.env_kwargs, budget=args.random, seed=args.seed,
                   out_dir=f"{tmp}/random", progress=True)
        rewards = [r["reward"] for r in RunFolder(f"{tmp}/random").read_history()]
        best = {"reward": max(rewards), "arch": None, "by": f"random seed {args.seed}"}
        for agent in [a for a in args.searchers.split(",") if a]:
            for seed in range(args.search_seeds):
                folder = f"{tmp}/{agent}{seed}"
                run_search(agent, task.env_id, task.env_kwargs, budget=args.search_budget, seed=seed,
                           out_dir=folder, progress=True)
                for r in RunFolder(folder).read_history():
                    if r["reward"] > best["reward"]:
                        best = {"reward": r["reward"], "arch": r["arch"], "by": f"{agent} seed {seed}"}
                print(f"{agent} seed {seed}: best so far {best['reward']:.5f} ({best['by']})", flush=True)
    data = {
        "task": task.name, "env_id": task.env_id, "env_kwargs": task.env_kwargs,
        "optimum": best["reward"], "optimum_arch": best["arch"],
        "optimum_source": (f"the best reward of {args.random} random draws and of {args.searchers} at "
                           f"{args.search_budget} evaluations x {args.search_seeds} seeds (found by {best['by']})"),
        "random_source": f"{len(rewards)} rewards of the random method, seed {args.seed}",
        "command": "python scripts/suite_references.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "wall_s": round(time.perf_counter() - start, 1),
        "random_rewards": [round(float(r), 6) for r in rewards],
    }
    out.write_text(json.dumps(data, indent=1) + "\n")
    rewards_arr = np.asarray(rewards)
    print(f"wrote {out}: optimum {best['reward']:.5f}, random mean {rewards_arr.mean():.5f}, "
          f"max of sample {rewards_arr.max():.5f}, {data['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
