"""The search run: what a method drives and what a run leaves behind.

- :mod:`~nas_gym.search.run`: :class:`~nas_gym.search.run.SearchRun` (budget, history, best so far), with its
  parts: :mod:`~nas_gym.search.resume` (replaying an interrupted run's history),
  :mod:`~nas_gym.search.summary` (the running tally, the Pareto front) and :mod:`~nas_gym.search.episodes`
  (the ``run.env`` wrapper that records what a method's own env loop evaluates).
- :mod:`~nas_gym.search.searcher`: :class:`~nas_gym.search.searcher.Searcher`, the base class of every method,
  the helpers methods share, the methods by name, and :func:`~nas_gym.search.searcher.run_search`, the one
  call the CLI and the benchmark make; :mod:`~nas_gym.search.budget`: evaluations and seconds.
- :mod:`~nas_gym.search.folder` and :mod:`~nas_gym.search.logger`: the run folder (``history.jsonl``,
  ``summary.json``) and its TensorBoard logger.
- :mod:`~nas_gym.search.pools` and :mod:`~nas_gym.search.queue`: evaluations in parallel (local processes, Ray)
  and the queue that keeps them in order.
- :mod:`~nas_gym.search.optuna_space`: an env's space driven from your own Optuna study
  (:func:`~nas_gym.search.optuna_space.suggest_architecture`, :func:`~nas_gym.search.optuna_space.objective`);
  ``tpe``, ``nsga2``, ``asha`` and ``bohb`` build on it.
- helpers some methods use: :mod:`~nas_gym.search.prefilter`, :mod:`~nas_gym.search.reward_memory`,
  :mod:`~nas_gym.search.weight_sharing`.
"""

from nas_gym.utils.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "SearchRun": "nas_gym.search.run",
    "run_search": "nas_gym.search.searcher",
    "Searcher": "nas_gym.search.searcher",
    "load_searcher": "nas_gym.search.searcher",
    "available_searchers": "nas_gym.search.searcher",
    "Budget": "nas_gym.search.budget",
    "RunFolder": "nas_gym.search.folder",
})
__all__ = ["Budget", "RunFolder", "SearchRun", "Searcher", "available_searchers", "load_searcher", "run_search"]
