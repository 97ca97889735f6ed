"""The search-run API: budget, seed, history, best-so-far and one logger.

Every search method runs inside a :class:`SearchRun`. The run owns the
environment and wraps it so that *every* completed episode, whoever stepped
it, is recorded once: methods that propose whole architectures call
:meth:`SearchRun.evaluate`, which replays the architecture through
``reset``/``step``; RL methods step ``run.env`` themselves. Either way the
reward comes from the env.

A run writes one folder: ``history.jsonl`` (one line per evaluated
architecture, in order), ``summary.json`` (best architecture and its metrics,
agent, seed, budget, wall seconds) and TensorBoard event files with the
``nas/*`` tags against the number of architectures evaluated.
"""

from __future__ import annotations

import abc
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from nas_gym.error import ConfigError, NASGymError
from nas_gym.spaces import Architecture, SearchSpace

logger = logging.getLogger(__name__)

#: Keys of each ``history.jsonl`` record, in order.
HISTORY_KEYS = (
    "index", "arch", "reward", "val_accuracy", "test_accuracy", "latency_ms",
    "cost_s", "cached", "best_reward",
)


class ResumeError(NASGymError):
    """A run folder cannot be resumed: the method did not replay its recorded history."""


class BudgetExhausted(Exception):
    """Raised inside a run when an evaluation is asked for after the budget is spent."""


@dataclass
class Budget:
    """How much a search may spend.

    Attributes:
        evaluations: Number of architectures to evaluate (≥ 1).
        seconds: Optional wall-clock limit in seconds.
    """

    evaluations: int
    seconds: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.evaluations, (int, np.integer)) or self.evaluations < 1:
            raise ConfigError(f"budget must be an integer ≥ 1 (architectures to evaluate), got {self.evaluations!r}.")
        if self.seconds is not None and not self.seconds > 0:
            raise ConfigError(f"budget seconds must be > 0 or None, got {self.seconds!r}.")


class RunLogger:
    """Writes ``history.jsonl``, ``summary.json`` and TensorBoard scalars for one run."""

    def __init__(self, out_dir: str | os.PathLike, hparams: dict[str, Any] | None = None, tensorboard: bool = True):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._history = open(self.out_dir / "history.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.out_dir))
            if hparams:
                table = "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in sorted(hparams.items()))
                self.writer.add_text("hyperparameters", table)

    def log_evaluation(self, record: dict[str, Any], search_cost_s: float) -> None:
        """Append one history record and its ``nas/*`` scalars (x = architectures evaluated)."""
        self._history.write(json.dumps(record) + "\n")
        self._history.flush()
        if self.writer is not None:
            step = record["index"] + 1
            self.writer.add_scalar("nas/reward", record["reward"], step)
            self.writer.add_scalar("nas/val_accuracy", record["val_accuracy"], step)
            if record["latency_ms"] is not None:
                self.writer.add_scalar("nas/latency_ms", record["latency_ms"], step)
            self.writer.add_scalar("nas/best_reward", record["best_reward"], step)
            self.writer.add_scalar("nas/num_evaluated", step, step)
            self.writer.add_scalar("nas/search_cost_s", search_cost_s, step)

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        """Any other scalar (agent losses follow CleanRL tags, e.g. ``losses/policy_loss``)."""
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` atomically and the ``eval/*`` scalars."""
        tmp = self.out_dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, self.out_dir / "summary.json")
        if self.writer is not None and summary.get("best"):
            for key in ("reward", "val_accuracy", "test_accuracy", "latency_ms"):
                value = summary["best"].get(key)
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    self.writer.add_scalar(f"eval/best_{key}", value, summary["num_evaluated"])

    def close(self) -> None:
        """Flush and close files."""
        self._history.close()
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


class _RecordEpisodes(gym.Wrapper):
    """Reports every scored episode (final ``info`` with ``arch``) to the run."""

    def __init__(self, env: gym.Env, run: SearchRun):
        super().__init__(env)
        self._run = run

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated and "arch" in info:
            self._run._record(info)
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.env.unwrapped.action_masks()


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


class SearchRun:
    """One search: env, budget, seed, history, best-so-far and logging.

    Args:
        env_id: A registered env id, e.g. ``"NAS-v0"``.
        env_kwargs: Keyword arguments for ``gym.make``.
        agent: Name of the search method (for logs and summary).
        seed: Seed of the run; methods draw all randomness from :attr:`rng`.
        budget: Architectures to evaluate, or a :class:`Budget`.
        out_dir: Run folder; None writes nothing to disk.
        hparams: Method hyperparameters, written once to TensorBoard and the summary.
        progress: Show a progress bar on the console.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None = None,
        *,
        agent: str = "custom",
        seed: int = 0,
        budget: int | Budget = 100,
        out_dir: str | os.PathLike | None = None,
        hparams: dict[str, Any] | None = None,
        progress: bool = False,
    ):
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.agent = agent
        self.seed = int(seed)
        self.budget = budget if isinstance(budget, Budget) else Budget(budget)
        self.hparams = dict(hparams or {})
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.rng = np.random.default_rng(self.seed)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self._search_cost_s = 0.0
        self._start = time.perf_counter()
        self._replay: list[dict[str, Any]] = [] if self.out_dir is None else self._load_previous()
        self.env = _RecordEpisodes(gym.make(env_id, **self.env_kwargs), self)
        self.env.reset(seed=self.seed)
        self.logger = None
        if self.out_dir is not None:
            self.logger = RunLogger(self.out_dir, {"agent": agent, "seed": seed, **self.hparams})
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.budget.evaluations, desc=f"{agent} on {env_id}", unit="arch")

    # -- what methods use ----------------------------------------------------------
    @property
    def space(self) -> SearchSpace:
        """The env's search space."""
        return self.env.unwrapped.space

    @property
    def num_evaluated(self) -> int:
        """Architectures evaluated so far."""
        return len(self.history)

    @property
    def remaining(self) -> int:
        """Evaluations left in the budget (0 when time ran out)."""
        if self.time_is_up:
            return 0
        return max(0, self.budget.evaluations - self.num_evaluated)

    @property
    def time_is_up(self) -> bool:
        """Whether the optional wall-clock budget is spent."""
        return self.budget.seconds is not None and self.elapsed_s >= self.budget.seconds

    @property
    def done(self) -> bool:
        """Whether the budget is spent."""
        return self.remaining == 0

    @property
    def elapsed_s(self) -> float:
        """Wall seconds since the run started."""
        return time.perf_counter() - self._start

    def evaluate(self, arch: Architecture | Sequence[int] | str) -> dict[str, Any]:
        """Replay a whole architecture through the env and return its final-step ``info``.

        The architecture is given as an :class:`Architecture`, its string form,
        or its choice indices (which are exactly the env's actions).

        Raises:
            BudgetExhausted: If the budget is already spent.
        """
        if self.done:
            raise BudgetExhausted(f"Budget of {self.budget.evaluations} evaluations is spent.")
        if isinstance(arch, str):
            arch = self.space.from_string(arch)
        actions = arch.indices if isinstance(arch, Architecture) else tuple(int(a) for a in arch)
        self.env.reset()
        info: dict[str, Any] = {}
        for a in actions:
            _, _, terminated, _, info = self.env.step(a)
            if terminated:
                break
        if "arch" not in info:
            raise ConfigError(f"Actions {list(actions)} do not form a valid architecture: {info.get('message', '')}")
        return info

    def log_scalar(self, tag: str, value: float) -> None:
        """Log a method-specific scalar against the number of architectures evaluated."""
        if self.logger is not None:
            self.logger.log_scalar(tag, float(value), self.num_evaluated)

    # -- resume ----------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "env_kwargs": self.env_kwargs, "agent": self.agent, "seed": self.seed,
                "hparams": self.hparams}

    def _load_previous(self) -> list[dict[str, Any]]:
        """Read what an earlier, interrupted run of the same settings left in ``out_dir``.

        Resuming is deterministic replay: the method runs again from its seed and
        each evaluation the history already holds is checked against it and taken
        from the history instead of being recorded twice. A line cut short by a
        kill is dropped (that evaluation simply runs again).
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        meta_path, history_path = self.out_dir / "run.json", self.out_dir / "history.jsonl"
        meta = json.loads(json.dumps(self._meta(), default=str))
        if meta_path.exists():
            try:
                previous = json.loads(meta_path.read_text())
            except json.JSONDecodeError as e:
                raise ConfigError(
                    f"{meta_path} is not valid JSON ({e}); remove the run folder or pick another --out."
                ) from e
            if previous != meta:
                diff = sorted(k for k in meta if previous.get(k) != meta[k])
                raise ConfigError(
                    f"Run folder {self.out_dir} holds a different run (differs in {', '.join(diff)}): "
                    "run again with the same arguments to resume it, or pick another --out."
                )
        elif history_path.exists() and history_path.stat().st_size:
            raise ConfigError(f"{history_path} exists but {meta_path} does not; pick another --out.")
        else:
            tmp = meta_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta, indent=2))
            os.replace(tmp, meta_path)
        if not history_path.exists():
            return []
        data = history_path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            with open(history_path, "r+b") as f:  # drop the line a kill cut short
                f.truncate(len(complete))
        records = []
        for n, line in enumerate(complete.decode("utf-8").splitlines()):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{history_path} line {n + 1} is not valid JSON ({e}); remove the run folder.") from e
            if record.get("index") != n:
                raise ConfigError(f"{history_path} line {n + 1} has index {record.get('index')}, expected {n}.")
            records.append(record)
        if records:
            logger.info("Resuming %s: replaying %d recorded evaluations", self.out_dir, len(records))
        return records

    @property
    def resumed_from(self) -> int:
        """Evaluations that an earlier, interrupted run of this folder had recorded."""
        return len(self._replay)

    # -- bookkeeping ----------------------------------------------------------------
    def _record(self, info: dict[str, Any]) -> None:
        if self.done:
            return  # an RL method may finish an episode past the budget; it is not counted
        index = self.num_evaluated
        replaying = index < len(self._replay)
        if replaying:
            record = self._replay[index]
            if record["arch"] != info["arch"]:
                raise ResumeError(
                    f"Cannot resume {self.out_dir}: evaluation {index} was {record['arch']!r} but the method now "
                    f"proposes {info['arch']!r}, so it is not deterministic for seed {self.seed}. "
                    "Start a new run folder."
                )
            info = {**info, **{k: v for k, v in record.items() if k not in ("index", "best_reward")}}
        self._search_cost_s += float(info.get("cost_s") or 0.0) if not info.get("cached") else 0.0
        reward = float(info["reward"])
        if self.best is None or reward > self.best["reward"]:
            self.best = {k: _json_value(v) for k, v in info.items() if k not in ("action_mask", "step")}
        record = {k: _json_value(info.get(k)) for k in HISTORY_KEYS if k not in ("index", "best_reward")}
        record["index"] = index
        record["best_reward"] = self.best["reward"]
        record = {k: record[k] for k in HISTORY_KEYS}
        self.history.append(record)
        if replaying:
            if self._bar is not None:
                self._bar.update(1)
            return
        if self.logger is not None:
            self.logger.log_evaluation(record, self.elapsed_s)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(best=f"{self.best['reward']:.4f}")

    def summary(self) -> dict[str, Any]:
        """Best architecture and its metrics, agent, seed, budget and wall seconds."""
        return {
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "agent": self.agent,
            "seed": self.seed,
            "budget": self.budget.evaluations,
            "budget_seconds": self.budget.seconds,
            "num_evaluated": self.num_evaluated,
            "wall_s": self.elapsed_s,
            "search_cost_s": self._search_cost_s,
            "resumed_from": self.resumed_from,
            "best": self.best,
            "hparams": self.hparams,
        }

    def close(self) -> dict[str, Any]:
        """Write the summary, close logs and the env; return the summary."""
        summary = self.summary()
        if self.logger is not None:
            self.logger.write_summary(summary)
            self.logger.close()
        if self._bar is not None:
            self._bar.close()
        self.env.close()
        return summary

    def __enter__(self) -> SearchRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Searcher(abc.ABC):
    """A search method. Subclasses take their hyperparameters as keyword arguments.

    Register one for the CLI under the entry-point group ``nas_gym.searchers``.
    """

    #: Name under which the method is registered.
    name: str = "searcher"

    def __init__(self, **hparams: Any):
        if hparams:
            raise ConfigError(f"{type(self).__name__} takes no hyperparameters {sorted(hparams)}.")

    def hparams(self) -> dict[str, Any]:
        """The method's hyperparameters (plain data), for logs."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @abc.abstractmethod
    def search(self, run: SearchRun) -> None:
        """Evaluate architectures through ``run`` until ``run.done``."""


def available_searchers() -> dict[str, Any]:
    """Search methods registered under the entry-point group ``nas_gym.searchers``."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="nas_gym.searchers")}


def load_searcher(name: str) -> type[Searcher]:
    """The searcher class registered as ``name``.

    Raises:
        ConfigError: Unknown name; the message lists the known ones.
    """
    from nas_gym.error import unknown_name

    found = available_searchers()
    if name not in found:
        raise unknown_name("agent", name, found)
    return found[name].load()


def run_search(
    agent: str,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    *,
    budget: int | Budget = 100,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    agent_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the search method ``agent`` on an env and return the run's summary.

    This is what ``nas-gym search`` calls.
    """
    searcher = load_searcher(agent)(**(agent_kwargs or {}))
    run = SearchRun(
        env_id, env_kwargs, agent=agent, seed=seed, budget=budget, out_dir=out_dir,
        hparams=searcher.hparams(), progress=progress,
    )
    try:
        searcher.search(run)
    finally:
        summary = run.close()
    return summary
