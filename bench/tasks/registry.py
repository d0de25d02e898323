"""The task registry: one decorator adds a task everywhere."""

from __future__ import annotations

from typing import TypeVar

from bench.core.task_contract import Task
from rc.registry import Registry

TASKS: Registry[type[Task]] = Registry("task")
"""Every task class by its ``name``; :func:`register_task` adds one."""

T = TypeVar("T", bound=type[Task])


def register_task(cls: T) -> T:
    """Class decorator: register a :class:`Task` subclass under its ``name``."""
    return TASKS.register(cls)


def get_task(name: str) -> Task:
    """An instance of the task registered as ``name``; the error lists the known tasks."""
    return TASKS.get(name)()
