"""The feedback manager: a task asks a question and waits; anyone with the request's id answers or cancels it.

Flow of :meth:`FeedbackManager.request_feedback` (spec 10.3, with the fixes of D23/D24):

1. choose the feedback id: the given one, else the one this task used at this position before the run paused
   (``resume_ids``, see :mod:`graflow.hitl.resume`), else a new random one;
2. an answer stored under that id is returned at once (a resumed task); a cancelled request raises at once;
3. otherwise the request is stored as ``pending`` (or re-opened), the handler is told, and the task waits: woken by
   the backend's notification (Redis pub/sub; in-process for the filesystem) or by its next read of the store;
4. an answer returns the response; a cancellation raises :class:`FeedbackCancelledError` at once; when the
   timeout runs out (measured on the monotonic clock, not rounded) the request becomes ``timeout`` and
   :class:`FeedbackTimeoutError` is raised. A cancelled request stays cancelled.

Whichever way the answer arrived, the waiting task writes it to its channel when asked to (D24).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from graflow.hitl.backend import FeedbackBackend, create_feedback_backend
from graflow.hitl.exceptions import FeedbackCancelledError, FeedbackTimeoutError
from graflow.hitl.handler import FeedbackHandler
from graflow.hitl.types import (
    CANCELLED,
    COMPLETED,
    OPEN_STATUSES,
    PENDING,
    STATUSES,
    TIMEOUT,
    FeedbackRequest,
    FeedbackResponse,
    FeedbackType,
    new_feedback_id,
)

if TYPE_CHECKING:
    from graflow.channels.base import Channel

logger = logging.getLogger(__name__)

#: Suffix of the channel key that receives the full response dict.
RESPONSE_KEY_SUFFIX = ".__feedback_response__"


class FeedbackManager:
    """Stores feedback requests, waits for their answers, and accepts answers and cancellations.

    Args:
        backend: A backend instance, or ``"filesystem"`` / ``"redis"``.
        backend_config: Settings of a backend given by name (see
            :func:`graflow.hitl.backend.create_feedback_backend`).
        channel_manager: Channel the waiting side writes answers to (``write_to_channel``); a call may pass its own.
    """

    def __init__(
        self,
        backend: str | FeedbackBackend = "filesystem",
        backend_config: dict[str, Any] | None = None,
        channel_manager: Channel | None = None,
    ) -> None:
        self._backend = (
            backend if isinstance(backend, FeedbackBackend) else create_feedback_backend(backend, backend_config)
        )
        self.channel_manager = channel_manager

    @property
    def backend(self) -> FeedbackBackend:
        """The storage backend."""
        return self._backend

    # -- the waiting side -------------------------------------------------------------------------------------------
    def request_feedback(
        self,
        task_id: str,
        session_id: str,
        feedback_type: FeedbackType | str,
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float = 180.0,
        channel_key: str | None = None,
        write_to_channel: bool = False,
        feedback_id: str | None = None,
        handler: FeedbackHandler | None = None,
        *,
        channel: Channel | None = None,
        position: int | None = None,
        resume_ids: MutableMapping[tuple[str, int], str] | None = None,
    ) -> FeedbackResponse:
        """Ask a question and wait for the answer.

        Args:
            task_id: The asking task.
            session_id: The run it belongs to.
            feedback_type: What kind of answer is wanted (enum or its value).
            prompt: The question.
            options: Choices of a selection or multi-selection request.
            metadata: Details shown with the request.
            timeout: Seconds to wait; 0 checks once. Measured from the start of this call.
            channel_key: Channel key to write the answer to.
            write_to_channel: Write the answer to ``channel_key`` and the response dict to
                ``<channel_key>.__feedback_response__``, in this process, however the answer arrived (D24).
            feedback_id: Use this id (e.g. one kept from an earlier run); wins over ``resume_ids``.
            handler: Notified when the request is created, answered, timed out or cancelled.
            channel: Channel for ``write_to_channel``; defaults to the manager's ``channel_manager``.
            position: Which request of the task's current run this is (0 for the first); with ``resume_ids``.
            resume_ids: Ids by ``(task_id, position)`` (a :class:`graflow.hitl.resume.FeedbackIds` or any mutable
                mapping). The id found there is reused; a new id is recorded there before waiting, so a checkpoint
                taken after a timeout carries it.

        Returns:
            The response.

        Raises:
            FeedbackTimeoutError: No answer within ``timeout``; the request's status is then ``timeout``.
            FeedbackCancelledError: The request was cancelled, before or while waiting.
            ValueError: ``resume_ids`` without ``position``, or an unknown ``feedback_type``.
        """
        wait = float(timeout)
        deadline = time.monotonic() + (wait if wait > 0 else 0.0)  # negative and NaN: check once
        ftype = FeedbackType(feedback_type)
        feedback_id = self._choose_id(task_id, feedback_id, position, resume_ids)
        response = self._backend.get_response(feedback_id)
        if response is None:
            request = FeedbackRequest(
                feedback_id=feedback_id,
                task_id=task_id,
                session_id=session_id,
                feedback_type=ftype,
                prompt=prompt,
                options=options,
                metadata=dict(metadata or {}),
                timeout=timeout,
                channel_key=channel_key,
                write_to_channel=write_to_channel,
            )
            response = self._wait(self._open(request), deadline, handler, position)
        else:
            logger.info("Feedback %s was answered before; returning the stored answer", feedback_id)
        if write_to_channel and channel_key:
            self._write_to_channel(
                channel if channel is not None else self.channel_manager, channel_key, ftype, response
            )
        return response

    @staticmethod
    def _choose_id(
        task_id: str,
        feedback_id: str | None,
        position: int | None,
        resume_ids: MutableMapping[tuple[str, int], str] | None,
    ) -> str:
        if resume_ids is None:
            return feedback_id or new_feedback_id()
        if position is None:
            raise ValueError("request_feedback: resume_ids needs the request's position within the task")
        chosen = feedback_id or resume_ids.get((task_id, position)) or new_feedback_id()
        resume_ids[(task_id, position)] = chosen
        return chosen

    def _open(self, request: FeedbackRequest) -> FeedbackRequest:
        """Store ``request`` as pending, or re-open the stored request of the same id (a resumed task)."""
        stored = self._backend.get_request(request.feedback_id)
        if stored is None or stored.status == COMPLETED:  # completed without a stored answer: ask again
            self._backend.store_request(request)
            return request
        if stored.status == CANCELLED:
            raise FeedbackCancelledError(request.feedback_id, task_id=request.task_id)
        # Keep the original creation time and what the engine added to the metadata (checkpoint details).
        changes = request.model_dump(exclude={"feedback_id", "created_at", "status"})
        changes["feedback_type"] = request.feedback_type
        changes["metadata"] = {**stored.metadata, **request.metadata}
        reopened = self._backend.transition(request.feedback_id, OPEN_STATUSES, PENDING, changes=changes)
        return reopened if reopened is not None else stored  # answered or cancelled meanwhile: _wait sees it

    def _wait(
        self, request: FeedbackRequest, deadline: float, handler: FeedbackHandler | None, position: int | None
    ) -> FeedbackResponse:
        feedback_id = request.feedback_id
        event = threading.Event()
        listener = self._backend.start_listener(feedback_id, event)
        interval = self._backend.notified_poll_interval if listener is not None else self._backend.poll_interval
        try:
            _notify(handler, "on_request_created", request)
            while True:
                response = self._check(request)
                if response is not None:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                event.wait(min(interval, remaining))
                event.clear()  # cleared before the next read of the store, so no notification is lost
        except FeedbackCancelledError:
            _notify(handler, "on_request_cancelled", self._backend.get_request(feedback_id) or request)
            raise
        finally:
            self._backend.stop_listener(feedback_id, event)
        if response is None:
            timed_out = self._backend.transition(feedback_id, {PENDING}, TIMEOUT)
            if timed_out is None:  # answered or cancelled at the last moment, or the request is gone
                try:
                    response = self._check(request)
                except FeedbackCancelledError:
                    _notify(handler, "on_request_cancelled", self._backend.get_request(feedback_id) or request)
                    raise
            if response is None:
                logger.info("Feedback %s timed out after %s seconds", feedback_id, request.timeout)
                _notify(handler, "on_request_timeout", timed_out or request)
                raise FeedbackTimeoutError(feedback_id, request.timeout, task_id=request.task_id, position=position)
        # An answer stored directly (store_response) leaves the request open: close it.
        completed = self._backend.transition(feedback_id, OPEN_STATUSES, COMPLETED)
        _notify(
            handler, "on_response_received", completed or self._backend.get_request(feedback_id) or request, response
        )
        return response

    def _check(self, request: FeedbackRequest) -> FeedbackResponse | None:
        """The answer if there is one; raises if the request was cancelled."""
        response = self._backend.get_response(request.feedback_id)
        if response is not None:
            return response
        stored = self._backend.get_request(request.feedback_id)
        if stored is not None and stored.status == CANCELLED:
            raise FeedbackCancelledError(request.feedback_id, task_id=request.task_id)
        if stored is not None and stored.status == COMPLETED:  # answered between the two reads
            return self._backend.get_response(request.feedback_id)
        return None

    @staticmethod
    def _write_to_channel(
        channel: Channel | None, channel_key: str, feedback_type: FeedbackType, response: FeedbackResponse
    ) -> None:
        if channel is None:
            logger.warning("Feedback %s: write_to_channel is set but there is no channel", response.feedback_id)
            return
        try:
            answer = response.model_copy(update={"response_type": feedback_type}).answer()
            channel.set(channel_key, answer)
            channel.set(f"{channel_key}{RESPONSE_KEY_SUFFIX}", response.to_dict())
        except Exception:
            logger.exception(
                "Feedback %s: writing the answer to channel key %r failed", response.feedback_id, channel_key
            )

    # -- the answering side ------------------------------------------------------------------------------------------
    def provide_feedback(self, feedback_id: str, response: FeedbackResponse) -> bool:
        """Answer a request and wake its waiter.

        Returns:
            True when the answer was stored; False when the request is unknown, or is neither pending nor timed
            out (already answered, or cancelled).
        """
        if response.feedback_id != feedback_id:
            response = response.model_copy(update={"feedback_id": feedback_id})
        if self._backend.transition(feedback_id, OPEN_STATUSES, COMPLETED, response=response) is None:
            logger.warning("Feedback %s was not answered: unknown, already answered or cancelled", feedback_id)
            return False
        self._publish(feedback_id)
        logger.info("Feedback %s answered", feedback_id)
        return True

    def cancel(self, feedback_id: str) -> bool:
        """Cancel a request and wake its waiter, which raises :class:`FeedbackCancelledError` (D24).

        Returns:
            True when the request is cancelled (now or before); False when it is unknown or already answered.
        """
        if self._backend.transition(feedback_id, OPEN_STATUSES, CANCELLED) is None:
            stored = self._backend.get_request(feedback_id)
            return stored is not None and stored.status == CANCELLED
        self._publish(feedback_id)
        logger.info("Feedback %s cancelled", feedback_id)
        return True

    def add_metadata(self, feedback_id: str, metadata: dict[str, Any]) -> FeedbackRequest | None:
        """Merge ``metadata`` into a stored request's metadata (e.g. checkpoint details after a timeout).

        Returns:
            The updated request, or None when it is unknown.
        """
        added = dict(metadata)

        def merge(stored: FeedbackRequest) -> dict[str, Any]:
            # Merged inside the backend's atomic step, so concurrent additions (the engine's checkpoint details,
            # a resumer's progress) never overwrite each other.
            return {"metadata": {**stored.metadata, **added}}

        return self._backend.transition(feedback_id, STATUSES, None, changes=merge)

    def _publish(self, feedback_id: str) -> None:
        try:
            self._backend.publish(feedback_id)
        except Exception:  # the change is stored; a waiter sees it on its next read
            logger.exception("Feedback %s: notifying waiters failed", feedback_id)

    # -- queries and storage ---------------------------------------------------------------------------------------
    def list_pending_requests(self, session_id: str | None = None) -> list[FeedbackRequest]:
        """Pending requests (of one session when given), newest first."""
        return self._backend.list_pending_requests(session_id)

    def list_requests(self, session_id: str | None = None, n_recent: int = 100) -> list[FeedbackRequest]:
        """Up to ``n_recent`` requests of every status (of one session when given), newest first."""
        return self._backend.list_requests(session_id, n_recent)

    def get_request(self, feedback_id: str) -> FeedbackRequest | None:
        """The stored request, or None."""
        return self._backend.get_request(feedback_id)

    def get_response(self, feedback_id: str) -> FeedbackResponse | None:
        """The stored response, or None."""
        return self._backend.get_response(feedback_id)

    def store_request(self, request: FeedbackRequest) -> None:
        """Create or replace a request as given (no status checks, no notification)."""
        self._backend.store_request(request)

    def store_response(self, response: FeedbackResponse) -> None:
        """Store a response as given; a waiter picks it up on its next read of the store."""
        self._backend.store_response(response)

    def close(self) -> None:
        """Close the backend (stops listener threads)."""
        self._backend.close()


def _notify(handler: FeedbackHandler | None, hook: str, *args: Any) -> None:
    """Call ``handler.<hook>(*args)``, logging and swallowing anything it raises."""
    if handler is None:
        return
    method: Callable[..., Any] | None = getattr(handler, hook, None)
    if method is None:  # a handler written for 0.2 has no on_request_cancelled unless it subclasses FeedbackHandler
        return
    try:
        method(*args)
    except Exception:
        logger.exception("Feedback handler %s.%s failed", type(handler).__name__, hook)


__all__ = ["FeedbackManager", "RESPONSE_KEY_SUFFIX"]
