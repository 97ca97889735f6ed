"""Tasks: datasets with train/validation/test splits and their input shape, registered by name.

:data:`TASKS` holds the built-in ones (scikit-learn's digits, MNIST-1D, regression series, a user's ``.npz``);
:func:`make_task` builds one by name. :mod:`~nas_gym.tasks.loss` holds how a task scores a network (loss and
score for classification and regression).
"""

from nas_gym.tasks.base import TASK_KINDS, TASKS, Task, make_task, shape_task

__all__ = ["TASKS", "TASK_KINDS", "Task", "make_task", "shape_task"]
