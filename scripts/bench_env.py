"""Performance figures of the environment core, printed from one run.

1. Table-env steps/s divided by CartPole-v1 steps/s (both through ``gym.make``,
   random valid actions, resets counted as in any rollout). Goal ≥ 0.7. The
   same for ``NAS-Surrogate-v0`` (20 decisions per episode). Goal ≥ 0.5.
   Measured in interleaved rounds; the ratio is the median of the rounds'
   ratios (each pairs measurements taken back to back).
2. Median seconds per real evaluation of default ``NAS-v0`` on one core, over
   random architectures (cache off), and the validation accuracy of a good
   conv architecture. Goal ≤ 1 s and ≥ 0.95.
3. Load time and memory of the 15,625-row NAS-Bench-201 table. Goal ≤ 0.3 s, ≤ 100 MB.
4. Spearman rank correlation of the per-operation latency table with measured
   latency over sampled ``layers`` architectures. Goal ≥ 0.9.
5. Median seconds per real evaluation of default ``NAS-RNN-v0`` (the 8-node
   recurrent cell on ``mackey_glass``) on one core, over random cells (cache
   off), with their validation R² and MSE. Goal ≤ 2 s.

Run: ``.venv/bin/python scripts/bench_env.py`` (``--help`` for options).
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import tyro

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.data import NB201_DATASETS

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    table: Path = NB201_DATASETS["cifar100"].path
    """NAS-Bench-201 CSV (arch_str, c100_valid, ...)."""
    steps: int = 200_000
    """Environment steps per speed measurement (split over the rounds)."""
    rounds: int = 5
    """Interleaved rounds of the speed measurements (medians are reported)."""
    evaluations: int = 10
    """Random default NAS-v0 architectures to train for the median evaluation time."""
    latency_archs: int = 40
    """Sampled layers architectures for the latency-table correlation."""
    seed: int = 0
    """Seed of the sampled architectures and actions."""
    sections: tuple[int, ...] = (1, 2, 3, 4, 5)
    """Which figures to measure."""


def steps_per_second(env: gym.Env, steps: int, seed: int) -> float:
    """Random valid actions (masked where the env has a mask) for ``steps`` steps."""
    rng = np.random.default_rng(seed)
    n = env.action_space.n
    actions = rng.integers(0, n, size=steps)
    _, info = env.reset(seed=seed)
    start = time.perf_counter()
    for a in actions:
        mask = info.get("action_mask")
        if mask is not None and not mask[a]:
            a = int(np.flatnonzero(mask)[0])
        _, _, terminated, truncated, info = env.step(int(a))
        if terminated or truncated:
            _, info = env.reset()
    return steps / (time.perf_counter() - start)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main(args: Args) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    if 1 in args.sections:
        env_speeds(args)
    if 2 in args.sections:
        evaluations(args, rng)
    if 3 in args.sections:
        table_load(args, rng)
    if 4 in args.sections:
        latency_table(args, rng)
    if 5 in args.sections:
        rnn_evaluations(args, rng)


def env_speeds(args: Args) -> None:
    """Steps/s of CartPole-v1 and the instant envs in interleaved rounds, so machine-load drifts hit all alike."""
    print(f"== 1. table and surrogate envs vs CartPole-v1 (steps/s; median of {args.rounds} interleaved rounds)")
    envs = {"CartPole-v1": gym.make("CartPole-v1")}
    goals = {"NAS-Bench-201-v0": 0.7, "NAS-Surrogate-v0": 0.5}
    if args.table.is_file():
        envs["NAS-Bench-201-v0"] = gym.make(
            "NAS-Bench-201-v0", table=str(args.table), val_column="c100_valid", test_column="c100_test",
            latency_weight=0,
        )
    else:
        print(f"NAS-Bench-201-v0   skipped: {args.table} does not exist")
    envs["NAS-Surrogate-v0"] = gym.make("NAS-Surrogate-v0")
    speeds: dict[str, list[float]] = {name: [] for name in envs}
    for r in range(args.rounds):
        for name, env in envs.items():
            speeds[name].append(steps_per_second(env, max(1, args.steps // args.rounds), args.seed + r))
    for name, values in speeds.items():
        line = f"{name:18} {statistics.median(values):12,.0f} steps/s"
        if name in goals:
            # Each round's ratio pairs measurements taken back to back; their median resists load drifts.
            ratios = [v / c for v, c in zip(values, speeds["CartPole-v1"], strict=True)]
            line += f"   ratio {statistics.median(ratios):.2f} (goal >= {goals[name]}; per round median)"
        print(line + f"   rounds: {', '.join(f'{v:,.0f}' for v in values)}")


def evaluations(args: Args, rng: np.random.Generator) -> None:
    print("\n== 2. real evaluation of default NAS-v0 on one core")
    env = gym.make("NAS-v0", cache=False, latency="none")
    space = env.unwrapped.space
    evaluator = env.unwrapped.evaluator
    costs, accs = [], []
    for _ in range(args.evaluations):
        m = evaluator.evaluate(space.sample(rng))
        costs.append(m.cost_s)
        accs.append(m.val_accuracy)
    good = space.from_string("conv3x3-16-relu|conv3x3-32-relu|conv3x3-32-relu-skip|identity")
    good_m = evaluator.evaluate(good)
    print(f"median s/eval      {statistics.median(costs):12.3f}   over {len(costs)} random archs (goal <= 1 s)")
    print(f"random archs val   mean {np.mean(accs):.3f}, max {np.max(accs):.3f}")
    print(f"good arch          {good}: val {good_m.val_accuracy:.4f} (goal >= 0.95) in {good_m.cost_s:.3f} s")


def rnn_evaluations(args: Args, rng: np.random.Generator) -> None:
    print("\n== 5. real evaluation of default NAS-RNN-v0 on one core")
    env = gym.make("NAS-RNN-v0", cache=False, latency="none")
    space, evaluator = env.unwrapped.space, env.unwrapped.evaluator
    costs, r2, mse = [], [], []
    for _ in range(args.evaluations):
        m = evaluator.evaluate(space.sample(rng))
        costs.append(m.cost_s)
        r2.append(m.val_accuracy)
        mse.append(m.val_mse)
    print(f"median s/eval      {statistics.median(costs):12.3f}   over {len(costs)} random cells (goal <= 2 s)")
    print(f"random cells val   R² mean {np.mean(r2):.3f}, max {np.max(r2):.3f}; MSE median {np.median(mse):.4f}, "
          f"min {np.min(mse):.4f}")


def table_load(args: Args, rng: np.random.Generator) -> None:

    print("\n== 3. table load")
    from nas_gym.evaluators import table as table_mod
    from nas_gym.evaluators.table import TabularBenchmark
    from nas_gym.spaces import NB201Space

    nb201 = NB201Space()
    cold_start = time.perf_counter()
    nb201.from_string(str(nb201.sample(rng)))
    index_s = time.perf_counter() - cold_start  # the space's string index, built once per process
    def cold_load():
        table_mod._memo.clear()  # measure a cold load, not the per-process memo  # noqa: SLF001
        return TabularBenchmark.load(
            args.table, space=nb201, val_column="c100_valid", test_column="c100_test", latency_column="lat_fpga_ms"
        )

    load_times = []
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        tb = cold_load()
        load_times.append(time.perf_counter() - start)
    load_s = statistics.median(load_times)
    # Memory in a separate pass: tracemalloc slows every allocation, so it must not time the load.
    gc.collect()
    tracemalloc.start()
    cold_load()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"rows               {len(tb):12d}")
    print(f"load time          {load_s:12.3f} s   (goal <= 0.3 s; median of 3 cold loads)")
    print(f"nb201 string index {index_s:12.3f} s   (built once per process, before the load)")
    print(f"peak memory        {peak / 2**20:12.1f} MB  (goal <= 100 MB, tracemalloc peak during load)")


def latency_table(args: Args, rng: np.random.Generator) -> None:

    print("\n== 4. per-op latency table vs measured latency")
    from nas_gym.latency import MeasuredLatency, OpTableLatency

    env = gym.make("NAS-v0", cache=False, latency="none")
    space, task = env.unwrapped.space, env.unwrapped.task
    measured = MeasuredLatency(task, cache=None, repeats=30)
    op_table = OpTableLatency(space, task)
    archs = [space.sample(rng) for _ in range(args.latency_archs)]
    start = time.perf_counter()
    op_table.build(archs)
    build_s = time.perf_counter() - start
    pred = np.array([op_table.latency_ms(a) for a in archs])
    real = np.array([measured.latency_ms(a) for a in archs])
    print(f"archs              {len(archs):12d}   (op table built in {build_s:.1f} s)")
    print(f"measured ms        median {np.median(real):.3f}, range {real.min():.3f}..{real.max():.3f}")
    print(f"Spearman           {spearman(pred, real):12.3f}   (goal >= 0.9)")


if __name__ == "__main__":
    main(tyro.cli(Args))
