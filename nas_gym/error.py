"""The one small error hierarchy of nas_gym.

Every error raised for user input is a :class:`NASGymError`, so callers can
catch them all at once. Messages say what was expected, what was given and
how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NASGymError(Exception):
    """Base class of every error nas_gym raises on purpose."""


class ConfigError(NASGymError, ValueError):
    """An argument has an unknown name or an impossible value."""


class ArchitectureError(NASGymError, ValueError):
    """An architecture string or index tuple does not belong to its space."""


class InvalidActionError(NASGymError, ValueError):
    """An action is out of range or masked at this step of the episode."""


class EpisodeEndedError(NASGymError, RuntimeError):
    """``step`` was called after the episode ended, without ``reset``."""


class DataError(NASGymError, ValueError):
    """A dataset or table file is missing, malformed or inconsistent."""


class CacheError(NASGymError, RuntimeError):
    """The evaluation cache file is corrupt, foreign or unusable."""


class MissingDependencyError(NASGymError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


def did_you_mean(given: str, known: Iterable[str]) -> str:
    """Return a ``" Did you mean 'x'?"`` hint, or an empty string."""
    close = difflib.get_close_matches(str(given), list(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_name(kind: str, given: str, known: Iterable[str]) -> ConfigError:
    """Build the standard error for an unknown name (op, task, reward, ...)."""
    known = sorted(known)
    return ConfigError(
        f"Unknown {kind} {given!r}.{did_you_mean(given, known)} Known {kind}s: {', '.join(known)}."
    )
