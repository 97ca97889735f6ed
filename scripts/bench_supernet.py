"""How well shared weights rank architectures, what weight-sharing searches cost, and where they end up.

Four parts (``--parts``, default all):

- ``rank``: Kendall τ and Spearman ρ between the ``supernet`` evaluator's
  scores (its ``"pretrained"`` mode: SPOS's uniform single-path supernet,
  the evaluator's defaults) and stand-alone scores, over ``--archs-nb201``
  distinct random cells on ``NAS-Bench-201-v0`` (``task="mnist1d"``;
  stand-alone = the embedded table's validation accuracy) and
  ``--archs-nasv0`` random architectures on ``NAS-v0`` (stand-alone = real
  training with ``NAS-v0``'s training evaluator); beside them the same for
  each path's negative validation loss (``SupernetEvaluator.loss``).
- ``cost``: search cost (``summary.json``'s ``search_cost_s``, the
  supernet's training and scoring) of each weight-sharing method at
  ``--budget`` on ``NAS-v0``, divided by the mean cost of one stand-alone
  evaluation measured in the ``rank`` part (or here, when ``rank`` is not
  run); the stand-alone top-k retraining is reported beside it.
- ``ceiling``: how much a second stand-alone training agrees with the
  table. The ``rank`` part's cells on ``NAS-Bench-201-v0`` are retrained
  with the table's own recipe (``scripts/build_table.py``'s defaults: one
  epoch of Adam) at each of ``--ceiling-seeds`` other training seeds, and
  τ/ρ of each retraining against the table are printed. One retraining
  carries its own seed noise as well as the table's, so the τ of the
  retrainings' mean is printed too: nearer, from below, what an estimator
  free of seed noise could reach. The supernet's τ against the mean of the
  table and the retrainings (a less noisy stand-alone reference) is printed
  beside it.
- ``percentile``: the table percentile (share of the 15,625 cells with
  lower validation accuracy in the embedded table) of each method's final
  architecture on ``NAS-Bench-201-v0``, over ``--seeds`` seeds, mean with a
  95% t-interval; ``summary.json``'s ``result`` (the best of the top-k
  retrained stand-alone) for ``enas``/``spos``/``rsps``, ``best`` for
  ``darts`` (trained on ``proxy_task="mnist1d"``; ``darts_pa`` is DARTS with
  ``select="path_accuracy"``, the selection-time remedy). ``--first-seed``
  moves the seeds (tune on others than the reported 0-9);
  ``--agent-kwargs`` sets the weight-sharing methods' hyperparameters. The
  searches of ``enas``/``spos``/``rsps`` share the supernet evaluator's seed
  (0), as ``nas-gym search --seed`` does, so their interval is the search's
  spread on one supernet; ``--vary-supernet`` seeds each search's supernet
  with the search's seed as well (DARTS's supernet always follows its run
  seed). A finished run's folder under ``--out`` is read, not rerun.

Run: ``.venv/bin/python scripts/bench_supernet.py`` (``--workers 2`` runs
two searches at once). Published anchors are printed beside ours.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NB201 = {"evaluator": "supernet", "task": "mnist1d", "latency_weight": 0}
#: The DARTS variants of --methods, by the agent kwargs they add.
DARTS_VARIANTS = {"darts": {}, "darts_pa": {"select": "path_accuracy"}}
NASV0 = {"evaluator": "supernet", "latency_weight": 0}
ANCHORS = (
    "Published anchors (NAS-Bench-201 paper, CIFAR-100 test accuracy): ENAS and DARTS collapse (15.61 %), "
    "RSPS 58.33 ± 4.34, GDAS 70.70 ± 0.30; weight-sharing rank correlations in the literature are often 0.3-0.6."
)


@dataclass
class RankSample:
    """What :func:`rank_correlation` scored: the architectures, their supernet and stand-alone scores, the env."""

    archs: list
    shared: np.ndarray
    truth: np.ndarray
    env: object


def rank_correlation(env_id: str, env_kwargs: dict, n: int, seed: int = 0) -> tuple[dict, RankSample]:
    """τ and ρ of pretrained-supernet scores against stand-alone ones over ``n`` distinct random architectures."""
    import gymnasium as gym

    import nas_gym  # noqa: F401
    from nas_gym.search.weight_sharing import standalone_evaluator

    kwargs = {**env_kwargs, "evaluator_kwargs": {**env_kwargs.get("evaluator_kwargs", {}), "mode": "pretrained"}}
    env = gym.make(env_id, **kwargs, cache=False)
    evaluator, space = env.unwrapped.evaluator, env.unwrapped.space
    start = time.perf_counter()
    evaluator.pretrain()
    pretrain_s = time.perf_counter() - start
    rng, seen, archs = np.random.default_rng(seed), set(), []
    while len(archs) < n:
        arch = space.sample(rng)
        if str(space.canonical(arch)) not in seen:
            seen.add(str(space.canonical(arch)))
            archs.append(arch)
    shared = np.array([evaluator.accuracy(a) for a in archs])
    neg_loss = -np.array([evaluator.loss(a) for a in archs])
    alone = standalone_evaluator(env.unwrapped.parts)
    costs, truth = [], []
    for arch in archs:
        m = alone.evaluate(arch)
        truth.append(m.val_accuracy)
        costs.append(m.cost_s)
    if env.unwrapped.parts.table is not None:  # a lookup's cost is the table's record of training the cell
        table = env.unwrapped.parts.table
        costs = [float(table.column("train_seconds")[table.lookup(a, canonical=True)]) for a in archs]
    truth = np.array(truth)
    figures = {"env_id": env_id, "n": n, **correlations(shared, truth),
               "by_loss": correlations(neg_loss, truth), "pretrain_s": pretrain_s,
               "standalone_cost_s": float(np.mean(costs)), "supernet_mean_accuracy": float(shared.mean())}
    return figures, RankSample(archs, shared, truth, env)


def correlations(a: np.ndarray, b: np.ndarray) -> dict:
    """Kendall τ and Spearman ρ of two score vectors."""
    from scipy import stats

    return {"kendall_tau": float(stats.kendalltau(a, b)[0]), "spearman_rho": float(stats.spearmanr(a, b)[0])}


def seed_ceiling(sample: RankSample, seeds: list[int], workers: int) -> dict:
    """τ/ρ against the table of retraining ``sample``'s cells with the table's recipe at other ``seeds``.

    The embedded table trained each class once, with seed 0. A second training
    of the same cells differs by the seed alone, so its τ with the table is what
    the table's own noise leaves for any estimator. The cells are trained as the
    table's rows were: their canonical representatives.
    """
    import dataclasses

    sys.path.insert(0, str(ROOT / "scripts"))
    import build_table

    space = sample.env.unwrapped.space
    cells = [tuple(space.canonical(a).indices) for a in sample.archs]
    start = time.perf_counter()
    retrained, rows = [], []
    for s in seeds:
        recipe = dataclasses.replace(build_table.Args(), seed=s, workers=workers)
        acc = np.array([r["val_accuracy"] for r in build_table.train_cells(recipe, cells)])
        retrained.append(acc)
        rows.append({"seed": s, **correlations(acc, sample.truth)})
    mean = np.mean([sample.truth, *retrained], axis=0)
    # The mean of the retrainings has less seed noise than any one of them, so its τ with the table is
    # nearer what a noise-free estimator of the recipe's expected accuracy would reach (a lower bound on it).
    return {"n": len(cells), "seeds": rows, "supernet_vs_table": correlations(sample.shared, sample.truth),
            "retrainings_mean_vs_table": correlations(np.mean(retrained, axis=0), sample.truth),
            "supernet_vs_mean": correlations(sample.shared, mean), "train_s": time.perf_counter() - start}


def one_search(agent: str, env_id: str, env_kwargs: dict, budget: int, seed: int, out: Path,
               agent_kwargs: dict | None = None) -> dict:
    """Run one search (or read the finished run's summary) and return its summary."""
    from nas_gym.search.searcher import run_search

    summary_path = out / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    return run_search(agent, env_id, env_kwargs, budget=budget, seed=seed, out_dir=out, agent_kwargs=agent_kwargs)


def _search_job(job: tuple) -> dict:
    import torch

    torch.set_num_threads(1)
    return one_search(*job)


def table_percentiles() -> tuple[np.ndarray, object]:
    """The embedded table's validation accuracies, sorted, and the table."""
    import gymnasium as gym

    import nas_gym  # noqa: F401

    table = gym.make("NAS-Bench-201-v0", latency_weight=0).unwrapped.parts.table
    return np.sort(table.column(table.roles["val"]).astype(float)), table


def percentile_of(sorted_vals: np.ndarray, value: float) -> float:
    """Share (%) of the table's cells with a lower validation accuracy than ``value``."""
    return 100.0 * np.searchsorted(sorted_vals, value, side="left") / len(sorted_vals)


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def main(argv: list[str] | None = None) -> None:
    """Print the figures (and write them as JSON to ``--out``/bench_supernet.json)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", default=["rank", "ceiling", "cost", "percentile"],
                   choices=["rank", "ceiling", "cost", "percentile"])
    p.add_argument("--ceiling-seeds", nargs="+", type=int, default=[1, 2],
                   help="training seeds of the ceiling part's retrainings (the table's own is 0)")
    p.add_argument("--archs-nb201", type=int, default=200)
    p.add_argument("--archs-nasv0", type=int, default=40)
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0,
                   help="the percentile part runs seeds first-seed … first-seed + seeds - 1 (tune away from 0-9)")
    p.add_argument("--methods", nargs="+", default=["spos", "rsps", "enas", "darts", "darts_pa"])
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_supernet")
    p.add_argument("--evaluator-kwargs", type=json.loads, default={},
                   help="JSON settings of the supernet evaluator, e.g. '{\"pretrain_epochs\": 1}' (default: its own)")
    p.add_argument("--agent-kwargs", type=json.loads, default={},
                   help="JSON hyperparameters of the weight-sharing methods (not DARTS), e.g. "
                        "'{\"mutation_prob\": 0.2}' for spos (default: their own)")
    p.add_argument("--darts-epochs", type=int, default=None,
                   help="DARTS's supernet epochs (default: its own); the docs shrink it with ${EPOCHS}")
    p.add_argument("--vary-supernet", action="store_true",
                   help="percentile part: seed each search's supernet with the search's seed (evaluator_kwargs "
                        "seed); by default every search shares the evaluator's own seed, as `nas-gym search --seed` "
                        "does, so the interval leaves out the supernet's own variance")
    args = p.parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.seeds)

    def pct_run(m: str, s: int) -> str:
        """The percentile run's folder name; finished folders are read, and a run with its own supernet seed
        is another run than one without (DARTS's supernet follows its run seed either way)."""
        vs = args.vary_supernet and m not in DARTS_VARIANTS
        return f"nb201-{'vs-' if vs else ''}{m}-{s}"

    agent_kwargs = args.agent_kwargs or None
    darts_epochs = {} if args.darts_epochs is None else {"epochs": args.darts_epochs}
    extra = {"evaluator_kwargs": args.evaluator_kwargs} if args.evaluator_kwargs else {}
    nb201, nasv0 = {**NB201, **extra}, {**NASV0, **extra}
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    start = time.perf_counter()
    print(ANCHORS)
    table_sample = None
    if "rank" in args.parts:
        (on_table, table_sample), (on_nasv0, _) = (rank_correlation("NAS-Bench-201-v0", nb201, args.archs_nb201),
                                                   rank_correlation("NAS-v0", nasv0, args.archs_nasv0))
        results["rank"] = [on_table, on_nasv0]
        print("\n| env | architectures | Kendall τ | Spearman ρ | τ by val loss | ρ by val loss | "
              "supernet pretraining s | one stand-alone s |")
        print("|---|---|---|---|---|---|---|---|")
        for r in results["rank"]:
            print(f"| {r['env_id']} | {r['n']} | {r['kendall_tau']:.3f} | {r['spearman_rho']:.3f} | "
                  f"{r['by_loss']['kendall_tau']:.3f} | {r['by_loss']['spearman_rho']:.3f} | "
                  f"{r['pretrain_s']:.1f} | {r['standalone_cost_s']:.2f} |")
    if "ceiling" in args.parts:
        if table_sample is None:
            table_sample = rank_correlation("NAS-Bench-201-v0", nb201, args.archs_nb201)[1]
        c = results["ceiling"] = seed_ceiling(table_sample, args.ceiling_seeds, args.workers)
        print(f"\nThe table's own noise: the same {c['n']} cells retrained with the table's recipe at other "
              f"training seeds ({c['train_s']:.0f} s), against the table (training seed 0):")
        print("| against the table | Kendall τ | Spearman ρ |")
        print("|---|---|---|")
        for r in c["seeds"]:
            print(f"| stand-alone, training seed {r['seed']} | {r['kendall_tau']:.3f} | {r['spearman_rho']:.3f} |")
        for name, key in ((f"mean of the retrainings ({len(c['seeds'])})", "retrainings_mean_vs_table"),
                          ("supernet", "supernet_vs_table"),
                          ("supernet, against the mean of the table and the retrainings", "supernet_vs_mean")):
            print(f"| {name} | {c[key]['kendall_tau']:.3f} | {c[key]['spearman_rho']:.3f} |")
    jobs = []
    if "cost" in args.parts:
        for m in args.methods:
            if m in DARTS_VARIANTS:
                jobs.append(("darts", "NAS-v0", {"latency_weight": 0}, 1, 0, args.out / f"nasv0-{m}-0",
                             {**DARTS_VARIANTS[m], **darts_epochs}))
            else:
                jobs.append((m, "NAS-v0", nasv0, args.budget, 0, args.out / f"nasv0-{m}-0", agent_kwargs))
    if "percentile" in args.parts:
        for m in args.methods:
            for s in seeds:
                if m in DARTS_VARIANTS:
                    jobs.append(("darts", "NAS-Bench-201-v0", {"latency_weight": 0}, 1, s,
                                 args.out / pct_run(m, s),
                                 {"proxy_task": "mnist1d", **DARTS_VARIANTS[m], **darts_epochs}))
                else:
                    kwargs = nb201
                    if args.vary_supernet:
                        kwargs = {**nb201, "evaluator_kwargs": {**nb201.get("evaluator_kwargs", {}), "seed": s}}
                    jobs.append((m, "NAS-Bench-201-v0", kwargs, args.budget, s, args.out / pct_run(m, s),
                                 agent_kwargs))
    with ProcessPoolExecutor(args.workers) as pool:
        summaries = list(pool.map(_search_job, jobs))
    done = {str(job[5].name): s for job, s in zip(jobs, summaries, strict=True)}
    if "cost" in args.parts:
        unit = next((r["standalone_cost_s"] for r in results.get("rank", []) if r["env_id"] == "NAS-v0"), None)
        if unit is None:
            unit = rank_correlation("NAS-v0", nasv0, 10)[0]["standalone_cost_s"]
        print(f"\nSearch cost on NAS-v0 (budget {args.budget}; DARTS: its supernet search and 1 derived "
              f"architecture), in units of one stand-alone evaluation ({unit:.2f} s):")
        print("| method | search cost s | ÷ one stand-alone | top-k retraining s | ÷ one stand-alone |")
        print("|---|---|---|---|---|")
        results["cost"] = {}
        for m in args.methods:
            s = done[f"nasv0-{m}-0"]
            retrain = (s.get("standalone") or {}).get("cost_s", 0.0)
            results["cost"][m] = {"search_cost_s": s["search_cost_s"], "retrain_s": retrain, "unit_s": unit}
            print(f"| {m} | {s['search_cost_s']:.1f} | {s['search_cost_s'] / unit:.1f} | {retrain:.1f} | "
                  f"{retrain / unit:.1f} |")
    if "percentile" in args.parts:
        vals, _ = table_percentiles()
        print(f"\nFinal architecture on NAS-Bench-201-v0 (embedded MNIST-1D table), seeds {seeds[0]}-{seeds[-1]}, "
              f"{'each with its own supernet seed' if args.vary_supernet else 'one supernet seed'}, mean ± 95% CI:")
        print("| method | table percentile (val) | val accuracy % | test accuracy % | in top 10 % |")
        print("|---|---|---|---|---|")
        results["percentile"] = {}
        for m in args.methods:
            finals = [done[pct_run(m, s)].get("result") or done[pct_run(m, s)]["best"]
                      for s in seeds]
            pct = [percentile_of(vals, f["val_accuracy"]) for f in finals]
            (pm, pc), (vm, vc), (tm, tc) = (mean_ci(x) for x in (
                pct, [100 * f["val_accuracy"] for f in finals], [100 * f["test_accuracy"] for f in finals]))
            results["percentile"][m] = {"percentiles": pct, "archs": [f["arch"] for f in finals]}
            print(f"| {m} | {pm:.1f} ± {pc:.1f} | {vm:.2f} ± {vc:.2f} | {tm:.2f} ± {tc:.2f} | "
                  f"{sum(x >= 90 for x in pct)}/{len(pct)} |")
    results["wall_s"] = time.perf_counter() - start
    (args.out / "bench_supernet.json").write_text(json.dumps(results, indent=2))
    print(f"\nwall {results['wall_s']:.0f} s; figures in {args.out / 'bench_supernet.json'}")


if __name__ == "__main__":
    main()
