"""Tasks: each module registers one task with :func:`register_task`.

All tasks yield ``(batch, time, features)`` float tensors and ``(batch,)``
labels; the same tensors go to every contender.
"""

from bench.tasks import mnist_temporal, speech, toy_noise, toy_runs  # noqa: F401  (registers the built-in tasks)
from bench.core.task_contract import Split, Task, TaskData, TaskSpec
from bench.tasks.registry import TASKS, get_task, register_task

__all__ = ["TASKS", "Split", "Task", "TaskData", "TaskSpec", "get_task", "register_task"]
