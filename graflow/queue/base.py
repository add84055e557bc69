"""The task-queue contract: local (in-memory) and Redis Streams implementations share it."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class TaskStatus(Enum):
    """Where a queued task is in its life."""

    READY = "ready"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"


@dataclass
class TaskSpec:
    """A queued task: the executable and the context it runs in."""

    executable: Any
    execution_context: Any
    status: TaskStatus = TaskStatus.READY
    created_at: float = field(default_factory=time.time)
    retry_count: int = 0
    max_retries: int = 3
    last_error: str | None = None
    group_id: str | None = None
    trace_id: str | None = None
    parent_span_id: str | None = None

    @property
    def task_id(self) -> str:
        """The executable's id."""
        task_id: str = self.executable.task_id
        return task_id

    def can_retry(self) -> bool:
        """Whether the legacy per-spec retry budget allows another try."""
        return self.retry_count < self.max_retries


class TaskQueue(ABC):
    """A FIFO of task specs. Implementations: ``LocalTaskQueue`` and the Redis Streams queue.

    The contract suite ``graflow.testing.contracts.queue`` runs against every implementation.
    """

    @abstractmethod
    def enqueue(self, task_spec: TaskSpec) -> bool:
        """Add ``task_spec`` at the back; returns True when it was accepted."""

    @abstractmethod
    def dequeue(self) -> TaskSpec | None:
        """Take the task at the front, or None when the queue is empty."""

    @abstractmethod
    def is_empty(self) -> bool:
        """Whether nothing is waiting."""

    @abstractmethod
    def size(self) -> int:
        """How many tasks are waiting."""

    def get_next_task(self) -> str | None:
        """Take the next task and return its id."""
        spec = self.dequeue()
        return spec.task_id if spec is not None else None

    def peek_next_node(self) -> str | None:
        """The id of the next task without taking it (None when unknown or empty)."""
        return None

    def clear(self) -> None:  # noqa: B027 - optional
        """Drop every waiting task."""

    def notify_task_completion(  # noqa: B027 - optional hook
        self, task_id: str, success: bool, group_id: str | None = None, error_message: str | None = None
    ) -> None:
        """Record a finished task (distributed barriers use it; local queues ignore it)."""

    def __len__(self) -> int:
        return self.size()


__all__ = ["TaskQueue", "TaskSpec", "TaskStatus"]
