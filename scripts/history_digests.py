"""Digests of search histories, to show that a change of the code left behaviour unchanged.

Runs every method through ``nas_gym.search.run_search`` on NAS-Bench-201-v0 with
the packaged CIFAR-100 table (budget 100, seeds 0-2, 1 and 2
workers) and random search on NAS-v0 (budget 6, fresh cache), and prints one
SHA-256 per run over its ``history.jsonl`` with the timing fields left out.
Run it before and after a change and compare (``--save``/``--compare``)::

    .venv/bin/python scripts/history_digests.py --save /tmp/before.json
    .venv/bin/python scripts/history_digests.py --compare /tmp/before.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tyro

from nas_gym.data import NB201_DATASETS

ROOT = Path(__file__).resolve().parents[1]
C100 = NB201_DATASETS["cifar100"].path
#: Left out of every digest: the timing field, and keys histories gained since the baselines
#: (hard limits, epochs trained).
UNPINNED = ("cost_s", "feasible", "constraint_violation", "epochs_trained")
#: NAS-v0 measures latency on this host, so its latency and the rewards built from it are timings too.
MEASURED_FIELDS = (*UNPINNED, "latency_ms", "reward", "best_reward")
METHODS = ("random", "evolution", "reinforce", "ppo", "tpe", "grid", "darts")


def c100_kwargs(table: Path = C100) -> dict:
    """Env kwargs of the CIFAR-100 benchmark setting the README reports."""
    return {"table": str(table), "val_column": "c100_valid", "test_column": "c100_test", "latency_weight": 0}


def agent_kwargs(agent: str) -> dict:
    """DARTS trains a supernet on a proxy task on table envs; the others take their defaults."""
    return {"proxy_task": "mnist1d", "epochs": 2} if agent == "darts" else {}


@dataclass
class Args:
    methods: tuple[str, ...] = METHODS
    """Methods to run on the CIFAR-100 table."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of each method."""
    workers: tuple[int, ...] = (1, 2)
    """Worker counts (histories must not depend on the code, for each)."""
    budget: int = 100
    """Evaluations per table run."""
    nas_v0: bool = True
    """Also random search on NAS-v0 (budget 6, real training, fresh cache)."""
    save: str | None = None
    """Write the digests to this JSON file."""
    compare: str | None = None
    """Compare with digests saved earlier; exit 1 on any difference."""


def main(args: Args) -> int:
    from nas_gym.search.folder import RunFolder
    from nas_gym.search.searcher import run_search

    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NAS_GYM_CACHE_DIR"] = str(Path(tmp) / "cache")
        if C100.exists():
            for workers in args.workers:
                for agent in args.methods:
                    for seed in args.seeds:
                        out = Path(tmp) / f"{agent}_{seed}_{workers}"
                        run_search(agent, "NAS-Bench-201-v0", c100_kwargs(), budget=args.budget, seed=seed,
                                   out_dir=out, agent_kwargs=agent_kwargs(agent), workers=workers)
                        name = f"nb201_c100/{agent}/seed{seed}/workers{workers}"
                        digests[name] = RunFolder(out).history_digest(UNPINNED)
                        print(name, digests[name][:16], flush=True)
        else:
            print(f"{C100} is absent: table runs skipped", file=sys.stderr)
        if args.nas_v0:
            out = Path(tmp) / "nas_v0_random"
            run_search("random", "NAS-v0", {}, budget=6, seed=0, out_dir=out)
            digests["nas_v0/random/seed0"] = RunFolder(out).history_digest(MEASURED_FIELDS)
            print("nas_v0/random/seed0", digests["nas_v0/random/seed0"][:16])
    if args.save:
        Path(args.save).write_text(json.dumps(digests, indent=1, sort_keys=True))
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        differ = sorted(k for k in digests if k in before and before[k] != digests[k])
        missing = sorted(set(before) - set(digests))
        print(f"{len(digests) - len(differ)} of {len(digests)} histories equal; "
              f"differ: {differ or 'none'}; {len(missing)} saved ones not run now")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(tyro.cli(Args)))
