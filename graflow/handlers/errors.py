"""Errors of the handlers that run a task in another process or a container.

A task's own exception comes back as itself (its class and message, with the child's traceback as a note); these
errors stand for what went wrong around the task. A timeout is :class:`graflow.exceptions.TaskTimeoutError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graflow.exceptions import GraflowRuntimeError


class TaskProcessError(GraflowRuntimeError):
    """The process or container that ran a task ended without reporting the task's outcome (a crash, a signal, an
    outcome that could not be read back).

    Attributes:
        task_id: The task.
        where: What ran it: ``"subprocess"`` or ``"container"``.
        exit_code: The exit status, when the process exited.
        signal_name: The signal that ended it (``"SIGKILL"`` ...), when one did.
        stderr_tail: The last lines it wrote to stderr.
        detail: What else is known (e.g. why the outcome could not be read).
    """

    def __init__(
        self,
        task_id: str,
        where: str,
        exit_code: int | None = None,
        signal_name: str | None = None,
        stderr_tail: Sequence[str] = (),
        detail: str | None = None,
    ) -> None:
        self.task_id = task_id
        self.where = where
        self.exit_code = exit_code
        self.signal_name = signal_name
        self.stderr_tail = list(stderr_tail)
        self.detail = detail
        if signal_name is not None:
            how = f"was killed by {signal_name}"
        elif exit_code is not None:
            how = f"exited with code {exit_code}"
        else:
            how = "failed" if detail else "ended"
        message = f"Task '{task_id}' failed: its {where} {how}" + (f": {detail}" if detail else
                                                                   " without reporting an outcome")
        if self.stderr_tail:
            message += "; last stderr lines:\n" + "\n".join(f"  {line}" for line in self.stderr_tail)
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.task_id, self.where, self.exit_code, self.signal_name, self.stderr_tail, self.detail),
        )


class HandlerUnavailableError(GraflowRuntimeError):
    """A handler could not start what runs a task: a missing interpreter, SDK, engine or image.

    Attributes:
        task_id: The task that could not start.
        handler: The handler's name (``"subprocess"``, ``"docker"``).
        reason: What is missing, and how to provide it.
    """

    def __init__(self, task_id: str, handler: str, reason: str) -> None:
        self.task_id = task_id
        self.handler = handler
        self.reason = reason
        super().__init__(f"Task '{task_id}' could not start in its {handler} handler: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.task_id, self.handler, self.reason))


__all__ = ["HandlerUnavailableError", "TaskProcessError"]
