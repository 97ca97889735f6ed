"""``NASEnv``: neural architecture search as a Gymnasium environment."""

from __future__ import annotations

import inspect
import math
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces as gym_spaces

from nas_gym.env.evaluation import Evaluation
from nas_gym.env.parts import EnvParts, build_parts
from nas_gym.error import ConfigError, EpisodeEndedError, InvalidActionError, did_you_mean, unknown_name
from nas_gym.evaluators.metrics import Metrics
from nas_gym.multi_objective.pareto import ACCURACY_LATENCY, OBJECTIVES, objective_matrix, pareto_indices
from nas_gym.spaces import Architecture, SearchSpace

if TYPE_CHECKING:
    from nas_gym.evaluators.base import Evaluator
    from nas_gym.evaluators.table import TabularBenchmark
    from nas_gym.latency import LatencyModel
    from nas_gym.rewards import Reward
    from nas_gym.storage.cache import EvalCache
    from nas_gym.tasks.base import Task

INVALID_ACTION_MODES = ("penalty", "raise")
OBSERVATION_MODES = ("multidiscrete", "box")

_STRING_ARGS = ("space", "task", "evaluator", "arch_column", "latency", "reward", "invalid_action", "observation")
_OPTIONAL_STRING_ARGS = ("dataset", "val_column", "test_column", "latency_column", "render_mode")
_KWARGS_EXAMPLES = {
    "space_kwargs": "{'num_layers': 2}",
    "task_kwargs": "{'path': 'data.npz'}",
    "evaluator_kwargs": "{'epochs': 2}",
    "latency_kwargs": "{'repeats': 15}",
}


class NASEnv(gym.Env):
    """Build a neural network one decision at a time; get one reward when it is complete.

    ## Description

    Each episode builds one architecture of a search space (``layers``: a
    skeleton of layer slots, each choosing operation, filters, kernel,
    activation, ...; ``nb201``: the 6 edges of the NAS-Bench-201 cell). Every
    step makes the next decision. After the last decision the environment
    scores the architecture — by real training on a real dataset or by a
    lookup in a tabular benchmark — measures or looks up its latency, and
    pays a single reward that joins accuracy and a latency penalty.

    The env is built from parts named by its string arguments, each looked
    up in a registry (see :mod:`nas_gym.registry`; a new part is one class
    and one registry line) and held in :attr:`parts`. The last step's
    scoring is :meth:`score`, which builds the
    :class:`~nas_gym.env.evaluation.Evaluation` the final ``info`` comes from.

    ## Action Space

    ``Discrete(n)`` with ``n`` the largest number of choices of any decision.
    Action ``i`` at step ``k`` picks choice ``i`` of decision ``k``. One rule
    for actions that cannot be taken:

    * **Outside the action space** (not in ``Discrete(n)``: not an integer,
      such as a string, ``2.5``, NaN or an array of several values; or an
      integer outside ``0..n-1``, such as ``-1`` or ``999``): the caller has
      a bug, so ``step`` raises :class:`~nas_gym.error.InvalidActionError`
      whatever ``invalid_action`` says, as Gymnasium's own envs refuse what
      their action space does not contain. Integral values of any type
      (``np.int64``, ``2.0``, a one-element array) are that integer.
    * **In the action space but not allowed now** (beyond the current
      decision's choices, or masked by the space, e.g. a skip connection
      where shapes do not allow it; flagged False in ``info["action_mask"]``
      and ``action_masks()``): a policy's choice it can learn from. With
      ``invalid_action="penalty"`` (default) it ends the episode with reward
      ``invalid_action_penalty`` and ``info["invalid_action"] = True``; with
      ``invalid_action="raise"`` it raises
      :class:`~nas_gym.error.InvalidActionError`.

    ## Observation Space

    ``observation="multidiscrete"`` (default): flat ``MultiDiscrete(nvec + 1)``,
    one entry per decision: 0 while the decision is open, ``choice + 1`` once
    made. ``observation="box"``: a float32 ``Box(0, 1, (sum(nvec),))``, the
    one-hot encoding of each decision made (all zeros for one still open),
    for clients whose networks take float vectors only (CleanRL's DQN,
    SAC-discrete, many custom agents).

    ## Rewards

    0 on every step but the last. On the last step the reward named by
    ``reward`` (see :mod:`nas_gym.rewards`), by default the hinge
    ``val_accuracy - latency_weight * max(0, latency_ms / latency_target_ms - 1)``.

    With hard limits (``latency_limit_ms``, ``params_limit``) an architecture
    over them is paid ``min(reward, 0) - constraint_violation``, where the
    violation sums the relative excesses (``latency_ms / latency_limit_ms - 1``
    and ``params / params_limit - 1`` where positive): below every feasible
    architecture with a non-negative reward, and graded, so a learning agent
    is pulled back inside the limits.

    With ``objectives`` (ids ``MO-NAS-v0``, ``MO-NAS-Bench-201-v1``) the
    reward is a ``np.float32`` vector in MO-Gymnasium's convention, one
    component per objective, larger is better (latency, params and FLOPs are
    negated): ``reward_space`` is a ``Box`` and ``reward_dim`` its length;
    zeros before the last step, ``invalid_action_penalty`` in every component
    for an invalid action. ``mo_gymnasium.wrappers.LinearReward`` scalarises
    it. :meth:`pareto_front` gives the true front of a table env in the same
    convention.

    Failed trainings still get a defined reward, computed the same way:
    training that diverges (NaN or infinite loss or logits) is scored at
    chance accuracy (``1 / num_classes``; R² 0 on a regression task) with ``info["diverged"] = True``;
    training stopped by ``evaluator_kwargs={"max_seconds": ...}`` is scored
    with the partially trained model's accuracy and ``info["timed_out"] = True``.

    ## Starting State

    All decisions open (observation all zeros).

    ## Episode End

    Terminated after the last decision (or an invalid action under the
    penalty mode). Never truncated. Calling ``step`` after the end raises
    :class:`nas_gym.error.EpisodeEndedError`; call ``reset``.

    ## Information

    Every step: ``action_mask`` (bool array over actions), ``step`` (number
    of decisions made). The final step adds: ``arch`` (string form),
    ``reward`` (the scalar reward, also with ``objectives``),
    ``val_accuracy`` and ``test_accuracy`` (fractions in [0, 1]; on a
    regression task the R² scores of :mod:`nas_gym.tasks.loss`, with
    ``val_mse`` and ``test_mse`` beside them; on a language-modelling task
    next-character accuracies, with ``val_bpc`` and ``test_bpc``, bits per
    character, beside them),
    ``latency_ms`` (None without a latency model), ``latency_penalty``
    (what the latency term took off the accuracy), ``params``, ``flops``,
    ``cost_s`` (seconds the evaluation cost when it was made), ``cached``
    (result came from the cache), ``diverged``, ``timed_out``, ``feasible``
    and ``constraint_violation`` (hard limits; True and 0 without them),
    ``invalid_action``; with ``evaluator="zero_cost"`` also ``zero_cost_score``
    (the proxy's score; ``val_accuracy`` is then that score squashed onto
    [0, 1], see :mod:`nas_gym.predictors.zero_cost`); in an episode reset with
    ``options={"epochs": e}`` (a fidelity, see :meth:`reset`) also ``epochs``
    (= e) and ``learning_curve`` (validation accuracy after each epoch), and
    under a step budget (``NAS-LM-v0``), where a fidelity counts rounds of
    steps, ``steps`` (the steps the fidelity trains).

    The mask of the final step (and ``action_masks()`` after the end) is the
    mask of the first decision, the one ``reset`` asks for: a vector env's
    next step is its autoreset step, whose action is ignored, and an agent
    that samples from a masked distribution needs a valid action there too.

    ## Arguments

    | parameter | type | default | description |
    |---|---|---|---|
    | ``space`` | str | ``"layers"`` | search space: ``layers``, ``nb201``, ``mlp`` (fully connected, for any input; the one for vector tasks), ``rnn_cell`` and ``rnn_layers`` (recurrent, for sequences ``(C, L)``), ``transformer`` (decoder-only language models, for ``pydoc_topics`` and ``text``) or any in ``nas_gym.spaces.SPACES`` |
    | ``space_kwargs`` | dict | ``{}`` | options of the space (e.g. ``num_layers``) |
    | ``task`` | str | ``"digits"`` | ``digits``, ``mnist1d``, ``wine``, ``breast_cancer`` (feature vectors: ``space="mlp"`` only), ``mackey_glass``, ``sunspots``, ``adding`` (sequence regression: ``rnn_cell``, ``rnn_layers`` or ``mlp``), ``npz``, ``pydoc_topics`` and ``text`` (character-level language modelling: ``transformer``) or any in ``nas_gym.tasks.base.TASKS`` |
    | ``task_kwargs`` | dict | ``{}`` | e.g. ``{"path": "data.npz"}`` for ``npz`` |
    | ``evaluator`` | str | ``"train"`` | ``train`` (real training), ``table``, ``surrogate`` (a fitted model's prediction; ``NAS-Surrogate-v0``'s), ``zero_cost`` (a training-free proxy on one batch of ``task``; a table stays the stand-alone reference), or any in ``nas_gym.evaluators.EVALUATORS`` |
    | ``evaluator_kwargs`` | dict | ``{}`` | training settings: ``epochs``, ``batch_size``, ``optimizer``, ``lr``, ``seed``, ... |
    | ``table`` | str | None | CSV/JSON table file (``evaluator="table"``); for ``nb201`` None means the packaged table of ``dataset`` |
    | ``dataset`` | str | None | ``nb201`` only: the packaged table to read: ``mnist1d`` (None: the embedded MNIST-1D table, columns ``val_accuracy``, ``test_accuracy``, ``latency_ms``), ``cifar10`` or ``cifar100`` (NAS-Bench-201's published results with HW-NAS-Bench latencies; validation ``c100_valid`` / test ``c100_test``, CIFAR-10 ``c10_test`` for both, latency ``lat_fpga_ms``; card: ``nas_gym/data/nb201_cifar.md``) |
    | ``arch_column`` | str | ``"arch_str"`` | table column of arch strings |
    | ``val_column`` | str | None | table column of validation accuracy (% or fraction) |
    | ``test_column`` | str | None | table column of test accuracy |
    | ``latency_column`` | str | None | table column of latency in ms |
    | ``latency`` | str | ``"auto"`` | ``measured`` (this host), ``onnxruntime`` (this host, with onnxruntime; extra ``onnx``), ``op_table`` (per-op table), ``table`` (``latency_column``), ``surrogate`` (the surrogate evaluator's prediction), ``none``, or any in ``nas_gym.latency.LATENCY_MODELS``; ``auto`` = ``table`` with a latency column (the embedded table's ``latency_ms`` included), else ``none`` for tables, ``surrogate`` with the surrogate evaluator and ``measured`` for training; ``requested`` (``NAS-Bench-201-v0``'s) = ``auto``, but the embedded table's latency column only when ``latency_weight``, ``latency_limit_ms`` or ``objectives`` asks for latency |
    | ``latency_kwargs`` | dict | ``{}`` | options of the latency model |
    | ``reward`` | str | ``"hinge"`` | ``hinge``, ``linear``, ``mnasnet``, ``mnasnet_hard`` |
    | ``latency_weight`` | float | None | weight of the latency term; 0 = pure accuracy; None = 0.1 where the env has latency, else 0. A weight > 0 without latency raises ``ConfigError`` |
    | ``latency_target_ms`` | float | None | latency target T in ms; None = the median of the table's latency column, or 0.25 ms for other latency models |
    | ``latency_limit_ms`` | float | None | hard latency limit (see Rewards); needs latency |
    | ``params_limit`` | int | None | hard limit on trainable parameters |
    | ``objectives`` | list of str | None | vector reward of these metrics: ``val_accuracy``, ``latency_ms``, ``params``, ``flops`` |
    | ``cache`` | bool or str | True | persistent evaluation cache: True (user cache dir), False, or a file path |
    | ``invalid_action`` | str | ``"penalty"`` | ``penalty`` or ``raise`` |
    | ``invalid_action_penalty`` | float | -1.0 | reward for an invalid action |
    | ``observation`` | str | ``"multidiscrete"`` | ``multidiscrete`` (choice + 1 per decision) or ``box`` (float32 one-hot of the decisions made) |

    An unknown argument, here or inside one of the ``*_kwargs`` dicts, or a
    value of the wrong type raises :class:`nas_gym.error.ConfigError` naming
    the valid arguments.

    >>> import gymnasium as gym, nas_gym
    >>> env = gym.make("NAS-v0", space_kwargs={"num_layers": 2}, cache=False)
    >>> obs, info = env.reset(seed=0)
    >>> obs.tolist(), int(info["action_mask"].sum()) > 1
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], True)

    ## Version History

    * v0: Initial version. Since the multi-objective release, a latency
      weight, limit or objective that cannot apply raises ``ConfigError``
      (it was silently ignored), on ``NAS-Bench-201-v0`` an explicit one
      turns the embedded table's latency column on, and the final step's
      action mask is the first decision's (it was all False). Since the
      multi-fidelity release, ``reset(options={"epochs": e})`` sets a fidelity
      (no option: the full budget, as before), and other options raise
      ``ConfigError`` (they were ignored).
    * v1 (``NAS-Bench-201-Latency-v0``): the embedded table's latency column is on by
      default, so the default reward has its latency term
      (``latency_weight`` 0.1, target the column's median). ``NAS-v0`` has
      no v1: its reward is unchanged.
    """

    metadata = {"render_modes": ["ansi", "rgb_array", "human"], "render_fps": 4}

    def __init__(
        self,
        space: str = "layers",
        space_kwargs: dict[str, Any] | None = None,
        task: str = "digits",
        task_kwargs: dict[str, Any] | None = None,
        evaluator: str = "train",
        evaluator_kwargs: dict[str, Any] | None = None,
        table: str | os.PathLike | None = None,
        dataset: str | None = None,
        arch_column: str = "arch_str",
        val_column: str | None = None,
        test_column: str | None = None,
        latency_column: str | None = None,
        latency: str = "auto",
        latency_kwargs: dict[str, Any] | None = None,
        reward: str = "hinge",
        latency_weight: float | None = None,
        latency_target_ms: float | None = None,
        latency_limit_ms: float | None = None,
        params_limit: int | None = None,
        objectives: Sequence[str] | None = None,
        cache: bool | str = True,
        invalid_action: str = "penalty",
        invalid_action_penalty: float = -1.0,
        observation: str = "multidiscrete",
        render_mode: str | None = None,
        # Taken (and refused) here so a misspelt argument gets a ConfigError
        # naming the valid ones instead of a bare TypeError from gym.make.
        **unknown: Any,
    ) -> None:
        _check_arguments(unknown, locals())
        if invalid_action not in INVALID_ACTION_MODES:
            raise unknown_name("invalid_action mode", invalid_action, INVALID_ACTION_MODES)
        if observation not in OBSERVATION_MODES:
            raise unknown_name("observation mode", observation, OBSERVATION_MODES)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise unknown_name("render mode", render_mode, self.metadata["render_modes"])
        if render_mode == "human":
            _check_display()
        self.render_mode = render_mode
        self._window: Any = None  # the matplotlib figure of render_mode="human"
        self.invalid_action = invalid_action
        self.invalid_action_penalty = float(invalid_action_penalty)
        self.parts: EnvParts = build_parts(
            space=space, space_kwargs=_kwargs("space_kwargs", space_kwargs), task=task,
            task_kwargs=_kwargs("task_kwargs", task_kwargs), evaluator=evaluator,
            evaluator_kwargs=_kwargs("evaluator_kwargs", evaluator_kwargs), table=table, arch_column=arch_column,
            val_column=val_column, test_column=test_column, latency_column=latency_column, latency=latency,
            latency_kwargs=_kwargs("latency_kwargs", latency_kwargs), reward=reward, latency_weight=latency_weight,
            latency_target_ms=latency_target_ms, cache=cache, dataset=dataset,
            latency_limit_ms=latency_limit_ms, params_limit=params_limit,
            # A list from JSON becomes a tuple; anything else goes as given, for the parts' check to refuse.
            objectives=tuple(objectives) if isinstance(objectives, list) else objectives,
        )
        # An attribute, not a view of parts like the others: step reads it several times per action.
        self.space: SearchSpace = self.parts.space
        self.action_space = gym_spaces.Discrete(self.space.max_choices)
        self.observation_mode = observation
        if observation == "box":
            # Decision k's one-hot block starts at _obs_offsets[k].
            self._obs_offsets = np.concatenate([[0], np.cumsum(self.space.nvec)[:-1]]).astype(np.int64)
            self.observation_space = gym_spaces.Box(0.0, 1.0, (int(np.sum(self.space.nvec)),), np.float32)
        else:
            self.observation_space = gym_spaces.MultiDiscrete(self.space.nvec + 1)
        if self.parts.objectives is not None:
            # MO-Gymnasium's convention: a Box reward space, larger is better in every component.
            low = np.array([-np.inf if OBJECTIVES[o] < 0 else 0.0 for o in self.parts.objectives], np.float32)
            high = np.array([0.0 if OBJECTIVES[o] < 0 else 1.0 for o in self.parts.objectives], np.float32)
            self.reward_space = gym_spaces.Box(low, high, dtype=np.float32)
            self.reward_dim = len(self.parts.objectives)
        self._masks_cache: dict[tuple[int, ...], np.ndarray] = {}
        self._given_metrics: dict[tuple[int, ...], Metrics] = {}
        self._prefix: list[int] = []
        self._fidelity: int | None = None
        self._obs_now = self.observation(())
        self._done = True
        self._update_mask()

    # -- the parts (read-only: build another env to change one) -------------------------
    @property
    def evaluator(self) -> Evaluator:
        """What scores a complete architecture."""
        return self.parts.evaluator

    @property
    def latency_model(self) -> LatencyModel | None:
        """What adds latency the evaluator does not report (None: a table column, or no latency)."""
        return self.parts.latency_model

    @property
    def reward_fn(self) -> Reward:
        """The reward with its latency weight and target."""
        return self.parts.reward

    @property
    def table(self) -> TabularBenchmark | None:
        """The tabular benchmark the env reads, or None."""
        return self.parts.table

    @property
    def cache(self) -> EvalCache | None:
        """The persistent evaluation cache, or None."""
        return self.parts.cache

    @property
    def task(self) -> Task:
        """The task (dataset), loaded on first use so table envs never load one."""
        return self.parts.task

    # -- Gymnasium API ----------------------------------------------------------
    def action_masks(self) -> np.ndarray:
        """Boolean mask over actions for the current decision.

        Once the episode has ended it is the mask of the first decision, the
        one ``reset`` will ask for: a vector env's next step is its autoreset
        step, whose action is ignored, and an agent sampling from a masked
        distribution needs at least one valid action there.
        """
        return self._mask.copy()

    def _update_mask(self) -> None:
        """Compute the current decision's mask once per step (``step`` checks it, ``info`` and agents copy it)."""
        key = () if self._done else tuple(self._prefix)
        mask = self._masks_cache.get(key)
        if mask is None:
            valid = self.space.valid_choices(list(key))
            mask = np.zeros(self.action_space.n, dtype=bool)
            mask[: len(valid)] = valid
            if len(self._masks_cache) < 100_000:
                self._masks_cache[key] = mask
        self._mask = mask

    def observation(self, prefix: Sequence[int]) -> np.ndarray:
        """The observation after the decisions ``prefix`` (see *Observation Space* above).

        ``multidiscrete``: each choice index + 1, then zeros for those not
        made; ``box``: the one-hot blocks of the choices made. This is what
        ``reset`` and ``step`` return; vector envs that score architectures
        elsewhere use it for the final observation.
        """
        if self.observation_mode == "box":
            obs = np.zeros(self.observation_space.shape, dtype=np.float32)
            obs[self._obs_offsets[: len(prefix)] + np.asarray(prefix, dtype=np.int64)] = 1.0
            return obs
        obs = np.zeros(self.space.num_decisions, dtype=np.int64)
        obs[: len(prefix)] = np.asarray(prefix, dtype=np.int64) + 1
        return obs

    def _obs(self) -> np.ndarray:
        # Kept up to date by reset and step (what observation(self._prefix) would build), copied out.
        return self._obs_now.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a new architecture. The env itself is deterministic; ``seed`` seeds ``np_random``.

        ``options={"epochs": e}`` sets the fidelity of this episode's
        architecture: it is trained for the first ``e`` epochs of the
        evaluator's full budget (``evaluator_kwargs["epochs"]``, the largest
        fidelity), continuing from a checkpoint of a lower fidelity where one
        exists; the final ``info`` then carries ``epochs`` and
        ``learning_curve``. Without it the architecture gets the full budget,
        as always. Under a step budget (``evaluator_kwargs["steps"]``, as on
        ``NAS-LM-v0``) ``e`` counts rounds of steps instead: the budget is cut
        into ``evaluator_kwargs["fidelity_rounds"]`` rounds (10 by default),
        and ``info["steps"]`` says how many steps the fidelity trains.

        Raises:
            ConfigError: An unknown option, a fidelity out of 1..full budget,
                or a fidelity on an evaluator that has none (a table, a proxy).
        """
        super().reset(seed=seed)
        self._fidelity = self._check_options(options)
        self._prefix = []
        self._obs_now[:] = 0
        self._done = False
        self._update_mask()
        if self.render_mode == "human":
            self.render()
        return self._obs(), {"action_mask": self.action_masks(), "step": 0}

    def _check_options(self, options: dict[str, Any] | None) -> int | None:
        """The episode's fidelity from ``reset``'s options (None: the evaluator's full budget)."""
        if not options:
            return None
        unknown = [k for k in options if k != "epochs"]
        if unknown:
            raise ConfigError(f"reset() got unknown option(s) {unknown}; the one option is 'epochs' (the fidelity).")
        return self.check_fidelity(options["epochs"])

    def check_fidelity(self, epochs: Any) -> int | None:
        """``epochs`` as a fidelity this env serves (None: the full budget).

        Raises:
            ConfigError: Not an integer in 1..the evaluator's full budget, or the evaluator has no fidelities.
        """
        if epochs is None:
            return None
        most = self.parts.evaluator.max_epochs()
        if most is None:
            raise ConfigError(
                f"reset(options={{'epochs': {epochs!r}}}): the {self.parts.evaluator.name} evaluator has no "
                "fidelities; use evaluator='train' (or a table with per-epoch columns)."
            )
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or not 1 <= epochs <= most:
            raise ConfigError(f"reset(options={{'epochs': ...}}) must be an integer in 1..{most} "
                              f"(the evaluator's full budget), got {epochs!r}.")
        return int(epochs)

    @property
    def fidelity(self) -> int | None:
        """The episode's fidelity in epochs (``reset(options={"epochs": ...})``), or None for the full budget."""
        return self._fidelity

    def step(self, action):
        """Make the next decision; score the architecture after the last one."""
        result = self._step(action)
        if self.render_mode == "human":
            self.render()
        return result

    def _step(self, action):
        if self._done:
            raise EpisodeEndedError("The episode has ended (or never started): call reset() before step().")
        mask = self._mask
        a = _as_action(action, self.action_space.n)
        if not mask[a]:
            return self._invalid(a, mask)
        k = len(self._prefix)
        if self.observation_mode == "box":
            self._obs_now[self._obs_offsets[k] + a] = 1.0
        else:
            self._obs_now[k] = a + 1
        self._prefix.append(a)
        if len(self._prefix) < self.space.num_decisions:
            self._update_mask()
            info = {"action_mask": self.action_masks(), "step": len(self._prefix)}
            return self._obs(), self._step_reward(0.0), False, False, info
        self._done = True
        self._update_mask()
        arch = Architecture(self.space, tuple(self._prefix))
        evaluation = self.score(arch, self._given_metrics.pop(arch.indices, None), epochs=self._fidelity)
        info = {**evaluation.info(), "action_mask": self.action_masks(), "step": len(self._prefix)}
        return self._obs(), self._step_reward(evaluation), True, False, info

    def _step_reward(self, paid: float | Evaluation) -> float | np.ndarray:
        """The reward ``step`` returns: the scalar, or with ``objectives`` the vector (0 before the last step)."""
        objectives = self.parts.objectives
        if objectives is None:
            return paid.reward if isinstance(paid, Evaluation) else paid
        if not isinstance(paid, Evaluation):
            return np.full(len(objectives), paid, dtype=np.float32)
        return objective_matrix([paid.info()], objectives)[0].astype(np.float32)

    def _invalid(self, action: int, mask: np.ndarray):
        k = len(self._prefix)
        decision = self.space.decisions[k]
        valid = [f"{i}={decision.choices[i]}" for i in np.flatnonzero(mask)]
        msg = (
            f"Action {action} is invalid at step {k} (decision {decision.name!r}); "
            f"valid actions: {', '.join(valid)}. Use info['action_mask'] or env.action_masks()."
        )
        if self.invalid_action == "raise":
            raise InvalidActionError(msg)
        self._done = True
        self._update_mask()
        info = {"action_mask": self.action_masks(), "step": k, "invalid_action": True, "message": msg}
        return self._obs(), self._step_reward(self.invalid_action_penalty), True, False, info

    def score(self, arch: Architecture, metrics: Metrics | None = None, *, epochs: int | None = None) -> Evaluation:
        """Score a complete architecture: evaluate it (unless ``metrics`` are given), add latency, pay the reward.

        This is what the last ``step`` calls, and the one scoring hook for
        results measured elsewhere: a resumed run's recorded metrics, a remote
        worker's. Agents should use ``step``.

        Args:
            arch: A complete architecture of :attr:`space`.
            metrics: What an evaluation of ``arch`` already measured; None
                evaluates it with :attr:`evaluator`.
            epochs: The fidelity to evaluate at (see :meth:`reset`); None: the full budget.

        Returns:
            The :class:`~nas_gym.env.evaluation.Evaluation` the final ``info`` is built from.
        """
        parts = self.parts
        if metrics is None:
            metrics = parts.evaluator.evaluate(arch) if epochs is None else parts.evaluator.evaluate_at(arch, epochs)
        if metrics.latency_ms is None and parts.latency_model is not None:
            metrics.latency_ms = parts.latency_model.latency_ms(arch)
        reward = parts.reward(metrics.val_accuracy, metrics.latency_ms)
        penalty = float(metrics.val_accuracy - reward)
        violation = self._violation(metrics)
        if violation > 0:
            # Below every feasible architecture that earns a non-negative reward, and graded, so a learning
            # agent is pulled back inside the limits.
            reward = min(reward, 0.0) - violation
        return Evaluation.of(str(arch), metrics, reward, penalty, violation)

    def _violation(self, metrics: Metrics) -> float:
        """Summed relative excess over the hard limits (0 inside them)."""
        parts, violation = self.parts, 0.0
        if parts.latency_limit_ms is not None and metrics.latency_ms is not None:
            violation += max(0.0, metrics.latency_ms / parts.latency_limit_ms - 1.0)
        if parts.params_limit is not None:
            violation += max(0.0, metrics.params / parts.params_limit - 1.0)
        return violation

    def hypervolume_reference(self) -> dict[str, Any] | None:
        """The reference point of this env's hypervolumes: a table's median accuracy and 90th-percentile latency.

        None for envs without a latency column (the caller picks one).
        """
        table = self.parts.table
        if table is None or table.roles["latency"] is None:
            return None
        return {"val_accuracy": float(np.median(table.column(table.roles["val"]))),
                "latency_ms": float(np.percentile(table.column(table.roles["latency"]), 90)),
                "source": f"table {table.path.name}: median accuracy, 90th-percentile latency"}

    def pareto_front(self, gamma: float = 1.0, objectives: Sequence[str] | None = None) -> np.ndarray:
        """The true Pareto front of a table env: the non-dominated objective vectors of every table row.

        MO-Gymnasium's signature (``pareto_front(gamma)``, which morl-baselines
        passes on as ``known_pareto_front``): the front of the discounted
        vector returns. The vector reward comes on an episode's last step
        (step ``num_decisions``), so a return is ``gamma ** (num_decisions - 1)``
        times the objective vector; ``gamma=1`` gives the objectives themselves.
        One row per point (iterating gives one array per point, as
        MO-Gymnasium's list does), components in the order of ``objectives``
        (default: the env's ``objectives``, else validation accuracy and
        latency) and signed like the vector reward (larger is better:
        latency, params and FLOPs negated). Hard limits are ignored (the front
        of the whole table).

        Args:
            gamma: The discount factor of the returns, in (0, 1].
            objectives: The objectives' names (see :data:`nas_gym.multi_objective.pareto.OBJECTIVES`).

        Raises:
            ConfigError: ``gamma`` out of (0, 1], the env has no table, or the
                table lacks a column an objective needs.
        """
        if isinstance(gamma, (list, tuple)) and objectives is None:
            # Before MO-Gymnasium's signature, the objectives came first; such calls keep working.
            warnings.warn("pareto_front(objectives) is now pareto_front(gamma=1.0, objectives=...); pass "
                          "objectives by keyword.", DeprecationWarning, stacklevel=2)
            gamma, objectives = 1.0, gamma
        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0.0 < gamma <= 1.0:
            raise ConfigError(f"pareto_front(gamma) needs a discount factor in (0, 1], got {gamma!r}.")
        table = self.parts.table
        names = tuple(objectives or self.parts.objectives or ACCURACY_LATENCY)
        if table is None:
            raise ConfigError("pareto_front() needs a table env (its every row); this env trains architectures.")
        columns = {"val_accuracy": table.roles["val"], "latency_ms": table.roles["latency"],
                   "params": "params" if "params" in table.columns else None,
                   "flops": "flops" if "flops" in table.columns else None}
        missing = [n for n in names if columns[n] is None]
        if missing:
            raise ConfigError(f"pareto_front() needs the table's {', '.join(missing)} "
                              f"(pass {'latency_column=...' if 'latency_ms' in missing else 'a table with it'}).")
        points = np.column_stack([OBJECTIVES[n] * np.asarray(table.column(columns[n]), float) for n in names])
        points = np.unique(points, axis=0)
        return points[pareto_indices(points)] * float(gamma) ** (self.space.num_decisions - 1)

    def score_next_from(self, metrics: Metrics, actions: Sequence[int]) -> None:
        """Score the architecture ``actions`` from ``metrics`` when an episode next completes it.

        The final ``step`` that builds ``actions`` then calls
        ``score(arch, metrics)`` instead of evaluating: a resumed run replays
        its recorded evaluations through ``step`` this way, so an RL agent sees
        the very rewards it saw before and nothing is trained again.
        """
        self._given_metrics[tuple(int(a) for a in actions)] = metrics

    def render(self) -> str | np.ndarray | None:
        """Show the architecture built so far, the decision just made highlighted.

        ``ansi``: the decisions as ``name=choice`` pairs. ``rgb_array``: a
        ``400 x 640 x 3`` ``uint8`` picture of the network, as the space draws
        it (:meth:`SearchSpace.draw`: the NB201 cell as a DAG, the layer
        stack, the recurrent cell), one frame per step for
        Gymnasium's ``RecordVideo``; after the last step it shows the complete
        network until ``reset``. ``human``: that picture in a matplotlib
        window, redrawn on every ``reset`` and ``step`` (returns None).
        """
        if self.render_mode == "ansi":
            parts = [f"{d.name}={d.choices[i]}" for d, i in zip(self.space.decisions, self._prefix, strict=False)]
            return " ".join(parts) if parts else "(no decisions yet)"
        if self.render_mode not in ("rgb_array", "human"):
            return None
        k = len(self._prefix)
        title = f"{self.spec.id}  ·  {self.space.name}" if self.spec is not None else self.space.name
        frame = self.space.draw(self._prefix, highlight=k - 1 if k else None, title=title)
        if self.render_mode == "rgb_array":
            return frame
        self._show(frame)
        return None

    def _show(self, frame: np.ndarray) -> None:
        """Draw ``frame`` in this env's window (opened on first use) and let the GUI paint it."""
        import matplotlib.pyplot as plt

        if self._window is None or not plt.fignum_exists(self._window[0].number):
            fig, ax = plt.subplots(figsize=(frame.shape[1] / 100, frame.shape[0] / 100), dpi=100)
            ax.set_axis_off()
            fig.subplots_adjust(0, 0, 1, 1)
            self._window = (fig, ax.imshow(frame))
        else:
            self._window[1].set_data(frame)
        plt.pause(1 / self.metadata["render_fps"])

    def close(self) -> None:
        """Close the evaluation cache connection and the ``human`` window."""
        if self._window is not None:
            import matplotlib.pyplot as plt

            plt.close(self._window[0])
            self._window = None
        self.parts.close()



def _check_display() -> None:
    """Refuse ``render_mode="human"`` where matplotlib can open no window (no display, or a file-only backend)."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "template") or backend.startswith("module://matplotlib_inline"):
        raise ConfigError(f"render_mode='human' needs a window, but matplotlib's backend here is {backend!r} (no "
                          "display): use render_mode='rgb_array' and save or record the frames (RecordVideo).")


def _as_action(action: Any, n: int) -> int:
    """The integer in ``0..n-1`` an action stands for; anything outside the action space raises."""
    if type(action) is int or isinstance(action, np.integer):  # the common case, on every step
        if 0 <= action < n:
            return int(action)

    def problem() -> InvalidActionError:
        return InvalidActionError(f"Action must be an integer in 0..{n - 1} (the action space Discrete({n}); "
                                  f"e.g. int or np.int64), got {action!r}.")

    if isinstance(action, (str, bytes)):
        raise problem()
    if isinstance(action, np.ndarray):  # a one-element array, as vectorised agents give
        if action.size != 1 or action.dtype.kind not in "biuf":
            raise problem()
        action = action.reshape(()).item()
    try:
        a = int(action)
        # int() truncates 1.5 and accepts numeric strings inside arrays; only
        # values equal to their integer (np.int64(2), 2.0, array([2])) count.
        integral = bool(action == a)
    except (TypeError, ValueError, OverflowError) as e:
        raise problem() from e
    if not integral or not 0 <= a < n:
        raise problem()
    return a


def _kwargs(name: str, value: Any) -> dict[str, Any]:
    """A ``*_kwargs`` argument as a dict with string keys (None is empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigError(
            f"{name} must be a dict of keyword arguments with string keys, such as {_KWARGS_EXAMPLES[name]}; "
            f"got {value!r}."
        )
    return dict(value)


def _check_arguments(unknown: dict[str, Any], given: dict[str, Any]) -> None:
    """Refuse unknown arguments and values of the wrong type before anything is built."""
    params = [p for p in inspect.signature(NASEnv.__init__).parameters if p not in ("self", "unknown")]
    for key in unknown:
        raise ConfigError(
            f"NASEnv got an unknown argument {key!r}.{did_you_mean(key, params)} Valid arguments: {', '.join(params)}."
        )
    for name in _STRING_ARGS + _OPTIONAL_STRING_ARGS:
        value = given[name]
        if not (isinstance(value, str) or (value is None and name in _OPTIONAL_STRING_ARGS)):
            expected = "a string or None" if name in _OPTIONAL_STRING_ARGS else "a string"
            raise ConfigError(f"{name} must be {expected}, got {value!r}.")
    if given["table"] is not None and not isinstance(given["table"], (str, os.PathLike)):
        raise ConfigError(f"table must be a file path (string) or None, got {given['table']!r}.")
    for name in ("latency_weight", "latency_target_ms", "latency_limit_ms", "invalid_action_penalty"):
        value = given[name]
        if value is None and name != "invalid_action_penalty":
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}.")
    if given["latency_limit_ms"] is not None and not given["latency_limit_ms"] > 0:
        raise ConfigError(f"latency_limit_ms must be > 0 (milliseconds), got {given['latency_limit_ms']!r}.")
    limit = given["params_limit"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1):
        raise ConfigError(f"params_limit must be an integer ≥ 1 (trainable parameters), got {limit!r}.")
