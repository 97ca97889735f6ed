"""Tasks: datasets with train/validation/test splits and their input shape, registered by name.

:data:`TASKS` holds the built-in ones (scikit-learn's digits, MNIST-1D, regression series, a user's ``.npz``);
:func:`make_task` builds one by name. :mod:`~nas_gym.tasks.loss` holds how a task scores a network (loss and
score for classification and regression). :mod:`~nas_gym.tasks.text` adds the character-level language-modelling
tasks ``pydoc_topics`` and ``text`` (a user's UTF-8 file).
"""

from nas_gym.tasks import text  # noqa: F401  (registers the language-modelling tasks in TASKS)
from nas_gym.tasks.base import TASK_KINDS, TASKS, Task, make_task, shape_task

__all__ = ["TASKS", "TASK_KINDS", "Task", "make_task", "shape_task"]
