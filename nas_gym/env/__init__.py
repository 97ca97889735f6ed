"""The environment.

:class:`~nas_gym.env.nas_env.NASEnv`, how its parts are built from its arguments
(:mod:`~nas_gym.env.parts`), and the record of one evaluation (:mod:`~nas_gym.env.evaluation`).
"""

from nas_gym.utils.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "NASEnv": "nas_gym.env.nas_env",
    "EnvParts": "nas_gym.env.parts",
    "build_parts": "nas_gym.env.parts",
    "Evaluation": "nas_gym.env.evaluation",
})
__all__ = ["EnvParts", "Evaluation", "NASEnv", "build_parts"]
