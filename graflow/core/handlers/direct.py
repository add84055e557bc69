"""The default handler: call the task in this process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graflow.core.handler import TaskHandler

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.task import Executable


class DirectTaskHandler(TaskHandler):
    """Calls ``task.run()`` and stores its result, or its exception before re-raising it."""

    def execute_task(self, task: Executable, context: ExecutionContext) -> Any:
        """Run ``task`` in-process."""
        try:
            result = task.run()
        except Exception as exc:
            context.set_result(task.task_id, exc)
            raise
        context.set_result(task.task_id, result)
        return result

    def get_name(self) -> str:
        """Always ``direct``."""
        return "direct"


__all__ = ["DirectTaskHandler"]
