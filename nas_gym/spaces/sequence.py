"""What the recurrent spaces share: reading a task's inputs as sequences.

A task's signals ``(C, L)`` are read as ``L`` time steps of ``C`` features
(MNIST-1D is then a 40-step sequence of one feature; the forecasting tasks are
windows of one or more series). Images and feature vectors are no sequences:
the recurrent spaces refuse them when the env loads the task.
"""

from __future__ import annotations

from nas_gym.error import ConfigError
from nas_gym.spaces.base import check_not_language_model
from nas_gym.tasks.base import Task
from nas_gym.utils.lazy import moved_names

# to_steps lived here until the spaces were split from their torch modules.
__getattr__ = moved_names(__name__, "nas_gym.networks.rnn_layers", ("to_steps",))


def check_sequence_task(space: str, task: Task) -> None:
    """Refuse a task whose inputs are not sequences ``(C, L)`` for the recurrent space named ``space``.

    Raises:
        ConfigError: Naming the task's input shape and the spaces that build for it.
    """
    check_not_language_model(space, task)
    if task.spatial_dims != 1:
        other = "'mlp'" if task.spatial_dims == 0 else "'layers' or 'nb201'"
        raise ConfigError(
            f"Space {space!r} builds recurrent networks for sequences (C features, L steps), but task "
            f"{task.name!r} has inputs of shape {task.input_shape}. Use space={other} for it, or a sequence "
            "task (mackey_glass, adding, sunspots, mnist1d)."
        )
