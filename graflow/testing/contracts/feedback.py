"""The behaviour every :class:`~graflow.hitl.backend.base.FeedbackBackend` must show.

Subclass :class:`FeedbackBackendContract` in a test module (the subclass name must start with ``Test``) and
override :meth:`FeedbackBackendContract.make_backend`. Each call must return a *new instance on the same store*,
the way an API server and a worker each have their own backend on one folder or one Redis::

    class TestRedisFeedbackBackend(FeedbackBackendContract):
        @pytest.fixture(autouse=True)
        def _redis(self, redis_client, key_prefix):
            self.client, self.prefix = redis_client, key_prefix

        def make_backend(self):
            return RedisFeedbackBackend(self.client, key_prefix=f"{self.prefix}:feedback")

Backends made through the ``backend`` and ``other`` fixtures are closed after the test.
"""

from __future__ import annotations

import functools
import pickle
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest

from graflow.hitl.backend.base import FeedbackBackend
from graflow.hitl.types import (
    CANCELLED,
    COMPLETED,
    OPEN_STATUSES,
    PENDING,
    TIMEOUT,
    FeedbackRequest,
    FeedbackResponse,
    FeedbackType,
    new_feedback_id,
)

#: Ids no backend may store, because they could escape a folder, a key namespace or a glob.
UNSAFE_IDS = ["../escape", "a/b", "a\\b", ".hidden", "", "x" * 200, "a:b", "star*", "sp ace", "new\nline"]


def make_request(**fields: Any) -> FeedbackRequest:
    """A pending approval request with a fresh id; ``fields`` override any field."""
    values: dict[str, Any] = {
        "feedback_id": new_feedback_id(),
        "task_id": "review",
        "session_id": "session-1",
        "feedback_type": FeedbackType.APPROVAL,
        "prompt": "Deploy?",
    }
    values.update(fields)
    return FeedbackRequest(**values)


def make_response(feedback_id: str, **fields: Any) -> FeedbackResponse:
    """An approving response to ``feedback_id``; ``fields`` override any field."""
    values: dict[str, Any] = {"feedback_id": feedback_id, "response_type": FeedbackType.APPROVAL, "approved": True}
    values.update(fields)
    return FeedbackResponse(**values)


def run_together(targets: list[Callable[[], Any]], timeout: float = 30.0) -> list[Any]:
    """Run the callables in threads released together by a barrier; return their results, re-raise a failure."""
    barrier = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait(timeout)
            results[index] = targets[index]()
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "threads did not finish"
    if errors:
        raise errors[0]
    return results


class FeedbackBackendContract:
    """The shared feedback backend test suite. Override :meth:`make_backend`."""

    #: Longest time, in seconds, from ``publish`` on one instance to the listener's event on another.
    notify_latency: ClassVar[float] = 0.5
    #: Threads racing in the concurrency tests.
    racers: ClassVar[int] = 8

    def make_backend(self) -> FeedbackBackend:
        """A new backend instance on the store under test. Every backend's test class overrides this."""
        raise NotImplementedError(f"{type(self).__name__} must override make_backend()")

    @pytest.fixture
    def backend(self) -> Iterator[FeedbackBackend]:
        """A backend instance, closed after the test."""
        backend = self.make_backend()
        yield backend
        backend.close()

    @pytest.fixture
    def other(self) -> Iterator[FeedbackBackend]:
        """A second instance on the same store (another process, as far as the contract is concerned)."""
        backend = self.make_backend()
        yield backend
        backend.close()

    # -- requests ----------------------------------------------------------------------------------------------------
    def test_stored_request_reads_back_field_for_field(self, backend: FeedbackBackend) -> None:
        request = make_request(
            feedback_type=FeedbackType.MULTI_SELECTION,
            prompt="Pick — ключ ✓ <b>&",
            options=["a", "b", "ü"],
            metadata={"n": 1, "x": 2.5, "ok": True, "none": None, "nested": {"list": [1, "two", {"three": 3}]}},
            timeout=12.5,
            channel_key="choice",
            write_to_channel=True,
        )
        backend.store_request(request)
        stored = backend.get_request(request.feedback_id)
        assert stored is not None
        assert stored.to_dict() == request.to_dict()
        assert stored.feedback_type is FeedbackType.MULTI_SELECTION

    @pytest.mark.parametrize("feedback_type", list(FeedbackType))
    def test_every_feedback_type_round_trips(self, backend: FeedbackBackend, feedback_type: FeedbackType) -> None:
        request = make_request(feedback_type=feedback_type)
        backend.store_request(request)
        stored = backend.get_request(request.feedback_id)
        assert stored is not None and stored.feedback_type is feedback_type

    def test_unknown_ids_read_as_none(self, backend: FeedbackBackend) -> None:
        assert backend.get_request(new_feedback_id()) is None
        assert backend.get_response(new_feedback_id()) is None

    @pytest.mark.parametrize("feedback_id", UNSAFE_IDS)
    def test_unsafe_ids_read_as_none_and_are_refused(self, backend: FeedbackBackend, feedback_id: str) -> None:
        assert backend.get_request(feedback_id) is None
        assert backend.get_response(feedback_id) is None
        with pytest.raises(ValueError, match="invalid feedback id"):
            backend.store_request(make_request(feedback_id=feedback_id))
        with pytest.raises(ValueError, match="invalid feedback id"):
            backend.store_response(make_response(feedback_id))
        assert backend.transition(feedback_id, OPEN_STATUSES, CANCELLED) is None

    def test_storing_a_request_again_replaces_it(self, backend: FeedbackBackend) -> None:
        request = make_request()
        backend.store_request(request)
        backend.store_request(request.model_copy(update={"status": TIMEOUT, "prompt": "Deploy now?"}))
        stored = backend.get_request(request.feedback_id)
        assert stored is not None and (stored.status, stored.prompt) == (TIMEOUT, "Deploy now?")

    def test_another_instance_sees_every_write(self, backend: FeedbackBackend, other: FeedbackBackend) -> None:
        request = make_request()
        backend.store_request(request)
        backend.store_response(make_response(request.feedback_id, reason="fine"))
        seen = other.get_request(request.feedback_id)
        assert seen is not None and seen.to_dict() == request.to_dict()
        answer = other.get_response(request.feedback_id)
        assert answer is not None and answer.reason == "fine"
        assert [r.feedback_id for r in other.list_requests(session_id=request.session_id)] == [request.feedback_id]

    # -- responses ---------------------------------------------------------------------------------------------------
    def test_stored_response_reads_back_field_for_field(self, backend: FeedbackBackend) -> None:
        feedback_id = new_feedback_id()
        response = make_response(
            feedback_id,
            response_type=FeedbackType.CUSTOM,
            approved=None,
            custom_data={"score": 4, "tags": ["a", "ü"], "nested": {"ok": False}},
            responded_by="alice@example.com",
        )
        backend.store_response(response)
        stored = backend.get_response(feedback_id)
        assert stored is not None
        assert stored.to_dict() == response.to_dict()
        assert stored.response_type is FeedbackType.CUSTOM

    def test_storing_a_response_again_replaces_it(self, backend: FeedbackBackend) -> None:
        feedback_id = new_feedback_id()
        backend.store_response(make_response(feedback_id, approved=True))
        backend.store_response(make_response(feedback_id, approved=False))
        stored = backend.get_response(feedback_id)
        assert stored is not None and stored.approved is False

    def test_a_response_is_not_a_request(self, backend: FeedbackBackend) -> None:
        session = f"s-{uuid.uuid4().hex}"
        feedback_id = new_feedback_id()
        backend.store_response(make_response(feedback_id))
        assert backend.get_request(feedback_id) is None
        assert backend.list_requests(session_id=session) == []

    # -- listings ----------------------------------------------------------------------------------------------------
    def _store_statuses(self, backend: FeedbackBackend, session: str) -> dict[str, FeedbackRequest]:
        base = datetime(2024, 5, 17, 12, 0, 0)
        stored = {}
        for minute, status in enumerate([PENDING, COMPLETED, TIMEOUT, CANCELLED, PENDING]):
            request = make_request(
                session_id=session, status=status, created_at=(base + timedelta(minutes=minute)).isoformat()
            )
            backend.store_request(request)
            stored[request.feedback_id] = request
        return stored

    def test_pending_listing_has_only_pending_requests_of_the_session(self, backend: FeedbackBackend) -> None:
        session, other_session = f"s-{uuid.uuid4().hex}", f"s-{uuid.uuid4().hex}"
        stored = self._store_statuses(backend, session)
        self._store_statuses(backend, other_session)
        pending = backend.list_pending_requests(session)
        assert {r.feedback_id for r in pending} == {i for i, r in stored.items() if r.status == PENDING}
        assert all(r.session_id == session and r.status == PENDING for r in pending)
        everything = {r.feedback_id for r in backend.list_pending_requests()}
        assert {r.feedback_id for r in pending} <= everything
        assert {r.feedback_id for r in backend.list_pending_requests(other_session)} <= everything

    def test_listing_is_newest_first_across_statuses(self, backend: FeedbackBackend) -> None:
        session = f"s-{uuid.uuid4().hex}"
        stored = self._store_statuses(backend, session)
        listed = backend.list_requests(session_id=session)
        expected = sorted(stored.values(), key=lambda r: r.created_at, reverse=True)
        assert [r.feedback_id for r in listed] == [r.feedback_id for r in expected]
        assert [r.status for r in listed] == [PENDING, CANCELLED, TIMEOUT, COMPLETED, PENDING]

    def test_listing_keeps_the_n_most_recent(self, backend: FeedbackBackend) -> None:
        session = f"s-{uuid.uuid4().hex}"
        stored = self._store_statuses(backend, session)
        newest = sorted(stored.values(), key=lambda r: r.created_at, reverse=True)
        assert [r.feedback_id for r in backend.list_requests(session, n_recent=2)] == [
            r.feedback_id for r in newest[:2]
        ]
        assert backend.list_requests(session, n_recent=0) == []

    def test_listing_without_session_includes_every_session(self, backend: FeedbackBackend) -> None:
        first, second = (
            make_request(session_id=f"s-{uuid.uuid4().hex}"),
            make_request(session_id=f"s-{uuid.uuid4().hex}"),
        )
        backend.store_request(first)
        backend.store_request(second)
        listed = {r.feedback_id for r in backend.list_requests(n_recent=10_000)}
        assert {first.feedback_id, second.feedback_id} <= listed

    # -- transitions -------------------------------------------------------------------------------------------------
    def test_transition_stores_the_response_and_the_new_status(self, backend: FeedbackBackend) -> None:
        request = make_request()
        backend.store_request(request)
        response = make_response(request.feedback_id, reason="ok")
        updated = backend.transition(request.feedback_id, OPEN_STATUSES, COMPLETED, response=response)
        assert updated is not None and updated.status == COMPLETED
        assert updated.model_copy(update={"status": PENDING}).to_dict() == request.to_dict()
        stored, answer = backend.get_request(request.feedback_id), backend.get_response(request.feedback_id)
        assert stored is not None and stored.status == COMPLETED
        assert answer is not None and answer.reason == "ok"

    @pytest.mark.parametrize("status", [COMPLETED, CANCELLED])
    def test_transition_from_a_status_not_allowed_changes_nothing(self, backend: FeedbackBackend, status: str) -> None:
        request = make_request(status=status)
        backend.store_request(request)
        result = backend.transition(
            request.feedback_id, OPEN_STATUSES, COMPLETED, response=make_response(request.feedback_id)
        )
        assert result is None
        stored = backend.get_request(request.feedback_id)
        assert stored is not None and stored.status == status
        assert backend.get_response(request.feedback_id) is None

    def test_transition_of_an_unknown_request_is_none(self, backend: FeedbackBackend) -> None:
        feedback_id = new_feedback_id()
        assert backend.transition(feedback_id, OPEN_STATUSES, CANCELLED) is None
        assert backend.get_request(feedback_id) is None

    def test_transition_without_status_changes_only_the_given_fields(self, backend: FeedbackBackend) -> None:
        request = make_request(status=TIMEOUT, metadata={"a": 1})
        backend.store_request(request)
        updated = backend.transition(request.feedback_id, {TIMEOUT}, None, changes={"metadata": {"a": 1, "b": 2}})
        assert updated is not None and updated.status == TIMEOUT
        stored = backend.get_request(request.feedback_id)
        assert stored is not None and stored.metadata == {"a": 1, "b": 2} and stored.status == TIMEOUT

    def test_only_one_of_racing_answers_wins(self, backend: FeedbackBackend, other: FeedbackBackend) -> None:
        # given a pending request and several people answering it at the same moment through two instances
        request = make_request(feedback_type=FeedbackType.TEXT)
        backend.store_request(request)

        def answer(index: int) -> Callable[[], Any]:
            instance = backend if index % 2 else other
            response = make_response(request.feedback_id, response_type=FeedbackType.TEXT, text=f"answer {index}")
            return lambda: instance.transition(request.feedback_id, OPEN_STATUSES, COMPLETED, response=response)

        results = run_together([answer(i) for i in range(self.racers)])
        # then exactly one answer is accepted, and it is the one stored
        winners = [i for i, result in enumerate(results) if result is not None]
        assert len(winners) == 1
        stored = backend.get_response(request.feedback_id)
        assert stored is not None and stored.text == f"answer {winners[0]}"

    def test_an_answer_and_a_cancellation_never_both_succeed(self, backend: FeedbackBackend) -> None:
        for _round in range(5):
            request = make_request()
            backend.store_request(request)
            fid = request.feedback_id
            results = run_together(
                [
                    functools.partial(backend.transition, fid, OPEN_STATUSES, COMPLETED, response=make_response(fid)),
                    functools.partial(backend.transition, fid, OPEN_STATUSES, CANCELLED),
                ]
            )
            assert sum(result is not None for result in results) == 1
            stored = backend.get_request(fid)
            assert stored is not None
            if results[0] is not None:
                assert stored.status == COMPLETED and backend.get_response(fid) is not None
            else:
                assert stored.status == CANCELLED and backend.get_response(fid) is None

    # -- notifications -----------------------------------------------------------------------------------------------
    def test_publish_wakes_a_listener_of_another_instance(
        self, backend: FeedbackBackend, other: FeedbackBackend
    ) -> None:
        feedback_id, event = new_feedback_id(), threading.Event()
        backend.start_listener(feedback_id, event)
        try:
            # the listener is registered when start_listener returns: a publish right after it is not lost
            other.publish(feedback_id)
            assert event.wait(self.notify_latency), "the listener was not woken in time"
        finally:
            backend.stop_listener(feedback_id, event)

    def test_a_listener_ignores_other_ids(self, backend: FeedbackBackend, other: FeedbackBackend) -> None:
        mine, theirs = new_feedback_id(), new_feedback_id()
        my_event, their_event = threading.Event(), threading.Event()
        backend.start_listener(mine, my_event)
        backend.start_listener(theirs, their_event)
        try:
            other.publish(theirs)
            assert their_event.wait(self.notify_latency)
            assert not my_event.is_set()
        finally:
            backend.stop_listener(mine, my_event)
            backend.stop_listener(theirs, their_event)

    def test_a_stopped_listener_is_not_woken_and_its_thread_ends(
        self, backend: FeedbackBackend, other: FeedbackBackend
    ) -> None:
        feedback_id, event = new_feedback_id(), threading.Event()
        thread = backend.start_listener(feedback_id, event)
        backend.stop_listener(feedback_id, event)
        if thread is not None:
            thread.join(5)
            assert not thread.is_alive()
        other.publish(feedback_id)
        # a second listener proves the publish was delivered, so the first one had its chance to (wrongly) wake
        probe = threading.Event()
        other.start_listener(feedback_id, probe)
        try:
            other.publish(feedback_id)
            assert probe.wait(self.notify_latency)
        finally:
            other.stop_listener(feedback_id, probe)
        assert not event.is_set()

    def test_publish_without_listeners_and_double_close_are_harmless(self, backend: FeedbackBackend) -> None:
        backend.publish(new_feedback_id())
        backend.close()
        backend.close()

    def test_close_ends_listener_threads(self) -> None:
        backend = self.make_backend()
        thread = backend.start_listener(new_feedback_id(), threading.Event())
        backend.close()
        if thread is not None:
            thread.join(5)
            assert not thread.is_alive()

    # -- pickling ----------------------------------------------------------------------------------------------------
    def test_a_pickled_backend_works_on_the_same_store(self, backend: FeedbackBackend) -> None:
        # an execution context, and so its checkpoint, holds its feedback backend
        request = make_request()
        backend.store_request(request)
        copy: FeedbackBackend = pickle.loads(pickle.dumps(backend))
        try:
            stored = copy.get_request(request.feedback_id)
            assert stored is not None and stored.to_dict() == request.to_dict()
        finally:
            copy.close()


__all__ = ["FeedbackBackendContract", "make_request", "make_response", "run_together", "UNSAFE_IDS"]
