"""Coordinators run the members of a parallel group. Backends: threading (default), direct, redis."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graflow.core.handler import TaskResult
from graflow.core.protocols import CoordinationBackend
from graflow.exceptions import RunPausedError, error_message

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.handlers.group_policy import GroupExecutionPolicy
    from graflow.core.task import Executable


class TaskCoordinator(ABC):
    """Runs a group's members and reports each member's outcome.

    Implementations return ``{member_id: TaskResult}``; :meth:`finish` applies the policy and builds the group's
    value. Keep members' side effects in the run's channel (D10).
    """

    @abstractmethod
    def execute_group(
        self,
        group_id: str,
        tasks: Sequence[Executable],
        execution_context: ExecutionContext,
        policy: GroupExecutionPolicy,
    ) -> dict[str, TaskResult]:
        """Run every member of ``group_id`` and return their results."""

    @staticmethod
    def run_member(member: Executable, branch: ExecutionContext) -> TaskResult:
        """Run one member (and its successors inside the branch) with the local engine."""
        from graflow.core.engine import WorkflowEngine

        started = time.perf_counter()
        try:
            value = WorkflowEngine().execute(branch, start_task_id=member.task_id)
        except RunPausedError:
            raise  # a member that pauses pauses the whole run (D23): the group runs again on resume
        except Exception as exc:
            return TaskResult(member.task_id, False, error=exc, error_message=error_message(exc),
                              duration=time.perf_counter() - started, timestamp=time.time())
        return TaskResult(member.task_id, True, duration=time.perf_counter() - started, timestamp=time.time(),
                          value=branch.get_result(member.task_id, value))

    @staticmethod
    def finish(
        group_id: str,
        tasks: Sequence[Executable],
        results: dict[str, TaskResult],
        context: ExecutionContext,
        policy: GroupExecutionPolicy,
    ) -> dict[str, Any]:
        """Emit the group-end hook, apply the policy (which may raise) and return ``{member_id: result}``."""
        member_ids = [t.task_id for t in tasks]
        if context.hooks.on_parallel_group_end:
            context.hooks.fire(context.hooks.on_parallel_group_end, group_id=group_id, member_ids=member_ids,
                               context=context, results=results)
        policy.on_group_finished(group_id, tasks, results, context)
        failed = [m for m in member_ids if m in results and not results[m].success]
        if failed:
            # A failed member the policy tolerated leaves no result (as in Graflow 0.2): get_result() gives None;
            # its error stays in the group's outcome (ctx.get_group_outcome) and in the policy's warning.
            context.record_group_outcome(group_id, results)
            for member_id in failed:
                context.results.discard(member_id)
        return {m: (results[m].value if results[m].success else None) for m in member_ids if m in results}


__all__ = ["CoordinationBackend", "TaskCoordinator"]
