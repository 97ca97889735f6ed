"""Registries of parts by name, and the one checker of keyword arguments.

Spaces, tasks, evaluators, latency models and rewards are each a
:class:`Registry` that lives beside what it registers
(:data:`nas_gym.spaces.SPACES`, :data:`nas_gym.tasks.base.TASKS`,
:data:`nas_gym.evaluators.EVALUATORS`, :data:`nas_gym.latency.LATENCY_MODELS`,
:data:`nas_gym.rewards.REWARDS`). The env asks them for its parts by the
names it is given, so a new part is one class plus one ``register`` line,
and every method, the CLI and the benchmark pick it up.

A part in another package registers itself through an entry point of the
registry's group (``nas_gym.spaces``, ``nas_gym.tasks.base``,
``nas_gym.evaluators``, ``nas_gym.latency_models``, ``nas_gym.rewards``):
the entry point's name is the part's name and its object the factory, loaded
the first time a name is looked up that nothing registered. So a new
evaluator in ``my_pkg`` reaches ``nas-gym search`` and every worker process
with one line in its ``pyproject.toml``::

    [project.entry-points."nas_gym.evaluators"]
    params = "my_pkg.evaluators:params_factory"

>>> reg = Registry("colour")
>>> @reg.register("red")
... def red(shade: int = 1) -> str:
...     return f"red{shade}"
>>> reg.make("red", {"shade": 2})
'red2'
>>> reg.make("rde", {})
Traceback (most recent call last):
  ...
nas_gym.error.ConfigError: Unknown colour 'rde'. Did you mean 'red'? Known colours: red.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nas_gym.error import ConfigError, did_you_mean, unknown_name

T = TypeVar("T")


def check_kwargs(
    what: str, fn: Callable[..., Any], kwargs: Mapping[str, Any], fixed: tuple[str, ...] = ()
) -> None:
    """Refuse keys of ``kwargs`` that ``fn`` does not take, or that the caller sets itself (``fixed``).

    Args:
        what: How the message names the arguments (``"evaluator_kwargs"``, ``"Space 'layers'"``).
        fn: The function or class the arguments are for.
        kwargs: The user's arguments.
        fixed: Parameters of ``fn`` the caller passes itself.

    Raises:
        ConfigError: For the first unknown key; the message lists the valid ones.
    """
    params = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", *fixed)
    ]
    for key in kwargs:
        if key not in params:
            where = " (the env sets it)" if key in fixed else ""
            raise ConfigError(
                f"{what} has no argument {key!r}{where}.{did_you_mean(key, params)} "
                f"Valid arguments: {', '.join(params) or '(none)'}."
            )


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered part: how to build it, and which signature its user arguments are checked against.

    Attributes:
        factory: Called as ``factory(*context, **kwargs)``.
        takes: The callable whose parameters the user's kwargs must be
            (the factory itself when None; a ``"module:attr"`` string is
            imported when first needed, so registering costs no import).
        fixed: Parameters of ``takes`` that the factory fills in itself.
    """

    factory: Callable[..., T]
    takes: Callable[..., Any] | str | None = None
    fixed: tuple[str, ...] = ()

    def signature_of(self) -> Callable[..., Any]:
        """The callable the kwargs are checked against."""
        if isinstance(self.takes, str):
            module, attr = self.takes.split(":")
            return getattr(importlib.import_module(module), attr)
        return self.factory if self.takes is None else self.takes


class Registry(Generic[T]):
    """Parts of one kind (``"space"``, ``"evaluator"``, ...) by name.

    A factory that takes context from the caller (the env's parts) takes it
    as positional-only parameters (``def factory(parts, /, **kwargs)``), so
    the user's kwargs are never checked against it.

    Args:
        kind: What the parts are, for messages (``Unknown evaluator 'x'``).
        group: Entry-point group whose entries register parts of other packages.
    """

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry[T]] = {}
        self._plugins_loaded = group is None

    def register(
        self, name: str, factory: Callable[..., T] | None = None, *, takes: Callable[..., Any] | str | None = None,
        fixed: tuple[str, ...] = (),
    ) -> Any:
        """Register ``factory`` as ``name``; without ``factory``, a decorator that does.

        Raises:
            ConfigError: ``name`` is already registered.
        """

        def add(f: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ConfigError(f"A {self.kind} named {name!r} is already registered.")
            self._entries[name] = Entry(f, takes, fixed)
            return f

        return add if factory is None else add(factory)

    def _load_plugins(self) -> None:
        """Register the entry points of :attr:`group` not registered yet (once)."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            if ep.name not in self._entries:
                self._entries[ep.name] = Entry(ep.load())

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._load_plugins()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._load_plugins()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"

    def entry(self, name: str) -> Entry[T]:
        """The entry registered as ``name``.

        Raises:
            ConfigError: Unknown name; the message lists the known ones.
        """
        if name not in self:
            raise unknown_name(self.kind, name, self._entries)
        return self._entries[name]

    def check(self, name: str, kwargs: Mapping[str, Any], what: str | None = None) -> Entry[T]:
        """The entry of ``name`` after checking ``kwargs`` against it (see :func:`check_kwargs`)."""
        entry = self.entry(name)
        check_kwargs(what or f"{self.kind.capitalize()} {name!r}", entry.signature_of(), kwargs, entry.fixed)
        return entry

    def make(self, name: str, kwargs: Mapping[str, Any], *context: Any, what: str | None = None) -> T:
        """Build part ``name`` from the user's ``kwargs`` (checked first) and the caller's ``context``.

        Args:
            name: Registered name.
            kwargs: The user's plain-data arguments.
            *context: Positional arguments the factory takes before them (e.g. the env's parts).
            what: How error messages name ``kwargs`` (default ``"<Kind> '<name>'"``).

        Raises:
            ConfigError: Unknown name or argument.
        """
        return self.check(name, kwargs, what).factory(*context, **kwargs)
