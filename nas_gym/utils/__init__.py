"""Helpers every layer may use.

Torch devices (:mod:`~nas_gym.utils.device`), a worker's one torch thread (:mod:`~nas_gym.utils.threads`),
typed hyperparameter dataclasses (:mod:`~nas_gym.utils.hparams`), parameter and FLOP counts
(:mod:`~nas_gym.utils.counting`) and lazy re-exports (:mod:`~nas_gym.utils.lazy`). They import nothing of
the package above :mod:`nas_gym.error` and :mod:`nas_gym.registry`.
"""
