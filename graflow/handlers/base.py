"""The shared part of the handlers that run each task attempt in another process (a subprocess, a container)."""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from graflow.core.handler import TaskHandler
from graflow.handlers.errors import TaskProcessError
from graflow.handlers.protocol import (
    TaskOutcome,
    apply_outcome,
    attempt_context,
    build_payload,
    dump_payload,
    load_outcome,
    payload_meta,
)

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.task import Executable


def check_timeout(timeout: Any, owner: str) -> float | None:
    """``timeout`` as seconds (None: no limit).

    Raises:
        ValueError: It is not a positive number.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise ValueError(f"{owner}: timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


class ProcessTaskHandler(TaskHandler):
    """Runs each attempt of a task in another process and replays what it did on the run.

    The task travels pickled with cloudpickle together with its inputs, resolved by the run (D11), and a copy of
    the channel. Its result, its channel writes, the tasks it schedules (``next_task``, ``next_iteration``) and
    its control requests (``terminate_workflow``, ``cancel_workflow``, deferred checkpoints) come back and are
    applied to the run; its exception comes back as itself and is raised here, so retries and error policies work
    as for an in-process task. Subclasses say how the process is started (:meth:`run_attempt`).

    Args:
        timeout: Seconds an attempt may run before it is stopped (:class:`~graflow.exceptions.TaskTimeoutError`);
            a task's own ``@task(timeout=...)`` wins. None: no limit.
    """

    #: What runs the attempt, as errors name it.
    where = "process"

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = check_timeout(timeout, type(self).__name__)

    def timeout_for(self, task: Executable) -> float | None:
        """The limit of one attempt of ``task``: its own ``timeout``, else this handler's."""
        own = getattr(task, "timeout", None)
        return float(own) if own is not None else self.timeout

    def execute_task(self, task: Executable, context: ExecutionContext) -> Any:
        """Run one attempt of ``task`` in another process; store and return its result, or store and raise its
        error."""
        with attempt_context(task, context) as tctx:
            try:
                payload = build_payload(task, context, tctx)
                data = dump_payload(payload)
                raw = self.run_attempt(task.task_id, data, payload_meta(payload), self.timeout_for(task))
                outcome = self._read_outcome(task.task_id, raw)
            except Exception as exc:
                context.set_result(task.task_id, exc)
                raise
            return apply_outcome(task, context, tctx, outcome)

    @abstractmethod
    def run_attempt(self, task_id: str, payload: bytes, meta: bytes, timeout: float | None) -> bytes:
        """Run ``python -m graflow.handlers.runner`` on a task directory holding ``payload`` (``payload.pkl``) and
        ``meta`` (``meta.json``); return the bytes of the ``outcome.pkl`` it wrote.

        Raises:
            TaskTimeoutError: The attempt ran past ``timeout`` and was stopped.
            TaskProcessError: The process ended without writing an outcome.
            HandlerUnavailableError: The process could not be started.
        """

    def _read_outcome(self, task_id: str, raw: bytes) -> TaskOutcome:
        try:
            return load_outcome(raw)
        except Exception as exc:
            raise TaskProcessError(
                task_id, self.where, exit_code=0, detail=f"its outcome could not be read back here ({exc})"
            ) from exc


__all__ = ["ProcessTaskHandler", "check_timeout"]
