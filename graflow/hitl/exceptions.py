"""Errors of human-in-the-loop feedback requests.

Both derive from :class:`graflow.exceptions.GraflowError` (D23) and carry the request's id, so an engine or a user
can tell which request ended the wait. Both pickle with their fields, because a worker may hand them to another
process.
"""

from __future__ import annotations

import os
from typing import Any

from graflow.exceptions import GraflowError, RunPausedError


class FeedbackTimeoutError(RunPausedError):
    """No answer arrived for a feedback request before its timeout.

    The request stays answerable (status ``timeout``): an answer given later is returned at once when the task asks
    again with the same feedback id, e.g. after the run is resumed from a checkpoint. Raised in a workflow, it
    pauses the run (a :class:`~graflow.exceptions.RunPausedError`, D23): the engine checkpoints it and records where in
    the request's metadata (``checkpoint_path``, ``checkpoint_id``, ``checkpoint_created_at``,
    ``checkpoint_steps``, ``checkpoint_reason``, ``workflow_name``, and ``working_dir`` when the path is relative), so
    the run can be resumed when someone answers (see :mod:`graflow.hitl.resumer`).

    Args:
        feedback_id: Id of the request that timed out.
        timeout: The timeout, in seconds, that ran out.
        task_id: The task that asked, when known.
        position: Which request of that task it was (0 for the first), when known.
    """

    def __init__(
        self, feedback_id: str, timeout: float, *, task_id: str | None = None, position: int | None = None
    ) -> None:
        self.feedback_id = feedback_id
        self.timeout = timeout
        self.position = position
        super().__init__(
            f"Feedback request {feedback_id} timed out after {timeout} seconds",
            task_id=task_id,
            checkpoint_metadata={"feedback_id": feedback_id, "timeout": timeout},
        )

    reason = "feedback_timeout"

    def paused(self, context: Any, checkpoint_path: str, checkpoint: Any) -> None:
        """Record in the request where the paused run's checkpoint is, for whoever resumes it."""
        context.feedback_manager.add_metadata(self.feedback_id, {
            "checkpoint_path": checkpoint_path,
            "checkpoint_id": getattr(checkpoint, "checkpoint_id", None),
            "checkpoint_created_at": getattr(checkpoint, "created_at", None),
            "checkpoint_steps": getattr(checkpoint, "steps", None),
            "checkpoint_reason": self.reason,
            "workflow_name": getattr(context, "workflow_name", None),
            **_working_dir(checkpoint_path),
        })

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_timeout, (self.feedback_id, self.timeout, self.task_id, self.position))


class FeedbackCancelledError(GraflowError):
    """A feedback request was cancelled (for example through ``DELETE /api/feedback/{id}``) (D24).

    The waiting task is woken at once and gets this error; a cancelled request never accepts an answer later.

    Args:
        feedback_id: Id of the cancelled request.
        task_id: The task that asked, when known.
    """

    def __init__(self, feedback_id: str, *, task_id: str | None = None) -> None:
        self.feedback_id = feedback_id
        self.task_id = task_id
        super().__init__(f"Feedback request {feedback_id} was cancelled")

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_cancelled, (self.feedback_id, self.task_id))


def _working_dir(checkpoint_path: str) -> dict[str, str]:
    """``{"working_dir": <cwd>}`` for a relative file path: what a resumer in another folder resolves it against."""
    if "://" in checkpoint_path or os.path.isabs(checkpoint_path):
        return {}
    return {"working_dir": os.getcwd()}


def _rebuild_timeout(
    feedback_id: str, timeout: float, task_id: str | None, position: int | None
) -> FeedbackTimeoutError:
    return FeedbackTimeoutError(feedback_id, timeout, task_id=task_id, position=position)


def _rebuild_cancelled(feedback_id: str, task_id: str | None) -> FeedbackCancelledError:
    return FeedbackCancelledError(feedback_id, task_id=task_id)


__all__ = ["FeedbackCancelledError", "FeedbackTimeoutError"]
