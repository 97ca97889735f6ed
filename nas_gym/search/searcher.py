"""The search-method protocol (:class:`Searcher`), the methods by name, and :func:`run_search`.

Methods are found through the entry-point group ``nas_gym.searchers``, which
``pyproject.toml`` declares for ``agents/`` and ``baselines/``, so a user's
own package can add one that the CLI and the benchmark pick up.
"""

from __future__ import annotations

import abc
import dataclasses
import os
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from nas_gym.search.budget import Budget
from nas_gym.utils.hparams import SearcherSettings, from_kwargs

if TYPE_CHECKING:
    from nas_gym.search.pools import EvaluationPool
    from nas_gym.search.run import SearchRun

T = TypeVar("T")


def draw_until(draw: Callable[[], T], accept: Callable[[T], bool], redraws: int) -> T:
    """``draw()``, drawn again up to ``redraws`` times until ``accept`` takes it; the last draw if none is.

    The dedup of evolution-like methods: redraw a child or sample whose
    canonical form was already evaluated, but give up after ``redraws``
    (a small or converged space may have nothing new to offer).

    >>> values = iter([1, 1, 2, 3])
    >>> draw_until(lambda: next(values), lambda v: v > 1, redraws=5)
    2
    """
    value = draw()
    for _ in range(redraws):
        if accept(value):
            break
        value = draw()
    return value


def submit_while_free(
    run: SearchRun,
    propose: Callable[[], Any],
    in_flight: deque,
    seen: set,
    canonical: Callable[[Any], Any],
    start_filling: Callable[[], bool],
) -> None:
    """Propose and submit architectures until the oldest result must be collected (evolution-like methods).

    One in flight per worker; with several workers, also every member of a
    random start still to fill (``start_filling()``) at once: those depend on
    no result, so a worker done early takes the next instead of waiting for an
    older, slower evaluation to be recorded. Each submitted architecture joins
    ``in_flight`` (results come back in that order) and its canonical form ``seen``.
    """
    while run.pending < run.remaining and (run.pending < run.workers or (run.workers > 1 and start_filling())):
        arch = propose()
        run.submit(arch)
        in_flight.append(arch)
        seen.add(canonical(arch))


class Searcher(abc.ABC):
    """A search method. Subclasses take their hyperparameters as keyword arguments.

    A method declares them as a frozen dataclass, :attr:`Settings`, with one
    field, one docstring line and one check per hyperparameter (see
    :mod:`nas_gym.utils.hparams`); ``__init__`` builds :attr:`settings` from the
    keyword arguments and :meth:`hparams` reports them. Each setting also
    reads as an attribute (``searcher.lr`` is ``searcher.settings.lr``),
    read-only: build a new searcher to change one.

    Register one for the CLI under the entry-point group ``nas_gym.searchers``.

    Raises:
        ConfigError: An unknown hyperparameter (with a did-you-mean) or a value out of range.

    Attributes:
        settings: The checked hyperparameters.
    """

    #: Name under which the method is registered.
    name: str = "searcher"
    #: The dataclass of the method's hyperparameters.
    Settings: ClassVar[type[SearcherSettings]] = SearcherSettings

    def __init__(self, **hparams: Any):
        owner = self.Settings.owner or type(self).__name__
        self.settings = from_kwargs(self.Settings, hparams, owner=owner)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: a setting's name reads its value.
        settings = self.__dict__.get("settings")
        if settings is not None and name in _field_names(settings):
            return getattr(settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        settings = self.__dict__.get("settings")
        if settings is not None and name in _field_names(settings):
            raise AttributeError(
                f"{type(self).__name__}.{name} is a hyperparameter and read-only; "
                f"build a new {type(self).__name__}({name}=...) instead."
            )
        super().__setattr__(name, value)

    def hparams(self) -> dict[str, Any]:
        """The method's hyperparameters (plain data: tuples become lists in JSON), for logs and ``run.json``."""
        return dataclasses.asdict(self.settings)

    @abc.abstractmethod
    def search(self, run: SearchRun) -> None:
        """Evaluate architectures through ``run`` until ``run.done``."""


def _field_names(settings: SearcherSettings) -> set[str]:
    return {f.name for f in dataclasses.fields(settings)}


def available_searchers() -> dict[str, Any]:
    """Search methods registered under the entry-point group ``nas_gym.searchers``."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="nas_gym.searchers")}


def searcher_families() -> dict[str, Any]:
    """Families of search methods named ``FAMILY:MEMBER`` (entry-point group ``nas_gym.searcher_families``).

    A family's entry point is a function of the member's name that returns a
    searcher class, e.g. ``sb3`` gives ``sb3:A2C`` (any algorithm of
    stable-baselines3 as a search method).
    """
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="nas_gym.searcher_families")}


def load_searcher(name: str | type[Searcher]) -> type[Searcher]:
    """The searcher class registered as ``name``, or of a family's member ``FAMILY:MEMBER`` (``sb3:DQN``).

    A :class:`Searcher` subclass is returned as it is, so that code which
    takes a method by name (the benchmark) also takes a user's own class.

    Raises:
        ConfigError: Unknown name or family; the message lists the known ones.
    """
    from nas_gym.error import unknown_name

    if isinstance(name, type) and issubclass(name, Searcher):
        return name
    if not isinstance(name, str):
        raise unknown_name("agent", repr(name), available_searchers())
    if ":" in name:
        family, member = name.split(":", 1)
        families = searcher_families()
        if family not in families:
            from nas_gym.error import ConfigError, did_you_mean

            raise ConfigError(f"Unknown family {family!r} in agent {name!r}.{did_you_mean(family, families)} "
                              f"Known families: {', '.join(sorted(families))} (e.g. sb3:A2C).")
        return families[family].load()(member)
    found = available_searchers()
    if name not in found:
        raise unknown_name("agent", name, [*found, *(f"{f}:<Algorithm>" for f in searcher_families())])
    return found[name].load()


def agent_name(agent: str | type[Searcher]) -> str:
    """The name a method is recorded and filed under: its name, or a class's ``name`` attribute."""
    return agent if isinstance(agent, str) else str(agent.name)


def run_search(
    agent: str | type[Searcher],
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    *,
    budget: int | Budget = 100,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    agent_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
    workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    pool: EvaluationPool | None = None,
) -> dict[str, Any]:
    """Run the search method ``agent`` on an env and return the run's summary.

    This is what ``nas-gym search`` calls. ``workers``, ``backend``,
    ``ray_address`` and ``pool`` set up parallel evaluation (see
    :class:`~nas_gym.search.run.SearchRun`); a given ``pool`` is closed when the search ends,
    also when it fails.
    """
    from nas_gym.search.run import SearchRun  # the run imports the env stack; a method class need not

    try:
        searcher = load_searcher(agent)(**(agent_kwargs or {}))
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    run = SearchRun(
        env_id, env_kwargs, agent=agent_name(agent), seed=seed, budget=budget, out_dir=out_dir,
        hparams=searcher.hparams(), progress=progress, workers=workers, backend=backend, ray_address=ray_address,
        pool=pool,
    )
    try:
        searcher.search(run)
    finally:
        summary = run.close()
    return summary
