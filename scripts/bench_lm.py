"""The figures of the language-model env ``NAS-LM-v0`` (docs/lm.md prints them with these commands).

Parts (``--parts``, default all but ``train``):

- ``cost``: seconds per default evaluation of ``NAS-LM-v0`` on one core (its
  250 AdamW steps, over ``--cost-archs`` random architectures plus the
  baseline), and the baseline's validation/test bpc. The baseline is the
  uniform hand-designed network ``w64|h2-r4-gelu|h2-r4-gelu`` (2 layers,
  width 64, 2 heads, ratio 4, GELU).
- ``rank``: Kendall τ and Spearman ρ against stand-alone training over
  ``--archs`` distinct random architectures. Stand-alone is the env's own
  training (250 steps) at seeds 0 and 1; the reference is the mean of the two
  seeds' validation bpc, and the τ between seed 0 and seed 1 is the ceiling
  (what one noisy training agrees with another). Scored against it: every
  zero-cost proxy that runs on the space (``decoder_params`` is
  LiteTransformerSearch's), and the supernet evaluator (pretrained with its
  defaults; its score is the path's validation bpc under the shared weights).
  Stand-alone results are kept in ``OUT/standalone.json``, so a second call
  trains only what is missing.
- ``sweep``: the best validation bpc each method found over its seeds at
  ``--budget`` evaluations (mean and a 95 % bootstrap interval over seeds),
  read from ``nas-gym benchmark`` folders (``--sweep``); and the Pareto
  front (validation bpc against latency) of the multi-objective runs
  (``--pareto``) against the baseline (``OUT/pareto.png``).

Run: ``.venv/bin/python scripts/bench_lm.py --parts cost rank`` (about half an hour
on one core at the defaults; ``--archs 8`` for a quick look).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import tyro

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE = "w64|h2-r4-gelu|h2-r4-gelu"
# Every proxy of nas_gym.predictors.zero_cost that scores a transformer (naswot refuses it).
PROXIES = ("decoder_params", "params", "flops", "synflow", "grad_norm", "snip", "fisher", "zico")


@dataclass
class Args:
    parts: list[Literal["cost", "rank", "sweep"]] = field(default_factory=lambda: ["cost", "rank", "sweep"])
    """Which figures to compute."""
    archs: int = 50
    """Random architectures in the ranking (distinct)."""
    arch_seed: int = 0
    """Seed of the ranking's architectures."""
    cost_archs: int = 10
    """Random architectures timed in the cost part (besides the baseline)."""
    supernets: list[str] = field(default_factory=lambda: ["{}"])
    """Supernet evaluator settings beside its defaults, one row each (JSON, e.g. '{"pretrain_steps": 800}');
    tune them on another --arch-seed than the one reported."""
    fidelities: list[int] = field(default_factory=lambda: [1, 3])
    """Low fidelities (rounds of 25 steps) whose stand-alone scores are ranked too (seed 0)."""
    sweep: list[Path] = field(default_factory=list)
    """nas-gym benchmark folders on NAS-LM-v0 or MO-NAS-LM-v0 (seeds at 50 evaluations), read together."""
    pareto: Path | None = None
    """A nas-gym benchmark folder on MO-NAS-LM-v0 (nsga2, mo_evolution)."""
    out: Path = ROOT / "runs" / "bench_lm"
    """Where stand-alone results and figures go."""


def lm_env(**kwargs):
    import gymnasium as gym

    import nas_gym  # noqa: F401  (registers the env ids)

    return gym.make("NAS-LM-v0", **{"cache": False, **kwargs})


def default_training() -> dict:
    import gymnasium as gym

    import nas_gym  # noqa: F401

    return dict(gym.spec("NAS-LM-v0").kwargs["evaluator_kwargs"])


def random_archs(space, n: int, seed: int) -> list:
    """``n`` distinct random architectures (uniform over each decision, as random search draws)."""
    rng, seen, archs = np.random.default_rng(seed), set(), []
    while len(archs) < n:
        arch = space.canonical(space.sample(rng))
        if str(arch) not in seen:
            seen.add(str(arch))
            archs.append(arch)
    return archs


def correlations(a, b) -> dict:
    """Kendall τ and Spearman ρ of two score vectors (higher is better in both)."""
    from scipy import stats

    return {"tau": float(stats.kendalltau(a, b)[0]), "rho": float(stats.spearmanr(a, b)[0])}


def standalone(archs: list, seeds: list[int], out: Path) -> dict[tuple[str, int], dict]:
    """Train each architecture alone at each seed with the env's own settings (kept in ``out``).

    ``cost_s`` is what the training cost when it was made (a cache hit keeps it).
    """
    from tqdm import tqdm

    path = out / "standalone.json"
    done = {(r["arch"], r["seed"]): r for r in json.loads(path.read_text())} if path.exists() else {}
    todo = [(a, s) for s in seeds for a in archs if (str(a), s) not in done]
    evaluators = {}
    for arch, seed in tqdm(todo, desc="stand-alone training", disable=not todo):
        if seed not in evaluators:
            # Through the evaluation cache: seed 0 is NAS-LM-v0's own evaluation, which searches may have made.
            env = lm_env(evaluator_kwargs={**default_training(), "seed": seed}, latency="none", cache=True)
            evaluators[seed] = env.unwrapped.evaluator
        m = evaluators[seed].evaluate(arch)
        done[(str(arch), seed)] = {"arch": str(arch), "seed": seed, "val_bpc": m.extra["val_bpc"],
                                   "val_accuracy": m.val_accuracy, "cost_s": m.cost_s, "params": m.params}
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(list(done.values()), indent=1))
    return done


def part_cost(args: Args) -> None:
    env = lm_env(latency="none")
    space, evaluator = env.unwrapped.space, env.unwrapped.parts.evaluator
    base = evaluator.evaluate(space.from_string(BASELINE))
    costs = [evaluator.evaluate(a).cost_s for a in random_archs(space, args.cost_archs, seed=1000)]
    print(f"## cost: one default evaluation of NAS-LM-v0 ({default_training()}) on one core")
    print(f"random architectures (n={len(costs)}): mean {np.mean(costs):.2f} s, median {np.median(costs):.2f} s, "
          f"max {np.max(costs):.2f} s")
    print(f"baseline {BASELINE}: {base.cost_s:.2f} s, val bpc {base.extra['val_bpc']:.3f}, test bpc "
          f"{base.extra['test_bpc']:.3f}, val accuracy {base.val_accuracy:.3f}, {base.params} parameters")


def part_rank(args: Args) -> None:
    env = lm_env(latency="none")
    space = env.unwrapped.space
    archs = random_archs(space, args.archs, args.arch_seed)
    start = time.perf_counter()
    alone = standalone(archs, [0, 1], args.out)
    bpc = {s: np.array([alone[(str(a), s)]["val_bpc"] for a in archs]) for s in (0, 1)}
    truth = -(bpc[0] + bpc[1]) / 2  # higher is better
    ceiling = correlations(-bpc[0], -bpc[1])
    print(f"## rank: {len(archs)} random architectures (seed {args.arch_seed}); stand-alone = mean val bpc of "
          f"seeds 0 and 1 ({time.perf_counter() - start:.0f} s of training this call)")
    print("| estimator | Kendall τ | Spearman ρ | τ / ceiling | seconds |")
    print("|---|---|---|---|---|")
    print(f"| seed 0 vs seed 1 (ceiling) | {ceiling['tau']:.3f} | {ceiling['rho']:.3f} | 1 | |")
    for proxy in PROXIES:
        penv = lm_env(evaluator="zero_cost", evaluator_kwargs={"proxy": proxy}, latency="none")
        t0 = time.perf_counter()
        scores = [penv.unwrapped.parts.evaluator.evaluate(a).extra["zero_cost_score"] for a in archs]
        c = correlations(scores, truth)
        print(f"| {proxy} | {c['tau']:.3f} | {c['rho']:.3f} | {c['tau'] / ceiling['tau']:.2f} | "
              f"{time.perf_counter() - t0:.1f} |")
    # Two rules of thumb read off the strings, to show what the 250-step ranking rewards.
    layers = [space.layers(a) for a in archs]
    for name, rule in (("fewer layers (−depth)", [-len(ls) for ls in layers]),
                       ("fewer attention layers", [-sum(1 for layer in ls if layer["heads"]) for ls in layers])):
        c = correlations(rule, truth)
        print(f"| rule of thumb: {name} | {c['tau']:.3f} | {c['rho']:.3f} | {c['tau'] / ceiling['tau']:.2f} | 0 |")
    if args.fidelities:
        # Seed 0's training cut short: each architecture's rounds continue from its lower fidelity's checkpoint.
        low = lm_env(latency="none").unwrapped.parts.evaluator.evaluator  # the training evaluator, uncached
        t0 = time.perf_counter()
        scores = {e: [] for e in sorted(args.fidelities)}
        for arch in archs:
            for e in scores:
                scores[e].append(-low.evaluate_at(arch, e).extra["val_bpc"])
        for e, s in scores.items():
            # Seed 0 is half of the reference: against seed 1 alone it is a fair match for the ceiling.
            c, other = correlations(s, truth), correlations(s, -bpc[1])
            print(f"| stand-alone, first {low.round_steps(e)} of {low.steps} steps (fidelity {e}, seed 0; τ against "
                  f"seed 1 alone {other['tau']:.3f}) | {c['tau']:.3f} | {c['rho']:.3f} | "
                  f"{c['tau'] / ceiling['tau']:.2f} | {time.perf_counter() - t0:.0f} (all) |")
    for text in args.supernets:
        extra = json.loads(text)
        senv = lm_env(evaluator="supernet", evaluator_kwargs={"mode": "pretrained", **extra}, latency="none")
        ev = senv.unwrapped.parts.evaluator
        t0 = time.perf_counter()
        ev.pretrain()
        pretrain_s = time.perf_counter() - t0
        shared = [-ev.evaluate(a).extra["val_bpc"] for a in archs]
        c = correlations(shared, truth)
        print(f"| supernet {extra or '(defaults)'} | {c['tau']:.3f} | {c['rho']:.3f} | "
              f"{c['tau'] / ceiling['tau']:.2f} | {pretrain_s:.0f} (pretraining) |")
    cost = np.mean([r["cost_s"] for r in alone.values()])
    print(f"stand-alone training: {cost:.2f} s per architecture and seed (mean)")


def main(args: Args) -> None:
    import torch

    torch.set_num_threads(1)
    for part in args.parts:
        {"cost": part_cost, "rank": part_rank, "sweep": part_sweep}[part](args)


def read_runs(folder: Path) -> dict[str, list[tuple[Path, dict | None, list[dict]]]]:
    """Each method's runs in a ``nas-gym benchmark`` folder: (run folder, summary or None, history records)."""
    runs: dict[str, list] = {}
    for history in sorted(folder.glob("**/seed*/history.jsonl")):
        run = history.parent
        summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else None
        records = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
        runs.setdefault(run.parent.name, []).append((run, summary, records))
    return runs


def baseline_point() -> dict:
    """The baseline's final info on NAS-LM-v0 (through the evaluation cache; latency measured on this host)."""
    import gymnasium as gym

    import nas_gym  # noqa: F401

    env = gym.make("NAS-LM-v0")
    env.reset(seed=0)
    for action in env.unwrapped.space.from_string(BASELINE).indices:
        info = env.step(action)[4]
    return info


def part_sweep(args: Args) -> None:
    from nas_gym.benchmark.statistics import interval
    from nas_gym.search.summary import ranked_results

    base = baseline_point()
    print(f"baseline {BASELINE}: val bpc {base['val_bpc']:.3f}, {base['latency_ms']:.3f} ms per token")
    if args.sweep:
        runs: dict[str, list] = {}
        for folder in args.sweep:
            for method, found in read_runs(folder).items():
                runs.setdefault(method, []).extend(found)
        print(f"## sweep: {', '.join(map(str, args.sweep))}; best validation bpc per run (stand-alone, full "
              "budget), mean over seeds [95 % bootstrap interval]")
        print("| method | seeds | evaluations | best val bpc | its test bpc |")
        print("|---|---|---|---|---|")
        for method, found in sorted(runs.items()):
            best, test, evals = [], [], []
            for run, summary, records in found:
                if summary is None:
                    continue  # unfinished
                top = min((r for r in ranked_results(summary, records, run) if r.get("val_bpc") is not None),
                          key=lambda r: r["val_bpc"])
                best.append(top["val_bpc"])
                test.append(top["test_bpc"])
                evals.append(summary["num_evaluated"])
            if not best:
                continue
            b, t = interval(best), interval(test)
            ci = f"[{b['low']:.3f}, {b['high']:.3f}]" if len(best) > 1 else ""
            print(f"| {method} | {len(best)} | {int(np.mean(evals))} | {b['mean']:.3f} {ci} | {t['mean']:.3f} |")
    if args.pareto is not None:
        part_pareto(args, base)


def front(points: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both columns (both minimised), by the first column."""
    keep = [i for i, p in enumerate(points)
            if not any((q <= p).all() and (q < p).any() for q in points)]
    return np.array(sorted(keep, key=lambda i: tuple(points[i])), dtype=int)


def part_pareto(args: Args, base: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    print(f"## Pareto fronts (validation bpc, latency ms per token): {args.pareto}")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for (method, runs), colour in zip(sorted(read_runs(args.pareto).items()), ("C0", "C1", "C2", "C3"), strict=False):
        for run, _summary, records in runs:
            rows = [r for r in records if r.get("val_bpc") is not None and r.get("latency_ms") is not None]
            pts = np.array([[r["val_bpc"], r["latency_ms"]] for r in rows])
            idx = front(pts)
            better = [rows[i] for i in idx if pts[i, 0] < base["val_bpc"] and pts[i, 1] < base["latency_ms"]]
            print(f"{method} {run.name}: {len(rows)} evaluations, front of {len(idx)}; "
                  f"{len(better)} on the front both lower in bpc and faster than the baseline")
            for r in better:
                print(f"  {r['arch']}: val bpc {r['val_bpc']:.3f}, {r['latency_ms']:.3f} ms")
            ax.scatter(pts[:, 1], pts[:, 0], s=8, color=colour, alpha=0.25)
            ax.plot(pts[idx, 1], pts[idx, 0], "-o", ms=4, color=colour, label=f"{method} front ({run.name})")
    ax.scatter([base["latency_ms"]], [base["val_bpc"]], marker="*", s=180, color="k", zorder=5,
               label=f"baseline {BASELINE}")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms per generated token, this host)")
    ax.set_ylabel("validation bits per character (lower is better)")
    ax.set_title("MO-NAS-LM-v0: every evaluation and each run's front")
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "pareto.png", dpi=120)
    print(f"figure: {args.out / 'pareto.png'}")


if __name__ == "__main__":
    main(tyro.cli(Args))
