"""Performance predictors: regression models from architectures to a score, with an uncertainty.

A predictor (:class:`Predictor`) is fit on evaluated architectures and their
scores and predicts a mean and a standard deviation for others::

    predictor = make_predictor("mlp_ensemble", space, seed=0).fit(archs, val_accuracies)
    mean, std = predictor.predict(candidates)

Predictor-based methods (``bananas``, ``pnas``) take one by name from
:data:`PREDICTORS`:

- ``mlp_ensemble`` (:class:`MLPEnsemble`): an ensemble of small torch MLPs;
  the std is the members' spread (BANANAS's predictor).
- ``gbdt`` (:class:`GBDTPredictor`): an ensemble of bagged LightGBM
  boosters; needs ``pip install 'nas-gym[gbdt]'``.

Features come from :func:`encode` (:mod:`nas_gym.predictors.encodings`):
per-decision one-hot on any space, the BANANAS path encoding on nb201.
A predictor in another package registers itself under the entry-point
group ``nas_gym.predictors`` (its factory takes the space first).
"""

from __future__ import annotations

from typing import Any

from nas_gym.predictors.base import Predictor
from nas_gym.predictors.encodings import ENCODINGS, default_encoding, encode, num_features
from nas_gym.predictors.mlp_ensemble import MLPEnsemble
from nas_gym.registry import Registry
from nas_gym.spaces import SearchSpace

#: Predictors by name; a factory is called as ``factory(space, **kwargs)``.
PREDICTORS: Registry[Predictor] = Registry("predictor", group="nas_gym.predictors")


def _gbdt(space: SearchSpace, /, **kwargs: Any) -> Predictor:
    from nas_gym.predictors.gbdt import GBDTPredictor  # LightGBM is imported only when asked for

    return GBDTPredictor(space, **kwargs)


PREDICTORS.register("mlp_ensemble", MLPEnsemble, fixed=("space",))
PREDICTORS.register("gbdt", _gbdt, takes="nas_gym.predictors.gbdt:GBDTPredictor", fixed=("space",))

__all__ = ["ENCODINGS", "PREDICTORS", "MLPEnsemble", "Predictor", "default_encoding", "encode", "make_predictor",
           "num_features"]


def make_predictor(name: str, space: SearchSpace, **kwargs: Any) -> Predictor:
    """Build a predictor by registry name.

    Args:
        name: A name in :data:`PREDICTORS` (``mlp_ensemble`` or ``gbdt``).
        space: The space of the architectures it will see.
        **kwargs: Arguments of that predictor (``seed``, ``encoding``, ``num_members``, ...).

    Returns:
        An unfitted predictor.

    Raises:
        ConfigError: An unknown name or argument (the message lists the valid ones), or a bad value.
        MissingDependencyError: The predictor's optional dependency is not installed.
    """
    return PREDICTORS.make(name, kwargs, space, what=f"Predictor {name!r}")
