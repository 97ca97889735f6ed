"""A search space as Optuna parameters, for the methods that drive Optuna (TPE, NSGA-II).

:func:`suggest_indices` asks an Optuna trial for one valid architecture of a
:class:`~nas_gym.spaces.SearchSpace`. When the env has hard limits
(:func:`has_limits`), each trial carries the evaluation's violation of them
(:func:`constraint_violation`) as the Optuna constraint :data:`CONSTRAINT`,
set with ``trial.set_constraint`` before the trial is told (Optuna 5's
replacement of the samplers' deprecated ``constraints_func``; a value > 0
is infeasible).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_gym.spaces import SearchSpace

if TYPE_CHECKING:
    import optuna

    from nas_gym.env.parts import EnvParts

#: Name of the one constraint the Optuna methods set on a trial (the env's ``constraint_violation``).
CONSTRAINT = "constraint_violation"


def suggest_indices(trial: optuna.trial.BaseTrial, space: SearchSpace) -> tuple[int, ...]:
    """Ask ``trial`` for one architecture, decision by decision, respecting the space's masks.

    Optuna fixes a parameter's distribution per name, while a masked space
    allows different choices after different prefixes. Each decision is
    therefore a conditional parameter whose name says which choices it ranges
    over: the decision's name when all its choices are valid (always, in
    NB201), ``"{name}[{valid choices}]"`` for a partial mask, and no parameter
    at all when only one choice is valid (a don't-care decision). Suggested
    values are always valid, so nothing needs repairing, and the sampler never
    learns from values the env would refuse.

    Args:
        trial: An Optuna trial (from ``study.ask()``).
        space: The search space.

    Returns:
        Choice indices of a valid architecture (the env's actions).
    """
    prefix: list[int] = []
    for decision in space.decisions:
        valid = np.flatnonzero(space.valid_choices(prefix))
        if len(valid) == 1:
            prefix.append(int(valid[0]))
            continue
        name = decision.name
        if len(valid) < decision.n:
            name = f"{name}[{','.join(decision.choices[j] for j in valid)}]"
        prefix.append(int(trial.suggest_categorical(name, [int(j) for j in valid])))
    return tuple(prefix)


def has_limits(parts: EnvParts) -> bool:
    """Whether the env has hard limits (``latency_limit_ms``, ``params_limit``), so trials carry a constraint."""
    return parts.latency_limit_ms is not None or parts.params_limit is not None


def constraint_violation(info: Mapping[str, Any]) -> float:
    """How far an evaluation is beyond the env's hard limits, as an Optuna constraint (> 0: infeasible).

    The env's ``constraint_violation`` (≥ 0, 0 when feasible); 0 for an
    ``info`` without the key (written before hard limits existed).

    >>> constraint_violation({"feasible": False, "constraint_violation": 0.25})
    0.25
    >>> constraint_violation({"val_accuracy": 0.9})
    0.0
    """
    return max(float(info.get(CONSTRAINT) or 0.0), 0.0)
