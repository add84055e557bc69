"""The behaviour every :class:`~graflow.queue.base.TaskQueue` must show.

Subclass :class:`TaskQueueContract` in a test module (the name must start with ``Test``) and override
:meth:`TaskQueueContract.make_queue`; it receives an execution context whose graph holds the tasks
``"t0"`` ... ``"t9"`` and returns a queue of that run::

    class TestLocalTaskQueueContract(TaskQueueContract):
        def make_queue(self, context):
            return LocalTaskQueue(context)

A dequeued task is finished with ``notify_task_completion`` (a distributed queue acknowledges it then; a local
queue ignores the call), so the same suite describes local and Redis queues.
"""

from __future__ import annotations

from typing import Any

import pytest

from graflow.queue.base import TaskQueue, TaskSpec

TASK_IDS = [f"t{i}" for i in range(10)]


def make_context() -> Any:
    """A context over a graph of ten placeholder tasks, with nothing queued."""
    from graflow.core.context import ExecutionContext
    from graflow.core.graph import TaskGraph
    from graflow.core.task import Task

    graph = TaskGraph()
    for task_id in TASK_IDS:
        graph.add_node(Task(task_id, register_to_context=False), task_id)
    return ExecutionContext(graph)


class TaskQueueContract:
    """The shared contract. Override :meth:`make_queue`."""

    def make_queue(self, context: Any) -> TaskQueue:
        """A new, empty queue for ``context``'s run."""
        raise NotImplementedError

    # Fixtures -------------------------------------------------------------------------------------------------------
    @pytest.fixture
    def context(self) -> Any:
        return make_context()

    @pytest.fixture
    def queue(self, context: Any) -> Any:
        queue = self.make_queue(context)
        yield queue
        queue.clear()

    @staticmethod
    def spec(context: Any, task_id: str, **fields: Any) -> TaskSpec:
        return TaskSpec(executable=context.graph.get_node(task_id), execution_context=context, **fields)

    @staticmethod
    def drain(queue: TaskQueue) -> list[TaskSpec]:
        taken = []
        while (spec := queue.dequeue()) is not None:
            taken.append(spec)
            queue.notify_task_completion(spec.task_id, True, spec.group_id)
        return taken

    # The contract ---------------------------------------------------------------------------------------------------
    def test_new_queue_is_empty(self, queue: TaskQueue) -> None:
        assert queue.is_empty()
        assert queue.size() == 0
        assert len(queue) == 0

    def test_dequeue_on_empty_queue_returns_none(self, queue: TaskQueue) -> None:
        assert queue.dequeue() is None
        assert queue.get_next_task() is None

    def test_enqueue_accepts_and_counts_waiting_tasks(self, queue: TaskQueue, context: Any) -> None:
        # given three tasks enqueued
        for task_id in TASK_IDS[:3]:
            assert queue.enqueue(self.spec(context, task_id)) is True
        # then the queue reports three waiting
        assert queue.size() == 3
        assert len(queue) == 3
        assert not queue.is_empty()

    def test_dequeue_follows_enqueue_order(self, queue: TaskQueue, context: Any) -> None:
        for task_id in TASK_IDS:
            queue.enqueue(self.spec(context, task_id))
        assert [s.task_id for s in self.drain(queue)] == TASK_IDS

    def test_dequeued_spec_names_the_same_task(self, queue: TaskQueue, context: Any) -> None:
        queue.enqueue(self.spec(context, "t3"))
        spec = queue.dequeue()
        assert spec is not None
        assert spec.task_id == "t3"
        assert spec.executable.task_id == "t3"
        assert spec.execution_context is not None

    def test_each_task_is_dequeued_once(self, queue: TaskQueue, context: Any) -> None:
        for task_id in TASK_IDS[:5]:
            queue.enqueue(self.spec(context, task_id))
        taken = self.drain(queue)
        assert sorted(s.task_id for s in taken) == TASK_IDS[:5]
        assert queue.dequeue() is None
        assert queue.is_empty()

    def test_size_drops_as_tasks_are_taken(self, queue: TaskQueue, context: Any) -> None:
        for task_id in TASK_IDS[:4]:
            queue.enqueue(self.spec(context, task_id))
        spec = queue.dequeue()
        assert spec is not None
        assert queue.size() == 3

    def test_get_next_task_returns_the_next_id(self, queue: TaskQueue, context: Any) -> None:
        queue.enqueue(self.spec(context, "t1"))
        queue.enqueue(self.spec(context, "t2"))
        assert queue.get_next_task() == "t1"

    def test_peek_names_the_next_task_without_taking_it(self, queue: TaskQueue, context: Any) -> None:
        queue.enqueue(self.spec(context, "t4"))
        queue.enqueue(self.spec(context, "t5"))
        peeked = queue.peek_next_node()
        if peeked is None:
            pytest.skip("this queue does not support peeking")
        assert peeked == "t4"
        assert queue.size() == 2
        spec = queue.dequeue()
        assert spec is not None and spec.task_id == "t4"

    def test_the_same_task_may_be_queued_twice(self, queue: TaskQueue, context: Any) -> None:
        queue.enqueue(self.spec(context, "t6"))
        queue.enqueue(self.spec(context, "t6"))
        assert [s.task_id for s in self.drain(queue)] == ["t6", "t6"]

    def test_clear_drops_waiting_tasks(self, queue: TaskQueue, context: Any) -> None:
        for task_id in TASK_IDS[:3]:
            queue.enqueue(self.spec(context, task_id))
        queue.clear()
        assert queue.is_empty()
        assert queue.dequeue() is None

    def test_completion_of_a_task_is_accepted(self, queue: TaskQueue, context: Any) -> None:
        queue.enqueue(self.spec(context, "t7"))
        spec = queue.dequeue()
        assert spec is not None
        queue.notify_task_completion(spec.task_id, True, None)
        queue.notify_task_completion(spec.task_id, True, None)  # a repeat is harmless
        assert queue.dequeue() is None


__all__ = ["TASK_IDS", "TaskQueueContract", "make_context"]
