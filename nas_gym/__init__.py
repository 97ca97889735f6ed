"""nas_gym: neural architecture search as a Gymnasium environment.

Importing the package registers the environments:

- ``NAS-v0``: the ``layers`` space on scikit-learn's digits, real training,
  latency measured on this host, hinge reward.
- ``NAS-Bench-201-v0``: the NAS-Bench-201 cell scored by lookup in a table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gymnasium.envs.registration import register

from nas_gym.error import NASGymError

if TYPE_CHECKING:
    from nas_gym.nas_env import NASEnv

__version__ = "0.1.0"
__all__ = ["NASEnv", "NASGymError", "__version__"]


def __getattr__(name: str) -> Any:
    # NASEnv is imported on first use: importing torch takes about a second, and
    # `nas-gym search --workers N` starts its worker processes before paying it.
    if name == "NASEnv":
        from nas_gym.nas_env import NASEnv

        return NASEnv
    raise AttributeError(f"module 'nas_gym' has no attribute {name!r}")

register(
    id="NAS-v0",
    entry_point="nas_gym.nas_env:NASEnv",
    kwargs={"space": "layers", "task": "digits", "evaluator": "train", "reward": "hinge"},
)
register(
    id="NAS-Bench-201-v0",
    entry_point="nas_gym.nas_env:NASEnv",
    kwargs={"space": "nb201", "evaluator": "table", "reward": "hinge"},
)
