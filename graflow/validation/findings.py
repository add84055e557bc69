"""A finding of the workflow checks, and where in the user's source it points.

A finding names the file and line of the task's function (``inspect``), the task it is about and what would fail
when the workflow runs. Its text form, ``FILE:LINE: task 'x': message``, is what compilers and linters print, so
editors and CI logs link it to the source.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The kinds of finding, in the order the checks run.
KINDS: tuple[str, ...] = (
    "load",
    "start_node",
    "handler",
    "cycle",
    "parameter",
    "output_reference",
    "group_policy",
    "pickle",
)


@dataclass(frozen=True)
class Location:
    """A place in a source file.

    Attributes:
        file: Absolute path of the file ("" when unknown).
        line: 1-based line number (0 when unknown).
    """

    file: str
    line: int

    def display(self, relative_to: str | None = None) -> str:
        """``FILE:LINE`` with FILE relative to ``relative_to`` (default: the working folder) when under it."""
        if not self.file:
            return "<unknown>:0"
        return f"{display_path(self.file, relative_to)}:{self.line}"


@dataclass(frozen=True)
class Finding:
    """One thing that would fail when the workflow runs.

    Attributes:
        kind: One of :data:`KINDS`.
        message: What fails and how to fix it, one line.
        location: Where to look: the task's function definition, or the workflow file.
        task: The task (or parallel group) the finding is about; None for the workflow as a whole.
        workflow: Name of the workflow.
    """

    kind: str
    message: str
    location: Location
    task: str | None = None
    workflow: str | None = None

    @property
    def subject(self) -> str:
        """``task 'x'``, or ``workflow 'name'`` when the finding is about the whole workflow."""
        if self.task is not None:
            return f"task '{self.task}'"
        return f"workflow '{self.workflow}'" if self.workflow else "workflow"

    def format(self, relative_to: str | None = None) -> str:
        """``FILE:LINE: task 'x': message``."""
        return f"{self.location.display(relative_to)}: {self.subject}: {self.message}"

    def to_dict(self, relative_to: str | None = None) -> dict[str, Any]:
        """The finding as JSON-ready data (file relative like :meth:`format`)."""
        return {
            "file": display_path(self.location.file, relative_to) if self.location.file else None,
            "line": self.location.line,
            "kind": self.kind,
            "task": self.task,
            "workflow": self.workflow,
            "message": self.message,
        }


def display_path(path: str, relative_to: str | None = None) -> str:
    """``path`` relative to ``relative_to`` (default: the working folder) when it lies under it, else as is."""
    base = Path(relative_to or os.getcwd()).resolve()
    try:
        return str(Path(path).resolve().relative_to(base))
    except (ValueError, OSError):
        return path


def function_location(func: Any) -> Location | None:
    """File and line of the ``def`` of ``func`` (after its decorators); None when it has no Python source."""
    target = inspect.unwrap(func) if callable(func) else func
    try:
        file = inspect.getsourcefile(target)
        lines, first = inspect.getsourcelines(target)
    except (TypeError, OSError):
        code = getattr(target, "__code__", None)
        if code is None:
            return None
        return Location(str(Path(code.co_filename).resolve()), int(code.co_firstlineno))
    if file is None:
        return None
    offset = 0
    for index, text in enumerate(lines):
        if text.lstrip().startswith(("def ", "async def ")):
            offset = index
            break
    return Location(str(Path(file).resolve()), first + offset)


def task_location(task: Any, fallback: Location) -> Location:
    """Where a task is defined: its function's ``def``, a group's first member's, else ``fallback``."""
    func = getattr(task, "func", None)
    if func is not None:
        found = function_location(func)
        if found is not None:
            return found
    if getattr(task, "is_parallel_group", False):
        for member in getattr(task, "tasks", ()):
            found = task_location(member, Location("", 0))
            if found.file:
                return found
    return fallback


__all__ = ["KINDS", "Finding", "Location", "display_path", "function_location", "task_location"]
