"""The task registry: ``get(cfg.data.task)`` returns the task object that owns that name.

Each task file registers one instance on import (``@register``). Adding a task is a new file
here (imported below) plus a data config that names it in ``task:``.
"""

from __future__ import annotations

from tunelab.errors import ConfigError
from tunelab.tasks.base import SERVE_IO, PretrainingTask, SupervisedTask

Task = SupervisedTask | PretrainingTask
_TASKS: dict[str, Task] = {}


def register(cls):
    """Class decorator: register one instance under ``cls.name``."""
    task = cls()
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} registered twice")
    if task.serve_io is not None and task.serve_io not in SERVE_IO:
        raise ValueError(f"task {task.name!r}: serve_io {task.serve_io!r} is not one of {sorted(SERVE_IO)}")
    _TASKS[task.name] = task
    return cls


def get(name: str, key: str = "data.task") -> Task:
    if isinstance(name, (SupervisedTask, PretrainingTask)):
        return name
    if name not in _TASKS:
        raise ConfigError(f"{key}: unknown task {name!r}; known: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def names() -> list[str]:
    return sorted(_TASKS)


# Imported last: each file registers itself with `register` above.
from tunelab.tasks import token_cls, seq_cls, pair_cls, multiple_choice, mlm, clm, sft  # noqa: E402,F401
