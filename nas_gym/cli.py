"""The ``nas-gym`` console command.

``nas-gym search``: run one search method on one env and write a run folder.
With no options it runs the embedded default: a short search on ``NAS-v0``
(real training on scikit-learn's digits, latency measured on this host).

``nas-gym train``: train a run's architecture fully and save it as a model
folder (:mod:`nas_gym.model.retrain`); ``nas-gym scale``: compound-scale a trained
model (:mod:`nas_gym.model.scaling`); ``nas-gym sample``: text from a trained
language model (:mod:`nas_gym.model.sample`).

``nas-gym benchmark``: a grid of methods x seeds (x env settings) with one
budget, in parallel processes and resumable, reported in ``summary.md``,
``curves.png`` and ``pareto.png`` (see :mod:`nas_gym.benchmark`).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import shlex
import sys
import textwrap
import time
from typing import Any

from nas_gym.error import NASGymError

DEFAULT_AGENT = "random"
DEFAULT_ENV = "NAS-v0"
DEFAULT_BUDGET = 20


def _json_arg(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(
            f"expected a JSON object such as '{{\"latency_weight\": 0}}', got {text!r} ({e})"
        ) from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, without line breaks inside hyphenated names (``NAS-Bench-201-v0``)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value} (leave the option out for the default)")
    return value


def _agent_names() -> str:
    """The search methods installed (the entry-point group ``nas_gym.searchers``) and families, for ``--help``."""
    from nas_gym.search.searcher import available_searchers, searcher_families

    families = [f"{f}:<Algorithm>" for f in sorted(searcher_families())]
    return ", ".join([*sorted(available_searchers()), *families])


def _suite_names() -> str:
    from nas_gym.benchmark.suites import available_suites

    return ", ".join(available_suites())


def _env_ids() -> str:
    """The registered ids of nas_gym's env (the Gymnasium registry, without namespaced aliases), for ``--help``."""
    import gymnasium as gym

    import nas_gym  # noqa: F401  (registers the ids)

    entry = "nas_gym.env.nas_env:NASEnv"
    return ", ".join(i for i, spec in gym.registry.items() if spec.entry_point == entry and spec.namespace is None)


def _add_search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", default=DEFAULT_AGENT,
                   help=f"search method: one of {_agent_names()} (default: {DEFAULT_AGENT})")
    p.add_argument("--env", default=DEFAULT_ENV, help=f"env id: one of {_env_ids()} (default: {DEFAULT_ENV})")
    p.add_argument("--env-kwargs", type=_json_arg, default={}, help="env keyword arguments as a JSON object")
    p.add_argument("--agent-kwargs", type=_json_arg, default={}, help="method hyperparameters as a JSON object")
    p.add_argument("--budget", type=_positive_int, default=None,
                   help=f"architectures to evaluate (default: {DEFAULT_BUDGET}, or at most --budget-epochs); "
                        "rerun into a finished run's --out with a budget at least its own to report or extend it")
    p.add_argument("--budget-epochs", type=_positive_int, default=None,
                   help="stop once this many epochs are trained (envs that train; a promoted architecture "
                        "counts only its extra epochs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the run")
    p.add_argument("--out", default=None, help="run folder (default: runs/{env}__{agent}__{seed}__{timestamp})")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--latency-limit-ms", type=float, default=None,
                   help="hard latency limit: the best architecture within it is the result (env latency_limit_ms)")
    p.add_argument("--params-limit", type=int, default=None,
                   help="hard limit on trainable parameters (env params_limit)")
    p.add_argument("--workers", type=int, default=1,
                   help="architectures evaluated at once (default: 1, in this process)")
    _add_backend_args(p)


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where evaluations run: worker processes on this machine, or Ray tasks (extra 'ray')")
    p.add_argument("--ray-address", default=None,
                   help="HOST:PORT of a running Ray cluster (with --backend ray; default: start Ray here)")


#: Metrics that 0 stands for "unknown" in (``Metrics``: a table without such a column).
_COUNTS = ("params", "flops")


def _format_metric(key: str, value: Any) -> str:
    """A metric as the CLI prints it: "n/a" where the source has none (None, NaN, or a count of 0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or (key in _COUNTS and value == 0):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _fidelity_unit(args: argparse.Namespace) -> str:
    """Under a step budget (``NAS-LM-v0``) a fidelity, and so an "epoch" of the count, is a round of steps: say so."""
    import gymnasium as gym

    kwargs = {**gym.spec(args.env).kwargs, **(args.env_kwargs or {})}
    training = kwargs.get("evaluator_kwargs") or {}
    if kwargs.get("evaluator", "train") != "train" or training.get("steps") is None:
        return ""
    from nas_gym.evaluators.training import round_length  # torch is loaded already: the search ran here

    steps = round_length(training["steps"], training.get("fidelity_rounds", 10))
    return f" (rounds of {steps} steps: the fidelity of a step budget)"


def _print_result(summary: dict[str, Any], limited: bool) -> None:
    """The run's result (:func:`nas_gym.search.summary.run_result`, which ``nas-gym train`` trains) and its metrics."""
    from nas_gym.search.summary import run_result, standalone_entry

    best = run_result(summary)
    if limited and not best["feasible"]:
        print(f"\nNo architecture within the limits after {summary['num_evaluated']} evaluations; the least "
              f"violating one (constraint_violation {best['constraint_violation']:.4f}):")
    else:
        which = "Best feasible architecture" if limited else "Best architecture"
        print(f"\n{which} after {summary['num_evaluated']} evaluations ({summary['wall_s']:.1f} s):")
    if summary.get("resumed_from"):
        new = summary["num_evaluated"] - summary["resumed_from"]
        print(f"  (resumed: {summary['resumed_from']} evaluations replayed from the run folder, {new} new)")
    standalone = summary.get("standalone")
    if standalone:
        print(f"  (the best of the top {len(standalone['architectures'])} by supernet score, scored stand-alone "
              f"by the {standalone['evaluator']})")
    print(f"  {best['arch']}")
    for key in ("reward", "val_accuracy", "test_accuracy", "latency_ms", "params", "flops", "cost_s"):
        print(f"  {key:14s} {_format_metric(key, best.get(key))}")
    if not standalone:
        return
    entry = standalone_entry(summary, best["arch"])
    score = None if entry is None else entry["supernet"]["val_accuracy"]
    print(f"  {'supernet score':14s} {_format_metric('', score)} (not a stand-alone accuracy)")
    favourite = summary["best"]
    if favourite["arch"] != best["arch"]:
        alone = standalone_entry(summary, favourite["arch"])
        print(f"The supernet's favourite was {favourite['arch']} (supernet score "
              f"{_format_metric('', favourite['val_accuracy'])})"
              + ("." if alone is None else
                 f"; stand-alone it scored val_accuracy {_format_metric('', alone['standalone']['val_accuracy'])}."))


def cmd_search(args: argparse.Namespace) -> int:
    """Run ``nas-gym search``."""
    import nas_gym  # noqa: F401  (registers the envs; light: torch is not imported yet)
    from nas_gym.search.pools import make_pool

    for flag, key in ((args.latency_limit_ms, "latency_limit_ms"), (args.params_limit, "params_limit")):
        if flag is not None:
            args.env_kwargs = {**args.env_kwargs, key: flag}
    limited = args.latency_limit_ms is not None or args.params_limit is not None
    from nas_gym.search.budget import Budget

    # With only an epochs budget, no more evaluations than epochs: each new one trains at least one.
    evaluations = args.budget if args.budget is not None else args.budget_epochs or DEFAULT_BUDGET
    budget = Budget(evaluations, epochs=args.budget_epochs)
    # Workers start first, so they import the package and build their env while this process does the same
    # instead of after it: on a short search that start-up is a large part of the wall time.
    pool = make_pool(args.env, args.env_kwargs, args.workers, args.backend, args.ray_address)
    from nas_gym.search.searcher import run_search
    from nas_gym.search.summary import run_result

    out = args.out or f"runs/{args.env}__{args.agent}__{args.seed}__{int(time.time())}"
    summary = run_search(
        args.agent, args.env, args.env_kwargs, budget=budget, seed=args.seed, out_dir=out,
        agent_kwargs=args.agent_kwargs, progress=not args.no_progress, pool=pool,
    )
    if run_result(summary) is None:
        print(f"No architecture was evaluated. Run folder: {out}")
        return 1
    _print_result(summary, limited)
    if summary.get("epochs_trained") is not None:
        print(f"Epochs trained:      {summary['epochs_trained']}"
              + (f" of a budget of {args.budget_epochs}" if args.budget_epochs else "") + _fidelity_unit(args))
    if "hypervolume" in summary:
        print(f"Pareto front:        {out}/pareto.json (hypervolume {summary['hypervolume']:.4f})")
    print(f"History and summary: {out}/history.jsonl, {out}/summary.json")
    print(f"TensorBoard logs:    {out}   (view with: tensorboard --logdir {out})")
    return 0


def _json_settings_arg(text: str) -> dict[str, Any] | list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object or a list of them, got {text!r} ({e})") from e
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return value
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object or a non-empty list of objects, got {text!r}")
    return value


def _agents_arg(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated method names like 'random,evolution', got {text!r}")
    return names


def _benchmark_command(args: argparse.Namespace) -> str:
    """The command line with every option spelled out, so the summary says exactly how to redo it."""
    where = ["--suite", args.suite] if args.suite else ["--env", args.env, "--env-kwargs", json.dumps(args.env_kwargs)]
    parts = [
        "nas-gym", "benchmark", "--agents", ",".join(args.agents), *where, "--seeds", str(args.seeds),
        "--budget", str(args.budget), "--out", args.out,
    ]
    if args.budget_epochs is not None:
        parts += ["--budget-epochs", str(args.budget_epochs)]
    if args.agent_kwargs:
        parts += ["--agent-kwargs", json.dumps(args.agent_kwargs)]
    if args.workers is not None:
        parts += ["--workers", str(args.workers)]
    if args.eval_workers != 1:
        parts += ["--eval-workers", str(args.eval_workers)]
    if args.backend != "local":
        parts += ["--backend", args.backend]
    if args.ray_address is not None:
        parts += ["--ray-address", args.ray_address]
    return shlex.join(parts)


def _suite_conflicts(args: argparse.Namespace) -> list[str]:
    """Options that ``--suite`` fixes itself (its envs and settings) or does not take."""
    given = {"--env": args.env is not None, "--env-kwargs": bool(args.env_kwargs),
             "--budget-epochs": args.budget_epochs is not None, "--eval-workers": args.eval_workers != 1,
             "--backend": args.backend != "local", "--ray-address": args.ray_address is not None}
    return [option for option, there in given.items() if there]


def cmd_suite(args: argparse.Namespace) -> int:
    """Run ``nas-gym benchmark --suite``; exit 1 when any run failed (the others still ran)."""
    from nas_gym.benchmark.suite_runner import run_suite
    from nas_gym.benchmark.suites import load_suite

    suite = load_suite(args.suite)
    if args.budget is None:
        args.budget = suite.budget
    result = run_suite(
        suite, args.agents, seeds=args.seeds, budget=args.budget, out_dir=args.out, workers=args.workers,
        agent_kwargs=args.agent_kwargs, command=_benchmark_command(args), progress=not args.no_progress,
    )
    summary = result.summary
    print(f"\n{len(result.ran)} runs done now, {len(result.skipped)} already finished, {len(result.failed)} failed.")
    ranked = sorted(summary["complete"], key=lambda a: -summary["aggregates"][a]["IQM"][0])
    print(f"\nIQM of the normalised score at {args.budget} evaluations (95 % stratified-bootstrap CI):")
    for agent in ranked:
        point, low, high = summary["aggregates"][agent]["IQM"]
        print(f"  {agent:<24} {point:7.3f}  [{low:.3f}, {high:.3f}]")
    for agent, why in summary["incomplete"].items():
        print(f"  {agent:<24} not ranked: {why}")
    print(f"\nLeaderboard: {args.out}/leaderboard.md   (scores: suite.json; figures: aggregates.png, profiles.png, "
          "sample_efficiency.png, improvement.png)")
    print(f"Per env: {args.out}/<env>/summary.md   TensorBoard: tensorboard --logdir {args.out}")
    return _report_failures(result)


def _report_failures(result) -> int:
    if result.failed:
        print("Failed runs (the same command retries them; tracebacks in each run's error.txt):", file=sys.stderr)
        for setting, agent, seed, message in result.failed:
            where = f"{setting}/" if setting else ""
            print(f"  {where}{agent}/seed{seed}: {message}", file=sys.stderr)
        return 1
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    """Run ``nas-gym benchmark``; exit 1 when any run failed (the others still ran)."""
    from nas_gym.benchmark import run_benchmark

    if args.suite is not None:
        conflicts = _suite_conflicts(args)
        if conflicts:
            print(f"nas-gym benchmark: error: --suite fixes its envs and settings; drop {', '.join(conflicts)}.",
                  file=sys.stderr)
            return 2
        return cmd_suite(args)
    if args.env is None:
        args.env = DEFAULT_ENV
    # With only an epochs budget, no more evaluations than epochs: each new one trains at least one.
    if args.budget is None:
        args.budget = args.budget_epochs or 100
    result = run_benchmark(
        args.agents, args.env, args.env_kwargs, seeds=args.seeds, budget=args.budget,
        budget_epochs=args.budget_epochs, out_dir=args.out,
        workers=args.workers, agent_kwargs=args.agent_kwargs, command=_benchmark_command(args),
        progress=not args.no_progress, eval_workers=args.eval_workers, backend=args.backend,
        ray_address=args.ray_address,
    )
    print(f"\n{len(result.ran)} runs done now, {len(result.skipped)} already finished, {len(result.failed)} failed.")
    print(f"Summary: {args.out}/summary.md   (figures: curves.png, pareto.png where latency is in play)")
    print(f"TensorBoard logs: {args.out}   (view with: tensorboard --logdir {args.out})")
    return _report_failures(result)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nas-gym``."""
    from nas_gym._version import __version__

    parser = argparse.ArgumentParser(prog="nas-gym", description="Neural architecture search as a Gymnasium env.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")
    search = sub.add_parser("search", help="run one search method on one env", formatter_class=_HelpFormatter)
    _add_search_args(search)
    search.set_defaults(func=cmd_search)
    bench = sub.add_parser(
        "benchmark", help="run methods x seeds with one budget in parallel and summarise them",
        formatter_class=_HelpFormatter,
        description="Run every method with every seed (resumable: finished runs in --out are kept) and write "
                    "summary.md, curves.png and pareto.png next to the run folders. With --suite, on every env of "
                    "a suite, and write the normalised scores (suite.json), leaderboard.md and its figures.",
    )
    bench.add_argument("--agents", type=_agents_arg, required=True,
                       help=f"comma-separated method names, of {_agent_names()}")
    bench.add_argument("--env", default=None, help=f"env id: one of {_env_ids()} (default: {DEFAULT_ENV})")
    bench.add_argument("--suite", default=None,
                       help=f"a suite of envs instead of --env: one of {_suite_names()}, or a suite JSON file")
    bench.add_argument("--env-kwargs", type=_json_settings_arg, default={},
                       help="env keyword arguments as a JSON object, or a list of objects for a grid of settings")
    bench.add_argument("--agent-kwargs", type=_json_arg, default={},
                       help='hyperparameters per method, e.g. \'{"darts": {"proxy_task": "digits"}}\'')
    bench.add_argument("--seeds", type=int, default=10, help="number of seeds per method, 0..N-1 (default: 10)")
    bench.add_argument("--budget", type=_positive_int, default=None,
                       help="architectures per run (default: 100, or at most --budget-epochs; a suite's own)")
    bench.add_argument("--budget-epochs", type=_positive_int, default=None,
                       help="epochs trained per run, to compare multi-fidelity and full-fidelity methods at equal "
                            "training (envs that train); curves then run over epochs")
    bench.add_argument("--out", required=True, help="benchmark folder (runs go to OUT/{agent}/seed{S})")
    bench.add_argument("--workers", type=int, default=None,
                       help="architectures evaluated at once in all (default: all cores); "
                            "WORKERS / EVAL_WORKERS runs go side by side")
    bench.add_argument("--eval-workers", type=int, default=1,
                       help="architectures each run evaluates at once (nas-gym search --workers; default: 1)")
    _add_backend_args(bench)
    bench.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    bench.set_defaults(func=cmd_benchmark)
    from nas_gym.model.commands import (  # no torch
        add_sample_arguments,
        add_scale_arguments,
        add_train_arguments,
        cmd_sample,
        cmd_scale,
        cmd_train,
    )

    train = sub.add_parser(
        "train", help="train a found architecture fully and save it (model.safetensors, model.json)",
        description="Train a run's best architecture (or --rank K, --arch STR) from scratch with a longer "
                    "schedule, or fine-tune a trained model on another task (--from); resumes after a kill.",
    )
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)
    scale = sub.add_parser(
        "scale", help="compound-scale a trained layers model (EfficientNet): depth, width, resolution by phi",
        description="Find depth, width and resolution multipliers (alpha * beta^2 * gamma^2 ~ 2) at phi = 1 by a "
                    "small grid search, then train the model scaled by alpha^phi, beta^phi, gamma^phi for each phi.",
    )
    add_scale_arguments(scale)
    scale.set_defaults(func=cmd_scale)
    sample = sub.add_parser(
        "sample", help="print text that a trained language model writes (temperature, seed)",
        formatter_class=_HelpFormatter,
        description="Sample text from the model folder of a trained language model: each sample continues "
                    "--prompt by --length characters, and the same seed writes the same text.",
    )
    add_sample_arguments(sample)
    sample.set_defaults(func=cmd_sample)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nas-gym``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except NASGymError as e:
        print(f"nas-gym: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        import gymnasium.error

        if not isinstance(e, gymnasium.error.Error):  # e.g. an env id that is not registered
            raise
        print(f"nas-gym: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Every finished evaluation is already on disk; the same command resumes.
        print("nas-gym: interrupted; run the same command again to resume where it stopped.", file=sys.stderr)
        return 130


def console() -> None:
    """The ``nas-gym`` executable: :func:`main`, then exit without the interpreter's final garbage collection.

    Everything the command writes is closed by then. Python's last collection
    walks every object torch, sympy and friends created (over a million), which
    took about a second per process on a 2-core machine; freezing them skips it.
    ``main`` itself leaves the collector alone, for callers that go on running.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console()
