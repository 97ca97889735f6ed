"""Multi-objective search.

Pareto fronts and hypervolume (:mod:`~nas_gym.multi_objective.pareto`), scalarising
a vector reward (:mod:`~nas_gym.multi_objective.scalarization`) and the predictor screen that picks which
children a Pareto method evaluates (:mod:`~nas_gym.multi_objective.screen`).
"""

from nas_gym.utils.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "OBJECTIVES": "nas_gym.multi_objective.pareto",
    "hypervolume": "nas_gym.multi_objective.pareto",
    "pareto_front": "nas_gym.multi_objective.pareto",
    "pareto_indices": "nas_gym.multi_objective.pareto",
    "non_dominated_sort": "nas_gym.multi_objective.pareto",
    "Scalarizer": "nas_gym.multi_objective.scalarization",
    "ParetoScreen": "nas_gym.multi_objective.screen",
})
__all__ = ["OBJECTIVES", "ParetoScreen", "Scalarizer", "hypervolume", "non_dominated_sort", "pareto_front",
           "pareto_indices"]
