"""``LocalTaskQueue``: the in-memory FIFO of one run, a view over the run's scheduler."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graflow.queue.base import TaskQueue, TaskSpec, TaskStatus

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext


class LocalTaskQueue(TaskQueue):
    """The ready queue of ``execution_context`` as a :class:`TaskQueue`.

    The engine keeps task ids, not specs, on its hot path; specs are made when someone asks through this view.
    """

    def __init__(self, execution_context: ExecutionContext, start_node: str | None = None) -> None:
        self.execution_context = execution_context
        if start_node is not None:
            execution_context.scheduler.push(start_node)

    def _spec(self, task_id: str) -> TaskSpec:
        ctx = self.execution_context
        task = ctx.graph.get_node(task_id)
        return TaskSpec(executable=task, execution_context=ctx, status=TaskStatus.READY,
                        retry_count=ctx.retry_controller.get_retry_count(task_id),
                        max_retries=ctx.max_retries_for(task))

    def enqueue(self, task_spec: TaskSpec) -> bool:
        """Queue the spec's executable (added to the run graph when new)."""
        self.execution_context.add_to_queue(task_spec.executable)
        return True

    def dequeue(self) -> TaskSpec | None:
        """Take the next ready task."""
        task_id = self.execution_context.get_next_task()
        return self._spec(task_id) if task_id is not None else None

    def is_empty(self) -> bool:
        """Whether no task is ready."""
        return not self.execution_context.scheduler.ready

    def size(self) -> int:
        """How many tasks are ready."""
        return len(self.execution_context.scheduler.ready)

    def peek_next_node(self) -> str | None:
        """The next ready id without taking it."""
        ready = self.execution_context.scheduler.ready
        return ready[0] if ready else None

    def clear(self) -> None:
        """Drop every ready task."""
        self.execution_context.scheduler.ready.clear()

    def get_pending_task_specs(self) -> list[TaskSpec]:
        """Specs of everything still to run (ready, waiting for a retry, waiting joins)."""
        ctx = self.execution_context
        return [self._spec(t) for t in ctx.scheduler.pending_ids() if ctx.graph.has_node(t)]


__all__ = ["LocalTaskQueue"]
