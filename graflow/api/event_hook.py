"""Feeding a run's event log from the engine: an engine hook, and a feedback manager that reports questions.

:class:`RunEventHook` turns the engine's events into ``run.started``, ``task.started``, ``task.completed``,
``task.failed`` (an attempt that raised; ``task.retrying`` follows when another attempt is scheduled).
``run.paused`` and ``run.finished`` are appended by the code that runs the run (:mod:`graflow.api.launcher`) once the
run store has the run's end, so a client that reads the run on either event sees that state. Questions are reported by
:class:`EventFeedbackManager`, the feedback manager of runs this server executes: ``feedback.requested`` when a task
asks, ``feedback.answered`` when the answer reaches the waiting task.
"""

from __future__ import annotations

import inspect
from typing import Any

from graflow.api.events import (
    FEEDBACK_ANSWERED,
    FEEDBACK_REQUESTED,
    RUN_STARTED,
    TASK_COMPLETED,
    TASK_FAILED,
    TASK_RETRYING,
    TASK_STARTED,
    RunLog,
)
from graflow.core.hooks import EngineHook
from graflow.exceptions import RunPausedError
from graflow.hitl.handler import FeedbackHandler
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import FeedbackRequest, FeedbackResponse


def _attempt(context: Any, task_id: str) -> int:
    """The number of the attempt of ``task_id`` that runs now (1, then 2 for the first retry ...)."""
    return int(context.run.retry_controller.get_retry_count(task_id)) + 1


class RunEventHook(EngineHook):
    """Appends a run's engine events to its log.

    Args:
        log: The run's log.
    """

    def __init__(self, log: RunLog) -> None:
        self.log = log

    def on_workflow_start(self, *, workflow_name: str, context: Any) -> None:
        self.log.append(RUN_STARTED, {"workflow": workflow_name})

    def on_task_start(self, *, task: Any, context: Any) -> None:
        task_id = task.task_id
        self.log.append(TASK_STARTED, {"task_id": task_id, "attempt": _attempt(context, task_id)})

    def on_task_timed(self, task: Any, context: Any, duration: float, error: BaseException | None = None) -> None:
        task_id = task.task_id
        if error is None:
            self.log.append(TASK_COMPLETED, {"task_id": task_id, "attempt": _attempt(context, task_id),
                                             "duration": duration})
        elif not isinstance(error, RunPausedError):  # a pause is reported as run.paused
            self.log.append(TASK_FAILED, {
                "task_id": task_id, "attempt": _attempt(context, task_id), "duration": duration,
                "error_type": type(error).__name__, "error_message": str(error)[:1000],
            })  # fmt: skip

    def on_task_retry(self, *, task: Any, context: Any, attempt: int, delay: float, error: BaseException) -> None:
        self.log.append(TASK_RETRYING, {"task_id": task.task_id, "attempt": attempt, "next_attempt": attempt + 1,
                                        "delay": delay})


class _Reporter(FeedbackHandler):
    """Reports a request's creation and answer to the run's log, then passes every hook on to ``inner``."""

    def __init__(self, log: RunLog, inner: Any) -> None:
        self.log = log
        self.inner = inner

    def _forward(self, hook: str, *args: Any) -> None:
        method = getattr(self.inner, hook, None)
        if method is not None:
            method(*args)  # the manager logs and swallows what this raises

    def on_request_created(self, request: FeedbackRequest) -> None:
        self.log.append(FEEDBACK_REQUESTED, feedback_data(request))
        self._forward("on_request_created", request)

    def on_response_received(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
        self.log.append(FEEDBACK_ANSWERED, {**feedback_data(request), "responded_by": response.responded_by})
        self._forward("on_response_received", request, response)

    def on_request_timeout(self, request: FeedbackRequest) -> None:
        self._forward("on_request_timeout", request)

    def on_request_cancelled(self, request: FeedbackRequest) -> None:
        self._forward("on_request_cancelled", request)


def feedback_data(request: FeedbackRequest) -> dict[str, Any]:
    """What a feedback event says about its request."""
    return {"feedback_id": request.feedback_id, "task_id": request.task_id,
            "feedback_type": request.feedback_type.value, "prompt": request.prompt[:1000]}


_REQUEST_FEEDBACK = inspect.signature(FeedbackManager.request_feedback)


class EventFeedbackManager(FeedbackManager):
    """The feedback manager of a run this server executes: the server's store, and questions reported to the run's
    log.

    Args:
        backend: The server's feedback backend (shared, never closed by this manager).
        log: The run's log.
    """

    def __init__(self, backend: Any, log: RunLog) -> None:
        super().__init__(backend)
        self.log = log

    def request_feedback(self, *args: Any, **kwargs: Any) -> FeedbackResponse:
        bound = _REQUEST_FEEDBACK.bind(self, *args, **kwargs)
        bound.arguments["handler"] = _Reporter(self.log, bound.arguments.get("handler"))
        return super().request_feedback(*bound.args[1:], **bound.kwargs)

    def close(self) -> None:
        """Nothing to close: the backend is the server's."""


__all__ = ["EventFeedbackManager", "RunEventHook", "feedback_data"]
