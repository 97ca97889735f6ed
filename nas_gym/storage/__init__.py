"""Storage.

The persistent evaluation cache (:mod:`~nas_gym.storage.cache`, one SQLite file shared by processes)
and training checkpoints (:mod:`~nas_gym.storage.checkpoints`, for multi-fidelity resumes).
"""

from nas_gym.storage.cache import EvalCache, cache_key, default_cache_dir
from nas_gym.storage.checkpoints import CheckpointStore

__all__ = ["CheckpointStore", "EvalCache", "cache_key", "default_cache_dir"]
