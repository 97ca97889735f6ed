"""The found model: from an architecture to a trained network you can keep, scale and export.

- :mod:`~nas_gym.model.folder`: the model folder (``model.json``, weights as safetensors) and
  :func:`~nas_gym.model.folder.load_model`.
- :mod:`~nas_gym.model.training` and :mod:`~nas_gym.model.train_config`: training a network to the end.
- :mod:`~nas_gym.model.retrain`: ``nas-gym train`` (choose from a run's history, retrain, save).
- :mod:`~nas_gym.model.scaling`: EfficientNet's compound scaling as a pure transform of one architecture;
  :mod:`~nas_gym.model.scale`: the ``nas-gym scale`` workflow built on it.
- :mod:`~nas_gym.model.onnx`: ONNX export and its check.
- :mod:`~nas_gym.model.sample`: text from a trained language model (``nas-gym sample``).
- :mod:`~nas_gym.model.commands`: the subcommands' arguments.
"""

from nas_gym.utils.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "load_model": "nas_gym.model.folder",
    "save_model": "nas_gym.model.folder",
    "TrainConfig": "nas_gym.model.train_config",
    "train": "nas_gym.model.retrain",
    "build_scaled": "nas_gym.model.scaling",
    "export_onnx": "nas_gym.model.onnx",
    "sample_text": "nas_gym.model.sample",
})
__all__ = ["TrainConfig", "build_scaled", "export_onnx", "load_model", "sample_text", "save_model", "train"]
