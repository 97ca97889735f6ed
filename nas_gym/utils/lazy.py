"""Lazy re-exports for a package's ``__init__`` (PEP 562), so that importing a package stays light.

Also :func:`moved_names`, the same hook for names that moved to another module: they still read, with a
``DeprecationWarning`` (the whole old modules of 0.1 are :mod:`nas_gym._deprecated`'s).

A package names where each public name lives; the module is imported on first access. ``nas_gym.search``
re-exports :class:`~nas_gym.search.run.SearchRun` this way without importing torch or the env when a
method only needs :class:`~nas_gym.search.searcher.Searcher`.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, homes: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``homes[name]`` when ``name`` is first read.

    Args:
        package: The package's ``__name__`` (for the error message).
        homes: Public name -> the module that defines it.

    Returns:
        The pair to assign to the package's ``__getattr__`` and ``__dir__``.
    """

    def __getattr__(name: str) -> Any:
        if name in homes:
            return getattr(importlib.import_module(homes[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(homes)

    return __getattr__, __dir__


def moved_names(module: str, home: str, names: tuple[str, ...]) -> Any:
    """``__getattr__`` for ``module``, whose ``names`` moved to ``home``: each still reads, with a warning.

    The spaces' torch modules (``nas_gym.spaces.nb201.Cell``, ...) moved to :mod:`nas_gym.networks`, so that
    a space imports no torch; ``from nas_gym.spaces.nb201 import Cell`` keeps working for one release.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            warnings.warn(f"{module}.{name} is deprecated and will be removed in the next release; import it "
                          f"from {home} instead.", DeprecationWarning, stacklevel=2)
            return getattr(importlib.import_module(home), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
