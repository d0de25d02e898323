"""The task registry: one decorator adds a task everywhere."""

from __future__ import annotations

from typing import TypeVar

from bench.core.task_contract import Task

TASKS: dict[str, type[Task]] = {}

T = TypeVar("T", bound=type[Task])


def register_task(cls: T) -> T:
    """Class decorator: register a :class:`Task` subclass under its ``name``."""
    name = cls.name
    if name in TASKS and TASKS[name] is not cls:
        raise ValueError(f"task {name!r} is registered twice ({TASKS[name].__module__} and {cls.__module__})")
    TASKS[name] = cls
    return cls


def get_task(name: str) -> Task:
    """An instance of the task registered as ``name``."""
    try:
        return TASKS[name]()
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
