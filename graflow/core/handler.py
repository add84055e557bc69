"""Task handlers: how one task is run (in-process by default)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.task import Executable


class TaskHandler(ABC):
    """Runs a task. Implementations must store the result with ``context.set_result(task.task_id, value)``, or
    store the exception and re-raise it."""

    @abstractmethod
    def execute_task(self, task: Executable, context: ExecutionContext) -> Any:
        """Run ``task`` and return its result."""

    def get_name(self) -> str:
        """The name tasks use to select this handler (default: the class name)."""
        return type(self).__name__


@dataclass
class TaskResult:
    """The outcome of one task, as a parallel-group policy sees it."""

    task_id: str
    success: bool
    error: BaseException | None = None
    error_message: str | None = None
    duration: float = 0.0
    timestamp: float = 0.0
    value: Any = None


__all__ = ["TaskHandler", "TaskResult"]
