"""Settings of a method as a frozen dataclass: each setting is one field, one docstring line and one check.

In the style of CleanRL's ``Args``, a settings class spells every setting
once::

    @dataclasses.dataclass(frozen=True)
    class ReinforceSettings(Settings):
        owner = "Reinforce"

        lr: float = setting(0.02, positive, hint="The literature uses 3.5e-4.")
        '''Adam learning rate.'''

Building an instance runs every field's :class:`Check`, stores the value it
converts to (``float`` for numbers, ``int`` for integers, a tuple for a
list) and then :meth:`Settings.validate`, for rules that tie several fields
together. A refused value raises :class:`~nas_gym.error.ConfigError` with
what was expected, what was given and how to fix it;
:func:`from_kwargs` also refuses unknown names, with a did-you-mean. The
values are plain data (numbers, strings, booleans, None, tuples), so
``dataclasses.asdict`` of an instance is ready for JSON.

>>> import dataclasses
>>> @dataclasses.dataclass(frozen=True)
... class Demo(Settings):
...     owner = "Demo"
...     size: int = setting(3, positive_int)
>>> Demo(size=4).size
4
>>> from_kwargs(Demo, {"sise": 4})
Traceback (most recent call last):
    ...
nas_gym.error.ConfigError: Demo has no setting 'sise'. Did you mean 'size'? Valid settings: size.
>>> Demo(size=0)
Traceback (most recent call last):
    ...
nas_gym.error.ConfigError: Demo size must be an integer ≥ 1, got 0. The default is 3.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from nas_gym.error import ConfigError, did_you_mean

S = TypeVar("S", bound="Settings")


def _same(value: Any) -> Any:
    return value


@dataclasses.dataclass(frozen=True)
class Check:
    """A setting's validator: which values it accepts, and the value it stores for one.

    Attributes:
        expected: What it accepts, as the end of "must be ...", e.g. ``"> 0"``.
        accepts: True for an acceptable value; never raises.
        convert: The value to store for an accepted one (e.g. ``float``).
    """

    expected: str
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any] = _same


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def _bounds(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '≥'} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '≤'} {hi:g}"
    return "a finite number"


def _within(value: float, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> bool:
    above = lo is None or (value > lo if lo_open else value >= lo)
    below = hi is None or (value < hi if hi_open else value <= hi)
    return above and below


def in_range(
    lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False
) -> Check:
    """A finite number between ``lo`` and ``hi`` (closed bounds unless ``*_open``), stored as a float."""
    return Check(
        _bounds(lo, hi, lo_open, hi_open),
        lambda v: _is_real(v) and _within(v, lo, hi, lo_open, hi_open),
        float,
    )


def integer(lo: int | None = None, hi: int | None = None) -> Check:
    """An integer (not a bool) in ``[lo, hi]``, stored as a Python int."""
    bounds = _bounds(lo, hi, False, False)
    return Check(
        f"an integer {bounds}" if lo is not None or hi is not None else "an integer",
        lambda v: _is_int(v) and _within(v, lo, hi, False, False),
        int,
    )


def one_of(*choices: Any) -> Check:
    """One of ``choices``, of the same type too (so ``True`` is not ``1``)."""
    return Check(
        f"one of {', '.join(map(repr, choices))}",
        lambda v: any(type(v) is type(c) and v == c for c in choices),
    )


def name(what: str) -> Check:
    """A non-empty string naming a registered ``what`` (the registry refuses an unknown one when it is used)."""
    return Check(f"the name of a {what}", lambda v: isinstance(v, str) and bool(v))


def optional(check: Check, meaning: str | None = None) -> Check:
    """None (which means ``meaning``) or a value ``check`` accepts."""
    return Check(
        f"{check.expected} or None" + (f" ({meaning})" if meaning else ""),
        lambda v: v is None or check.accepts(v),
        lambda v: None if v is None else check.convert(v),
    )


def sequence_of(check: Check, length: int | None = None) -> Check:
    """A list or tuple (of ``length`` items, if given) whose items ``check`` accepts; stored as a tuple."""
    count = f"{length} items" if length is not None else "items"
    return Check(
        f"a list of {count}, each {check.expected}",
        lambda v: isinstance(v, (list, tuple)) and (length is None or len(v) == length)
        and all(check.accepts(x) for x in v),
        lambda v: tuple(check.convert(x) for x in v),
    )


#: A number > 0.
positive = in_range(0, lo_open=True)
#: A number ≥ 0.
non_negative = in_range(0)
#: An integer ≥ 1.
positive_int = integer(1)
#: An integer ≥ 0.
non_negative_int = integer(0)
#: True or False (numpy booleans too), stored as a bool.
boolean = Check("true or false", lambda v: isinstance(v, (bool, np.bool_)), bool)
#: A string.
string = Check("a string", lambda v: isinstance(v, str))


def setting(
    default: Any, check: Check, doc: str | None = None, *, hint: str | None = None, expected: str | None = None
) -> Any:
    """A field of a :class:`Settings` dataclass.

    Args:
        default: The default value (plain data; a tuple rather than a list).
        check: The validator run on every value, the default included.
        doc: A description, for settings documented programmatically; the
            usual place is a docstring line under the field.
        hint: How to fix a refused value, e.g. the literature's value; by
            default the message names the default.
        expected: Replaces ``check.expected`` in the message.

    Returns:
        A ``dataclasses.field`` holding these in its metadata.
    """
    return dataclasses.field(
        default=default, metadata={"check": check, "doc": doc, "hint": hint, "expected": expected}
    )


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of frozen settings dataclasses; building one checks every field.

    Subclasses are ``@dataclasses.dataclass(frozen=True)`` with fields made
    by :func:`setting`, and name themselves in messages with the class
    attribute ``owner`` (e.g. ``owner = "Reinforce"``, without annotation).
    """

    #: Who the settings belong to, first word of every message (the class name if empty).
    owner: ClassVar[str] = ""
    #: What one setting is called in messages.
    noun: ClassVar[str] = "setting"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check: Check | None = f.metadata.get("check")
            if check is None:
                continue
            value = getattr(self, f.name)
            if not check.accepts(value):
                expected = f.metadata.get("expected") or check.expected
                fix = f.metadata.get("hint") or f"The default is {f.default!r}."
                raise ConfigError(f"{self.label()} {f.name} must be {expected}, got {value!r}. {fix}")
            object.__setattr__(self, f.name, check.convert(value))
        self.validate()

    @classmethod
    def label(cls) -> str:
        """The owner's name, as messages start with it."""
        return cls.owner or cls.__name__

    def validate(self) -> None:
        """Check rules that involve several fields (after each field's own check); none by default.

        Raises:
            ConfigError: Subclasses raise it for a combination of values that cannot work.
        """


def from_kwargs(cls: type[S], kwargs: Mapping[str, Any], owner: str | None = None) -> S:
    """Build ``cls`` from user keyword arguments, refusing names it does not have.

    Args:
        cls: The settings dataclass.
        kwargs: The user's values by name; the others keep their defaults.
        owner: Name for the unknown-name message (default ``cls.label()``).

    Returns:
        The checked settings.

    Raises:
        ConfigError: An unknown name (the message lists the valid ones and
            suggests the closest) or a refused value.
    """
    owner = owner or cls.label()
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in kwargs if k not in names]
    if unknown:
        if not names:
            raise ConfigError(f"{owner} takes no {cls.noun}s, got {', '.join(map(repr, unknown))}.")
        key = unknown[0]
        raise ConfigError(
            f"{owner} has no {cls.noun} {key!r}.{did_you_mean(key, names)} Valid {cls.noun}s: {', '.join(names)}."
        )
    return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class SearcherSettings(Settings):
    """Base of a search method's hyperparameters (:attr:`Searcher.Settings`); it has none."""

    noun = "hyperparameter"
