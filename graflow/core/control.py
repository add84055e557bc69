"""Control requests a task makes during one step: one value object per step, not a set of flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CheckpointRequest:
    """A deferred checkpoint to write after the task completes and its successors are queued."""

    metadata: dict[str, Any] | None = None
    path: str | None = None


@dataclass(slots=True)
class StepControl:
    """What the running task asked the engine to do after it returns.

    Attributes:
        goto: Skip the task's static successors (``next_task(..., goto=True)`` or an existing target).
        terminate: Message of ``terminate_workflow``; stop after this task, successfully.
        cancel: Message of ``cancel_workflow``; stop after this task with ``GraflowWorkflowCanceledError``.
        checkpoint: A deferred checkpoint request.
        scheduled: Task ids queued by ``next_task``/``next_iteration`` during the step.
        feedback_requests: Feedback requests made during the step; each one's position is its index (HITL).
    """

    goto: bool = False
    terminate: str | None = None
    cancel: str | None = None
    checkpoint: CheckpointRequest | None = None
    scheduled: list[str] = field(default_factory=list)
    feedback_requests: int = 0


__all__ = ["CheckpointRequest", "StepControl"]
