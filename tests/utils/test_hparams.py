"""Method settings as frozen dataclasses: checks, conversions, messages, and every searcher's hparams."""

import dataclasses
import json

import numpy as np
import pytest

from nas_gym.error import ConfigError
from nas_gym.search.searcher import Searcher, available_searchers, load_searcher
from nas_gym.utils.hparams import (
    Settings,
    boolean,
    from_kwargs,
    in_range,
    one_of,
    optional,
    positive,
    positive_int,
    sequence_of,
    setting,
)


@dataclasses.dataclass(frozen=True)
class Demo(Settings):
    owner = "Demo"

    size: int = setting(3, positive_int)
    """An integer."""
    rate: float = setting(0.1, positive, hint="Papers use 0.1.")
    """A float."""
    share: float | None = setting(0.5, optional(in_range(0, 1, lo_open=True), "off"))
    """A fraction or None."""
    mode: str = setting("a", one_of("a", "b"))
    """A choice."""
    flag: bool = setting(True, boolean)
    """A boolean."""
    widths: tuple[int, ...] = setting((4,), sequence_of(positive_int))
    """A list."""


SEARCHERS = sorted(available_searchers())


def test_values_are_checked_and_converted():
    s = Demo(size=np.int64(5), rate=1, share=None, mode="b", flag=np.bool_(False), widths=[2, np.int64(3)])
    assert (s.size, s.rate, s.share, s.mode, s.flag, s.widths) == (5, 1.0, None, "b", False, (2, 3))
    assert type(s.size) is int and type(s.rate) is float and type(s.flag) is bool
    assert dataclasses.asdict(Demo()) == {"size": 3, "rate": 0.1, "share": 0.5, "mode": "a", "flag": True,
                                          "widths": (4,)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.size = 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 0}, r"^Demo size must be an integer ≥ 1, got 0\. The default is 3\.$"),
        ({"size": 2.5}, r"size must be an integer ≥ 1, got 2\.5"),
        ({"size": True}, r"size must be an integer ≥ 1, got True"),
        ({"rate": 0}, r"^Demo rate must be > 0, got 0\. Papers use 0\.1\.$"),
        ({"rate": float("nan")}, r"rate must be > 0, got nan"),
        ({"rate": "0.1"}, r"rate must be > 0, got '0\.1'"),
        ({"share": 0.0}, r"share must be in \(0, 1\] or None \(off\), got 0\.0"),
        ({"mode": "c"}, r"mode must be one of 'a', 'b', got 'c'"),
        ({"flag": "yes"}, r"flag must be true or false, got 'yes'"),
        ({"flag": 1}, r"flag must be true or false, got 1"),
        ({"widths": [4, 0]}, r"widths must be a list of items, each an integer ≥ 1, got \[4, 0\]"),
    ],
)
def test_bad_values_say_what_was_expected_given_and_the_fix(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        from_kwargs(Demo, kwargs)


def test_unknown_names_are_refused_with_the_valid_ones_and_a_suggestion():
    with pytest.raises(ConfigError, match=r"^Demo has no setting 'sise'\. Did you mean 'size'\? "
                                          r"Valid settings: size, rate, share, mode, flag, widths\.$"):
        from_kwargs(Demo, {"sise": 4})
    with pytest.raises(ConfigError, match=r"Reinforce has no hyperparameter 'batchsize'\. "
                                          r"Did you mean 'batch_size'\? Valid hyperparameters: policy, hidden_size, "):
        load_searcher("reinforce")(batchsize=4)
    with pytest.raises(ConfigError, match=r"RandomSearch takes no hyperparameters, got 'seed'"):
        load_searcher("random")(seed=1)


@pytest.mark.parametrize("agent", SEARCHERS)
def test_hparams_name_every_setting_and_survive_json(agent):
    cls = load_searcher(agent)
    assert issubclass(cls, Searcher)
    searcher = cls()
    hparams = searcher.hparams()
    assert set(hparams) == {f.name for f in dataclasses.fields(cls.Settings)}
    back = json.loads(json.dumps(hparams))
    for key, value in hparams.items():
        assert back[key] == (list(value) if isinstance(value, tuple) else value), key
    # Building from the reported values gives the same settings (what resuming a run relies on).
    assert cls(**back).hparams() == hparams


@pytest.mark.parametrize("agent", SEARCHERS)
def test_settings_read_as_attributes_but_not_written(agent):
    searcher = load_searcher(agent)()
    for f in dataclasses.fields(searcher.Settings):
        assert getattr(searcher, f.name) == getattr(searcher.settings, f.name)
        with pytest.raises(AttributeError, match="read-only"):
            setattr(searcher, f.name, f.default)
    with pytest.raises(AttributeError):
        searcher.no_such_attribute  # noqa: B018
