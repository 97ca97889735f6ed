"""Lazy re-exports for a package's ``__init__`` (PEP 562), so that importing a package stays light.

A package names where each public name lives; the module is imported on first access. ``nas_gym.search``
re-exports :class:`~nas_gym.search.run.SearchRun` this way without importing torch or the env when a
method only needs :class:`~nas_gym.search.searcher.Searcher`.
"""

from __future__ import annotations

import importlib
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
