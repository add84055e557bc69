"""Shared helpers of the HITL tests: a recording handler and an answering thread driven by its events."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from graflow.hitl.handler import FeedbackHandler
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import FeedbackRequest, FeedbackResponse


class Recorder(FeedbackHandler):
    """Records every hook call; ``created`` yields each request as soon as it is stored."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.created: queue.Queue[FeedbackRequest] = queue.Queue()
        self.last: dict[str, Any] = {}

    def on_request_created(self, request: FeedbackRequest) -> None:
        self.calls.append(("created", request.feedback_id))
        self.last["created"] = request
        self.created.put(request)

    def on_response_received(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
        self.calls.append(("received", request.feedback_id))
        self.last["received"] = (request, response)

    def on_request_timeout(self, request: FeedbackRequest) -> None:
        self.calls.append(("timeout", request.feedback_id))
        self.last["timeout"] = request

    def on_request_cancelled(self, request: FeedbackRequest) -> None:
        self.calls.append(("cancelled", request.feedback_id))
        self.last["cancelled"] = request

    def hooks(self) -> list[str]:
        return [hook for hook, _ in self.calls]


class Responder(threading.Thread):
    """Waits until the recorder reports a new request, then runs ``act(request)`` and notes when it did."""

    def __init__(self, recorder: Recorder, act: Callable[[FeedbackRequest], Any]) -> None:
        super().__init__(daemon=True)
        self.recorder = recorder
        self.act = act
        self.acted_at: float | None = None
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            request = self.recorder.created.get(timeout=30)
            self.acted_at = time.monotonic()
            self.result = self.act(request)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> Any:
        self.join(30)
        assert not self.is_alive(), "the responder did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def answer_with(manager: FeedbackManager, **fields: Any) -> Callable[[FeedbackRequest], bool]:
    """An action for :class:`Responder`: answer the request through ``manager`` with the given response fields."""

    def act(request: FeedbackRequest) -> bool:
        response = FeedbackResponse(feedback_id=request.feedback_id, response_type=request.feedback_type, **fields)
        return manager.provide_feedback(request.feedback_id, response)

    return act
