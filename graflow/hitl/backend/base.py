"""The storage contract of feedback requests and responses.

A backend stores requests and responses by feedback id and, optionally, notifies waiters when a request changes.
The six storage methods are abstract (as in Graflow 0.2). :meth:`FeedbackBackend.publish`,
:meth:`FeedbackBackend.start_listener` and :meth:`FeedbackBackend.close` have working defaults, so a backend
written for 0.2 still works; so does :meth:`FeedbackBackend.transition`, the atomic status change the manager uses,
whose default is atomic only within one process. The shared test suite is
:class:`graflow.testing.contracts.feedback.FeedbackBackendContract`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, TypeAlias

from graflow.hitl.types import FeedbackRequest, FeedbackResponse

#: What ``transition`` changes besides the status: fixed fields, or a function of the current request that returns
#: them (or None to refuse the change), evaluated inside the atomic step.
Changes: TypeAlias = Mapping[str, Any] | Callable[[FeedbackRequest], Mapping[str, Any] | None] | None

#: Called with the feedback id of a request that was answered or cancelled (see ``FeedbackBackend.start_watcher``).
ChangeCallback: TypeAlias = Callable[[str], None]

# Serialises the default, read-modify-write transition of backends that do not provide an atomic one.
_DEFAULT_TRANSITION_LOCK = threading.Lock()


class FeedbackBackend(ABC):
    """Where feedback requests and responses live.

    Attributes:
        poll_interval: Seconds between reads of the store by a waiter that has no running listener thread.
        notified_poll_interval: Seconds between reads by a waiter whose listener thread runs; a safety net against a
            lost notification, not the way answers arrive.
    """

    poll_interval: float = 0.25
    notified_poll_interval: float = 1.0

    @abstractmethod
    def store_request(self, request: FeedbackRequest) -> None:
        """Create or replace the request stored under ``request.feedback_id``.

        Raises:
            ValueError: The feedback id cannot name a stored request (see ``validate_feedback_id``).
        """

    @abstractmethod
    def get_request(self, feedback_id: str) -> FeedbackRequest | None:
        """The request stored under ``feedback_id``, or None (also for an id that cannot exist)."""

    @abstractmethod
    def store_response(self, response: FeedbackResponse) -> None:
        """Create or replace the response stored under ``response.feedback_id``.

        Raises:
            ValueError: The feedback id cannot name a stored response.
        """

    @abstractmethod
    def get_response(self, feedback_id: str) -> FeedbackResponse | None:
        """The response stored under ``feedback_id``, or None."""

    @abstractmethod
    def list_pending_requests(self, session_id: str | None = None) -> list[FeedbackRequest]:
        """Requests whose status is ``pending``, of one session when ``session_id`` is given."""

    @abstractmethod
    def list_requests(self, session_id: str | None = None, n_recent: int = 100) -> list[FeedbackRequest]:
        """Up to ``n_recent`` requests of every status, newest first, of one session when ``session_id`` is given."""

    def publish(self, feedback_id: str) -> None:  # noqa: B027 - optional hook, no-op by default
        """Tell waiters on ``feedback_id`` that its request changed (answered or cancelled).

        The default does nothing: waiters then notice the change on their next read of the store.
        """

    def start_listener(self, feedback_id: str, notification_event: threading.Event) -> threading.Thread | None:
        """Start listening for :meth:`publish` of ``feedback_id``, setting ``notification_event`` when it happens.

        The listener must be registered when this returns, so a publish that follows is never missed. It runs until
        :meth:`stop_listener` is called with the same event (or the backend is closed).

        Returns:
            The thread that listens, or None when no thread was started (the default: no notifications, or
            notifications delivered without a thread of their own).
        """
        return None

    def stop_listener(self, feedback_id: str, notification_event: threading.Event) -> None:  # noqa: B027
        """Stop the listener started by :meth:`start_listener` for this id and event (no-op by default)."""

    def start_watcher(self, on_change: ChangeCallback) -> threading.Thread | None:
        """Call ``on_change(feedback_id)`` after every :meth:`publish`, whichever request it names.

        Watchers serve whoever follows the whole store (the resumer of paused runs). ``on_change`` runs on the
        publishing or listening thread, so it must return quickly. Notifications are a shortcut, never the only way
        to learn of a change: a watcher also reads the store now and then.

        Returns:
            The thread that listens, or None when no thread was started (the default: no notifications).
        """
        return None

    def stop_watcher(self, on_change: ChangeCallback) -> None:  # noqa: B027 - optional hook, no-op by default
        """Stop calling ``on_change`` (no-op by default)."""

    def transition(
        self,
        feedback_id: str,
        allowed: Collection[str],
        status: str | None,
        *,
        response: FeedbackResponse | None = None,
        changes: Changes = None,
    ) -> FeedbackRequest | None:
        """Change a request's status in one atomic step, if its current status allows it.

        Args:
            feedback_id: The request.
            allowed: Statuses the request may be in for the change to happen.
            status: The new status; None keeps the current one (to change other fields only).
            response: Stored in the same step (before the request is updated), when given.
            changes: Other fields of the request to replace in the same step: a mapping, or a function that gets
                the current request and returns the fields (or None to refuse the whole change). The function runs
                inside the atomic step, so it decides on what is stored now (a compare-and-set); it may run more
                than once when a backend retries the step, so it must not have side effects.

        Returns:
            The updated request, or None when the request does not exist, its status is not in ``allowed``, or
            ``changes`` refused (nothing is written then).

        The default reads, checks and writes under a process-wide lock: atomic among threads of one process only.
        Backends shared between processes override it.
        """
        with _DEFAULT_TRANSITION_LOCK:
            request = self.get_request(feedback_id)
            if request is None or request.status not in allowed:
                return None
            updated = apply_changes(request, status, changes)
            if updated is None:
                return None
            if response is not None:
                self.store_response(response)
            self.store_request(updated)
            return updated

    def close(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release connections and stop listeners. Calling it twice is harmless."""


def updated_request(request: FeedbackRequest, status: str | None, changes: Mapping[str, Any] | None) -> FeedbackRequest:
    """A copy of ``request`` with ``changes`` applied and, unless it is None, ``status`` set."""
    update = dict(changes or {})
    if status is not None:
        update["status"] = status
    return request.model_copy(update=update)


def apply_changes(request: FeedbackRequest, status: str | None, changes: Changes) -> FeedbackRequest | None:
    """What :meth:`FeedbackBackend.transition` writes: ``request`` with ``changes`` (evaluated on it when it is a
    function) and ``status``; None when a function refuses."""
    if callable(changes):
        computed = changes(request)
        if computed is None:
            return None
        return updated_request(request, status, computed)
    return updated_request(request, status, changes)


def newest_first(requests: list[FeedbackRequest], n_recent: int | None = None) -> list[FeedbackRequest]:
    """Sort ``requests`` by creation time, newest first, and keep at most ``n_recent`` (all when None)."""
    requests.sort(key=lambda r: (_timestamp(r.created_at), r.feedback_id), reverse=True)
    return requests if n_recent is None else requests[: max(n_recent, 0)]


def _timestamp(created_at: str) -> float:
    # Naive ISO times are local time (as 0.2 wrote them); unparsable ones sort last.
    try:
        return datetime.fromisoformat(created_at).timestamp()
    except (TypeError, ValueError):
        return float("-inf")


def matches(request: FeedbackRequest, session_id: str | None, status: str | None = None) -> bool:
    """Whether ``request`` belongs to ``session_id`` and has ``status``; an empty or None filter matches any."""
    return (not session_id or request.session_id == session_id) and (not status or request.status == status)


__all__ = [
    "FeedbackBackend",
    "Changes",
    "ChangeCallback",
    "apply_changes",
    "updated_request",
    "newest_first",
    "matches",
]
