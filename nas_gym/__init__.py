"""nas_gym: neural architecture search as a Gymnasium environment.

Importing the package registers the environments:

- ``NAS-v0``: the ``layers`` space on scikit-learn's digits, real training,
  latency measured on this host, hinge reward.
- ``NAS-Bench-201-v0``: the NAS-Bench-201 cell scored by lookup in a table
  (the embedded MNIST-1D one by default); latency only when asked for.
- ``NAS-Bench-201-Latency-v0``: the same, with the table's latency column in
  the default reward (registered as ``NAS-Bench-201-v1`` before; that id still
  works, with a deprecation warning).
- ``NAS-Surrogate-v0``: ``NAS-v0``'s space and reward, scored instantly by a
  surrogate model fitted to thousands of real ``NAS-v0`` trainings (its card:
  ``nas_gym/data/surrogate_layers.md``), for RL research that needs millions of steps.
- ``NAS-RNN-v0``: the ``rnn_cell`` space (the ENAS/DARTS recurrent cell) on
  ``mackey_glass`` forecasting, real training (5 epochs, batch 64), latency measured on
  this host; the reward's accuracy is the validation R², and ``info`` carries
  ``val_mse``/``test_mse``.
- ``NAS-LM-v0``: the ``transformer`` space (decoder-only, heterogeneous per
  layer) on ``pydoc_topics`` next-character prediction, real training for a
  fixed 250 AdamW steps, latency measured on this host in ms per generated
  token; the reward's accuracy is next-character validation accuracy, and
  ``info`` carries ``val_bpc``/``test_bpc`` (bits per character).
- ``MO-NAS-v0``, ``MO-NAS-Bench-201-v1``, ``MO-NAS-LM-v0``: vector rewards (validation
  accuracy, negative latency) in MO-Gymnasium's convention.

Every id is also registered in the ``nas_gym`` namespace (``nas_gym/NAS-v0``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gymnasium.envs.registration import register, registry

from nas_gym import _deprecated
from nas_gym._version import __version__
from nas_gym.error import NASGymError

if TYPE_CHECKING:
    from nas_gym.env.nas_env import NASEnv


__all__ = ["NASEnv", "NASGymError", "__version__", "load_model"]


def __getattr__(name: str) -> Any:
    # NASEnv is imported on first use: importing torch takes about a second, and
    # `nas-gym search --workers N` starts its worker processes before paying it.
    if name == "NASEnv":
        from nas_gym.env.nas_env import NASEnv

        return NASEnv
    if name == "load_model":
        from nas_gym.model.folder import load_model

        return load_model
    raise AttributeError(f"module 'nas_gym' has no attribute {name!r}")

#: How NAS-LM-v0 and MO-NAS-LM-v0 train each transformer: a fixed number of AdamW steps (see the comment there).
_LM_TRAINING: dict[str, Any] = {"optimizer": "adamw", "steps": 250, "batch_size": 8, "lr": 3e-3, "weight_decay": 0.01}

#: Registered ids and their default arguments. Each is registered twice: plainly and in the
#: ``nas_gym`` namespace (``gym.make("nas_gym/NAS-v0")``), since an older NAS package registers ``NAS-v0`` too.
ENV_IDS: dict[str, dict[str, Any]] = {
    "NAS-v0": {"space": "layers", "task": "digits", "evaluator": "train", "reward": "hinge"},
    # v0 keeps its first default reward: the embedded table's latency only when a weight, limit or objective asks.
    "NAS-Bench-201-v0": {"space": "nb201", "evaluator": "table", "reward": "hinge", "latency": "requested"},
    "NAS-Bench-201-Latency-v0": {"space": "nb201", "evaluator": "table", "reward": "hinge", "latency": "auto"},
    # Vector rewards in MO-Gymnasium's convention: (validation accuracy, -latency in ms).
    "MO-NAS-v0": {"space": "layers", "task": "digits", "evaluator": "train",
                  "objectives": ["val_accuracy", "latency_ms"]},
    "MO-NAS-Bench-201-v1": {"space": "nb201", "evaluator": "table", "latency": "auto",
                            "objectives": ["val_accuracy", "latency_ms"]},
    # The ENAS/DARTS recurrent cell forecasting Mackey-Glass, trained for real; 5 epochs at batch 64 keep an
    # evaluation near 1.3 s on one core (the 10-seed benchmark at budget 50 within 30 minutes on 2 cores), and the
    # latency target (about twice this host's ~1 ms per default cell) makes the hinge pay for unusual slowness,
    # not for the timing noise between cells of equal size.
    "NAS-RNN-v0": {"space": "rnn_cell", "task": "mackey_glass", "evaluator": "train", "reward": "hinge",
                   "evaluator_kwargs": {"batch_size": 64, "epochs": 5}, "latency_target_ms": 2.0},
    # Decoder-only transformers on CPython's pydoc topics, next-character prediction: 250 AdamW steps of 8 windows of
    # 64 characters keep an evaluation near 4 s on one core (the 2-layer width-64 baseline 2.5 s of training, the
    # largest network 16 s); the latency target, about twice the baseline's ~0.5 ms per generated token on a
    # laptop-class core, makes the hinge pay for unusual slowness only.
    "NAS-LM-v0": {"space": "transformer", "task": "pydoc_topics", "evaluator": "train", "reward": "hinge",
                  "evaluator_kwargs": dict(_LM_TRAINING), "latency_target_ms": 1.0},
    "MO-NAS-LM-v0": {"space": "transformer", "task": "pydoc_topics", "evaluator": "train",
                     "evaluator_kwargs": dict(_LM_TRAINING), "objectives": ["val_accuracy", "latency_ms"]},
    # Instant: accuracies, latency, parameters and FLOPs predicted by the shipped surrogate (nas_gym/data/).
    "NAS-Surrogate-v0": {"space": "layers", "evaluator": "surrogate", "reward": "hinge", "cache": False},
}
for _id, _kwargs in ENV_IDS.items():
    for _name in (_id, f"nas_gym/{_id}"):
        register(id=_name, entry_point="nas_gym.env.nas_env:NASEnv", kwargs=_kwargs)
for _old, _new in _deprecated.RENAMED_ENV_IDS.items():
    for _prefix in ("", "nas_gym/"):
        register(id=_prefix + _old, entry_point=f"nas_gym._deprecated:{_old.lower().replace('-', '_')}",
                 kwargs=ENV_IDS[_new])
        # Gymnasium reads a higher version of the same name as an upgrade ("NAS-Bench-201-v0 is out of
        # date, consider upgrading to v1") on every make of v0. The old id is a rename, not a version:
        # without a version, gym.make still finds it by its full id, and v0 stays the latest version.
        registry[_prefix + _old].version = None

_deprecated.install()
