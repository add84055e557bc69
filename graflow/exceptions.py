"""The one error tree of Graflow.

Every error the library raises derives from :class:`GraflowError` and builds its message from its fields.
Signals that must unwind past a user's ``except Exception`` derive from ``BaseException``.
"""

from __future__ import annotations

from typing import Any


class GraflowError(Exception):
    """Base of every Graflow error.

    Args:
        message: Human readable description.
        cause: The exception that led to this one, if any. ``str()`` appends ``" (caused by <cause>)"``.
    """

    def __init__(self, message: str = "", cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause

    def __str__(self) -> str:
        if self.cause is not None:
            return f"{self.message} (caused by {self.cause})"
        return self.message


class GraflowRuntimeError(GraflowError):
    """A failure while a workflow runs (task failure, unknown node, missing context)."""


class CycleLimitExceededError(GraflowRuntimeError):
    """``next_iteration`` was asked for more cycles than the task's budget allows."""

    def __init__(self, task_id: str, cycle_count: int, max_cycles: int) -> None:
        self.task_id = task_id
        self.cycle_count = cycle_count
        self.max_cycles = max_cycles
        super().__init__(
            f"CycleLimitExceededError(task_id={task_id}, cycle_count={cycle_count}, max_cycles={max_cycles})"
        )


class RetryLimitExceededError(GraflowRuntimeError):
    """A task failed on every attempt. ``retry_count`` is the number of retries performed (D9)."""

    def __init__(
        self, task_id: str, retry_count: int, max_retries: int, last_error: BaseException | None = None
    ) -> None:
        self.task_id = task_id
        self.retry_count = retry_count
        self.max_retries = max_retries
        self.last_error = last_error
        super().__init__(
            f"RetryLimitExceededError(task_id={task_id}, retry_count={retry_count}, max_retries={max_retries})",
            cause=last_error,
        )

    def __str__(self) -> str:
        return self.message


class TaskError(GraflowRuntimeError):
    """An error attributed to one task."""

    def __init__(self, task_id: str, message: str, cause: BaseException | None = None) -> None:
        self.task_id = task_id
        super().__init__(f"Error in task '{task_id}': {message}", cause=cause)


class TaskFailedError(GraflowRuntimeError):
    """A task raised an exception and had no retries left: the message names the task once.

    ``str()`` reads ``Task '<task_id>' failed: <ExceptionType>: <message>``; the task's own exception is
    ``cause`` and ``__cause__``.
    """

    def __init__(self, task_id: str, cause: BaseException) -> None:
        self.task_id = task_id
        detail = str(cause)
        kind = type(cause).__name__
        summary = f"{kind}: {detail}" if detail else kind
        super().__init__(f"Task '{task_id}' failed: {summary}", cause=cause)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Workers send a failed run's error back pickled: rebuild it from its fields, not from ``args``.
        return (type(self), (self.task_id, self.cause))


class RunPausedError(GraflowError):
    """Raised by a task to pause the run: the engine checkpoints it with that task first to run on resume, sets
    ``status == "paused"`` and returns None from ``execute`` (D23). A feedback request that times out is one.

    Subclasses may override :meth:`paused` to learn where the checkpoint went.

    Attributes:
        reason: Why the run paused (recorded as the checkpoint's ``reason`` metadata).
        task_id: The task that paused the run (set by the engine when the task did not).
        checkpoint_metadata: More user metadata for the checkpoint.
    """

    reason = "paused"

    def __init__(self, message: str = "", *, task_id: str | None = None,
                 checkpoint_metadata: dict[str, Any] | None = None) -> None:
        self.task_id = task_id
        self.checkpoint_metadata = dict(checkpoint_metadata or {})
        super().__init__(message or "the run was paused")

    def paused(self, context: Any, checkpoint_path: str, checkpoint: Any) -> None:
        """Called once the run is paused and checkpointed at ``checkpoint_path`` (``checkpoint``: its metadata)."""


class TaskTimeoutError(GraflowRuntimeError):
    """A task ran longer than its ``timeout`` and its handler stopped it.

    Attributes:
        task_id: The task that was stopped.
        timeout: The limit it exceeded, in seconds.
    """

    def __init__(self, task_id: str, timeout: float) -> None:
        self.task_id = task_id
        self.timeout = timeout
        super().__init__(f"Task '{task_id}' timed out after {timeout:g}s and was stopped")

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent back pickled by workers: rebuild it from its fields, not from ``args``.
        return (type(self), (self.task_id, self.timeout))


class GraphCompilationError(GraflowError):
    """The graph cannot be run as given (start node detection, duplicate ids)."""


class DuplicateTaskError(GraphCompilationError):
    """A task id is already a node of the graph."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"Duplicate task ID: {task_id}")


class ConfigError(GraflowError):
    """Invalid configuration: unknown backend, unregistered type, bad option."""


class ParallelGroupError(GraflowRuntimeError):
    """A parallel group's policy rejected the members' outcome.

    Attributes:
        group_id: The group node id.
        failed_tasks: ``[(member_id, error_message), ...]``.
        successful_tasks: Ids of members that succeeded.
        member_errors: ``{member_id: original exception}`` for failed members, when known.
    """

    def __init__(
        self,
        message: str,
        group_id: str,
        failed_tasks: list[tuple[str, str]] | None = None,
        successful_tasks: list[str] | None = None,
        member_errors: dict[str, BaseException] | None = None,
    ) -> None:
        self.group_id = group_id
        self.failed_tasks = list(failed_tasks or [])
        self.successful_tasks = list(successful_tasks or [])
        self.member_errors = dict(member_errors or {})
        super().__init__(message)


class GraflowWorkflowCanceledError(GraflowRuntimeError):
    """A task called ``cancel_workflow``."""

    def __init__(self, message: str, task_id: str | None = None) -> None:
        self.task_id = task_id
        self.reason = message
        super().__init__(f"Workflow canceled by task '{task_id}': {message}")


class CheckpointError(GraflowError):
    """A checkpoint could not be written, or was refused when read back.

    Attributes:
        check: The check that failed: ``missing``, ``meta``, ``format_version``, ``checksum``, ``signature``,
            ``graph_hash``, ``unpickle``, ``channel_snapshot``, ``location`` or ``write``.
        location: The checkpoint the error is about, as the user named it.
        detail: What was wrong, without the prefix.
    """

    def __init__(
        self, check: str, detail: str, *, location: str | None = None, cause: BaseException | None = None
    ) -> None:
        self.check = check
        self.detail = detail
        self.location = location
        where = f" '{location}'" if location else ""
        verb = "could not be written" if check == "write" else f"refused: {check} check failed"
        super().__init__(f"Checkpoint{where} {verb}: {detail}", cause=cause)


class WorkerShutdown(BaseException):
    """Raised inside a worker to unwind past user ``except Exception`` blocks on shutdown."""


def as_runtime_error(ex: BaseException) -> GraflowRuntimeError:
    """Pass a :class:`GraflowRuntimeError` through; wrap anything else as ``An error occurred: <msg>``."""
    if isinstance(ex, GraflowRuntimeError):
        return ex
    return GraflowRuntimeError(f"An error occurred: {ex}", cause=ex)


def error_message(ex: BaseException | Any) -> str:
    """The message of the innermost user error, without Graflow's wrapping text."""
    seen = 0
    while isinstance(ex, GraflowRuntimeError) and ex.cause is not None and seen < 10:
        if isinstance(ex, (RetryLimitExceededError, ParallelGroupError, CycleLimitExceededError)):
            break
        ex = ex.cause
        seen += 1
    return str(ex)


__all__ = [
    "CheckpointError",
    "ConfigError",
    "CycleLimitExceededError",
    "DuplicateTaskError",
    "GraflowError",
    "GraflowRuntimeError",
    "GraflowWorkflowCanceledError",
    "GraphCompilationError",
    "ParallelGroupError",
    "RetryLimitExceededError",
    "RunPausedError",
    "TaskError",
    "TaskFailedError",
    "TaskTimeoutError",
    "WorkerShutdown",
    "as_runtime_error",
    "error_message",
]
