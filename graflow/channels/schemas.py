"""Message types for common task-to-task traffic, registered with :class:`ChannelTypeRegistry` by name.

Timestamps are seconds since the epoch (``time.time()``).
"""

from __future__ import annotations

from typing import Any, TypedDict

from graflow.channels.typed import ChannelTypeRegistry


class TaskResultMessage(TypedDict):
    """The outcome of one task run (``status`` is e.g. ``"completed"`` or ``"failed"``)."""

    task_id: str
    result: Any
    timestamp: float
    status: str


class TaskProgressMessage(TypedDict):
    """Progress reported by a running task; ``progress`` runs from 0.0 to 1.0."""

    task_id: str
    progress: float
    message: str
    timestamp: float


class TaskErrorMessage(TypedDict):
    """A task failure: the exception's class name and message."""

    task_id: str
    error_type: str
    error_message: str
    timestamp: float


class WorkflowStateMessage(TypedDict):
    """A snapshot of a workflow run's progress."""

    workflow_id: str
    state: str
    current_task: str
    completed_tasks: list[str]
    timestamp: float


class DataTransferMessage(TypedDict):
    """Data handed from one task to another; ``data_type`` names the payload's kind for the receiver."""

    from_task: str
    to_task: str
    data: Any
    data_type: str
    timestamp: float


class CycleNotificationMessage(TypedDict):
    """A cycle (``next_iteration``) of a task, with the count so far and the task's budget."""

    task_id: str
    cycle_count: int
    max_cycles: int
    data: Any


BUILTIN_MESSAGE_TYPES: dict[str, type] = {
    "task_result": TaskResultMessage,
    "task_progress": TaskProgressMessage,
    "task_error": TaskErrorMessage,
    "workflow_state": WorkflowStateMessage,
    "data_transfer": DataTransferMessage,
    "cycle_notification": CycleNotificationMessage,
}

for _name, _message_type in BUILTIN_MESSAGE_TYPES.items():
    ChannelTypeRegistry.register(_name, _message_type)

__all__ = [
    "TaskResultMessage",
    "TaskProgressMessage",
    "TaskErrorMessage",
    "WorkflowStateMessage",
    "DataTransferMessage",
    "CycleNotificationMessage",
    "BUILTIN_MESSAGE_TYPES",
]
