"""Run a group's members one after another in the calling thread (D16)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from graflow.coordination.coordinator import TaskCoordinator

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.handler import TaskResult
    from graflow.core.handlers.group_policy import GroupExecutionPolicy
    from graflow.core.task import Executable


class DirectCoordinator(TaskCoordinator):
    """Members run in order on the caller's thread; each on its own queue, so nothing else queued is touched."""

    def execute_group(
        self,
        group_id: str,
        tasks: Sequence[Executable],
        execution_context: ExecutionContext,
        policy: GroupExecutionPolicy,
    ) -> dict[str, TaskResult]:
        results: dict[str, TaskResult] = {}
        for task in tasks:
            branch = execution_context.create_branch_context(task.task_id)
            results[task.task_id] = self.run_member(task, branch)
            execution_context.merge_results(branch)
        return results


__all__ = ["DirectCoordinator"]
