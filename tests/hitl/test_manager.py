"""The feedback manager's flow on both backends: answers, exact timeouts, cancellation, resume ids, channel writes."""

from __future__ import annotations

import logging
import pickle
import time
from typing import Any

import pytest

from graflow.channels.memory_channel import MemoryChannel
from graflow.exceptions import GraflowError
from graflow.hitl.exceptions import FeedbackCancelledError, FeedbackTimeoutError
from graflow.hitl.handler import FeedbackHandler
from graflow.hitl.manager import RESPONSE_KEY_SUFFIX, FeedbackManager
from graflow.hitl.resume import FeedbackIds
from graflow.hitl.types import (
    CANCELLED,
    COMPLETED,
    PENDING,
    TIMEOUT,
    FeedbackRequest,
    FeedbackResponse,
    FeedbackType,
)
from tests.hitl.helpers import Recorder, Responder, answer_with

#: Slack allowed on top of a timeout: the wait itself is exact, this covers a loaded machine.
TIMEOUT_SLACK = 0.25


def ask(manager: FeedbackManager, handler: FeedbackHandler | None = None, **kwargs: Any) -> FeedbackResponse:
    kwargs.setdefault("task_id", "review")
    kwargs.setdefault("session_id", "session-1")
    kwargs.setdefault("feedback_type", FeedbackType.APPROVAL)
    kwargs.setdefault("prompt", "Deploy?")
    kwargs.setdefault("timeout", 30.0)
    return manager.request_feedback(handler=handler, **kwargs)


# -- answers ---------------------------------------------------------------------------------------------------------
def test_an_answer_from_another_manager_is_returned(manager: FeedbackManager, responder: FeedbackManager) -> None:
    # given a task waiting for approval and a person answering through another manager on the same store
    recorder = Recorder()
    person = Responder(recorder, answer_with(responder, approved=True, reason="looks good", responded_by="alice"))
    person.start()
    # when the task asks
    response = ask(manager, recorder)
    # then it gets the answer, the request is completed, and the handler heard of both ends
    assert person.finish() is True
    assert (response.approved, response.reason, response.responded_by) == (True, "looks good", "alice")
    stored = manager.get_request(response.feedback_id)
    assert stored is not None and stored.status == COMPLETED
    assert recorder.hooks() == ["created", "received"]
    request, received = recorder.last["received"]
    assert request.status == COMPLETED and received.approved is True


def test_an_answer_wakes_the_waiter_without_polling(manager: FeedbackManager, responder: FeedbackManager) -> None:
    # given a waiter that would re-read the store only every 30 s
    manager.backend.poll_interval = manager.backend.notified_poll_interval = 30.0
    recorder = Recorder()
    person = Responder(recorder, answer_with(responder, approved=False))
    person.start()
    # when the answer is given, then the waiter returns well within half a second (Redis pub/sub, or in-process)
    response = ask(manager, recorder)
    woke_after = time.monotonic() - (person.acted_at or 0.0)
    person.finish()
    assert response.approved is False
    assert woke_after < 0.5, f"the waiter woke {woke_after:.3f} s after the answer"


def test_an_answer_stored_directly_is_picked_up_and_closes_the_request(
    manager: FeedbackManager, responder: FeedbackManager
) -> None:
    # 0.2 programs may store a response without provide_feedback: the waiter finds it on its next read
    recorder = Recorder()

    def store(request: FeedbackRequest) -> None:
        responder.store_response(
            FeedbackResponse(feedback_id=request.feedback_id, response_type=FeedbackType.TEXT, text="hi")
        )

    person = Responder(recorder, store)
    person.start()
    response = ask(manager, recorder, feedback_type="text", timeout=10)
    person.finish()
    assert response.text == "hi"
    stored = manager.get_request(response.feedback_id)
    assert stored is not None and stored.status == COMPLETED


# -- timeouts --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("timeout", [0.35, 0.8])
def test_timeout_is_wall_clock_exact(manager: FeedbackManager, timeout: float) -> None:
    recorder = Recorder()
    started = time.monotonic()
    with pytest.raises(FeedbackTimeoutError) as info:
        ask(manager, recorder, timeout=timeout)
    elapsed = time.monotonic() - started
    # 0.2 waited in steps of 0.5 s: 0.35 became 0.5 and 0.8 became 1.0
    assert timeout <= elapsed < timeout + TIMEOUT_SLACK
    error = info.value
    assert (error.timeout, error.task_id) == (timeout, "review")
    assert str(error) == f"Feedback request {error.feedback_id} timed out after {timeout} seconds"
    stored = manager.get_request(error.feedback_id)
    assert stored is not None and stored.status == TIMEOUT
    assert recorder.hooks() == ["created", "timeout"]


def test_zero_timeout_checks_once(manager: FeedbackManager) -> None:
    started = time.monotonic()
    with pytest.raises(FeedbackTimeoutError):
        ask(manager, timeout=0)
    assert time.monotonic() - started < TIMEOUT_SLACK


def test_a_late_answer_is_accepted_and_returned_when_asked_again(
    manager: FeedbackManager, responder: FeedbackManager
) -> None:
    with pytest.raises(FeedbackTimeoutError) as info:
        ask(manager, timeout=0.1, feedback_type="text")
    feedback_id = info.value.feedback_id
    late = FeedbackResponse(feedback_id=feedback_id, response_type=FeedbackType.TEXT, text="sorry, late")
    assert responder.provide_feedback(feedback_id, late) is True
    recorder = Recorder()
    started = time.monotonic()
    response = ask(manager, recorder, feedback_id=feedback_id, feedback_type="text")
    assert response.text == "sorry, late" and time.monotonic() - started < TIMEOUT_SLACK
    assert recorder.hooks() == []  # nothing was asked: the stored answer came back


# -- cancellation ----------------------------------------------------------------------------------------------------
def test_cancel_wakes_the_waiter_at_once_with_a_clear_error(
    manager: FeedbackManager, responder: FeedbackManager
) -> None:
    # given a task waiting with a long timeout
    recorder = Recorder()
    person = Responder(recorder, lambda request: responder.cancel(request.feedback_id))
    person.start()
    # when someone cancels the request, then the task fails within a second with FeedbackCancelledError (D24)
    with pytest.raises(FeedbackCancelledError) as info:
        ask(manager, recorder, timeout=60)
    woke_after = time.monotonic() - (person.acted_at or 0.0)
    assert person.finish() is True
    assert woke_after < 1.0, f"the waiter woke {woke_after:.3f} s after the cancellation"
    assert isinstance(info.value, GraflowError)
    assert str(info.value) == f"Feedback request {info.value.feedback_id} was cancelled"
    assert recorder.hooks() == ["created", "cancelled"]
    # and the request stays cancelled: no answer is accepted, asking again fails at once
    feedback_id = info.value.feedback_id
    stored = manager.get_request(feedback_id)
    assert stored is not None and stored.status == CANCELLED
    answer = FeedbackResponse(feedback_id=feedback_id, response_type=FeedbackType.APPROVAL, approved=True)
    assert responder.provide_feedback(feedback_id, answer) is False
    with pytest.raises(FeedbackCancelledError):
        ask(manager, feedback_id=feedback_id)
    stored = manager.get_request(feedback_id)
    assert stored is not None and stored.status == CANCELLED and manager.get_response(feedback_id) is None


def test_a_cancellation_without_notification_is_seen_and_never_becomes_timeout(
    manager: FeedbackManager, responder: FeedbackManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a cancellation whose notification is lost (another process, a dropped connection)
    monkeypatch.setattr(responder.backend, "publish", lambda feedback_id: None)
    recorder = Recorder()
    person = Responder(recorder, lambda request: responder.cancel(request.feedback_id))
    person.start()
    # then the waiter still sees it on a later read, and the status stays cancelled (0.2 overwrote it with timeout)
    with pytest.raises(FeedbackCancelledError) as info:
        ask(manager, recorder, timeout=3)
    person.finish()
    stored = manager.get_request(info.value.feedback_id)
    assert stored is not None and stored.status == CANCELLED


def test_cancel_results(manager: FeedbackManager) -> None:
    assert manager.cancel("unknown-id-0000000") is False
    with pytest.raises(FeedbackTimeoutError) as info:
        ask(manager, timeout=0)
    assert manager.cancel(info.value.feedback_id) is True  # a timed-out request can be cancelled
    assert manager.cancel(info.value.feedback_id) is True  # and cancelling again is harmless


def test_an_answered_request_cannot_be_cancelled(manager: FeedbackManager, responder: FeedbackManager) -> None:
    recorder = Recorder()
    person = Responder(recorder, answer_with(responder, approved=True))
    person.start()
    response = ask(manager, recorder)
    person.finish()
    assert manager.cancel(response.feedback_id) is False
    stored = manager.get_request(response.feedback_id)
    assert stored is not None and stored.status == COMPLETED


# -- resume ids ------------------------------------------------------------------------------------------------------
def test_a_task_that_asks_twice_gets_two_answers_after_resume(
    manager: FeedbackManager, responder: FeedbackManager
) -> None:
    ids = FeedbackIds()
    # given a first run: the first question is answered, the second times out (the run pauses)
    recorder = Recorder()
    person = Responder(recorder, answer_with(responder, text="first answer"))
    person.start()
    first = ask(manager, recorder, feedback_type="text", position=0, resume_ids=ids)
    person.finish()
    with pytest.raises(FeedbackTimeoutError) as info:
        ask(manager, recorder, feedback_type="text", position=1, resume_ids=ids, timeout=0.1)
    assert info.value.position == 1
    assert ids.of_task("review") == [first.feedback_id, info.value.feedback_id]
    assert first.feedback_id != info.value.feedback_id
    # and the second question is answered while the run is paused
    late = FeedbackResponse(feedback_id=info.value.feedback_id, response_type=FeedbackType.TEXT, text="second answer")
    assert responder.provide_feedback(info.value.feedback_id, late) is True
    # when the task runs again from its start with the same ids (a resumed checkpoint)
    resumed = pickle.loads(pickle.dumps(ids))
    again_first = ask(manager, feedback_type="text", position=0, resume_ids=resumed, timeout=0)
    again_second = ask(manager, feedback_type="text", position=1, resume_ids=resumed, timeout=0)
    # then each question gets its own answer at once (0.2 answered both with the first)
    assert (again_first.text, again_second.text) == ("first answer", "second answer")


def test_a_resumed_request_is_asked_again_under_its_id_keeping_its_details(manager: FeedbackManager) -> None:
    ids = FeedbackIds()
    with pytest.raises(FeedbackTimeoutError) as info:
        ask(manager, position=0, resume_ids=ids, timeout=0, metadata={"step": 1})
    feedback_id = info.value.feedback_id
    created_at = manager.get_request(feedback_id).created_at  # type: ignore[union-attr]
    manager.add_metadata(feedback_id, {"checkpoint_path": "/tmp/ckpt.pkl"})
    # when the resumed task asks again and times out again
    recorder = Recorder()
    with pytest.raises(FeedbackTimeoutError) as again:
        ask(manager, recorder, position=0, resume_ids=ids, timeout=0, metadata={"step": 2})
    # then it is the same request, pending again while it waited, with its creation time and the engine's details
    assert again.value.feedback_id == feedback_id
    reopened = recorder.last["created"]
    assert reopened.status == PENDING and reopened.created_at == created_at
    assert reopened.metadata == {"step": 2, "checkpoint_path": "/tmp/ckpt.pkl"}


def test_forgetting_a_task_makes_its_next_run_ask_anew(manager: FeedbackManager) -> None:
    ids = FeedbackIds()
    with pytest.raises(FeedbackTimeoutError) as first:
        ask(manager, position=0, resume_ids=ids, timeout=0)
    ids.forget_task("review")  # the engine does this when the task completes
    with pytest.raises(FeedbackTimeoutError) as second:
        ask(manager, position=0, resume_ids=ids, timeout=0)
    assert first.value.feedback_id != second.value.feedback_id
    assert ids == {("review", 0): second.value.feedback_id}


def test_resume_ids_need_a_position(manager: FeedbackManager) -> None:
    with pytest.raises(ValueError, match="position"):
        ask(manager, resume_ids=FeedbackIds(), timeout=0)


def test_feedback_ids_round_trip_through_json() -> None:
    ids = FeedbackIds({("a", 0): "id0", ("a", 1): "id1", ("b", 0): "id2"})
    assert ids.to_json_dict() == {"a": {"0": "id0", "1": "id1"}, "b": {"0": "id2"}}
    assert FeedbackIds.from_json_dict(ids.to_json_dict()) == ids


# -- channel writes (D24) --------------------------------------------------------------------------------------------
ANSWERS = [
    ("approval", {"approved": True, "reason": "ok"}, True),
    ("text", {"text": "hello"}, "hello"),
    ("selection", {"selected": "b"}, "b"),
    ("multi_selection", {"selected_multiple": ["a", "c"]}, ["a", "c"]),
    ("custom", {"custom_data": {"score": 4}}, {"score": 4}),
]


@pytest.mark.parametrize(("feedback_type", "fields", "value"), ANSWERS)
def test_the_waiting_side_writes_an_answer_given_elsewhere_to_its_channel(
    manager: FeedbackManager, responder: FeedbackManager, feedback_type: str, fields: dict[str, Any], value: Any
) -> None:
    # given a task whose answer will come from another manager without a channel (the API server)
    channel = MemoryChannel("run")
    recorder = Recorder()
    person = Responder(recorder, answer_with(responder, **fields))
    person.start()
    response = ask(
        manager, recorder, feedback_type=feedback_type, options=["a", "b", "c"], channel=channel,
        channel_key="decision", write_to_channel=True,
    )  # fmt: skip
    person.finish()
    # then the task's channel holds the value and the full response (D24)
    assert channel.get("decision") == value
    assert channel.get(f"decision{RESPONSE_KEY_SUFFIX}") == response.to_dict()
    assert channel.get(f"decision{RESPONSE_KEY_SUFFIX}")["response_type"] == feedback_type


def test_a_resumed_task_writes_the_stored_answer_to_its_channel(
    make_backend: Any, manager: FeedbackManager, responder: FeedbackManager
) -> None:
    with pytest.raises(FeedbackTimeoutError) as info:
        ask(manager, timeout=0, feedback_type="text")
    feedback_id = info.value.feedback_id
    answer = FeedbackResponse(feedback_id=feedback_id, response_type=FeedbackType.TEXT, text="later")
    responder.provide_feedback(feedback_id, answer)
    channel = MemoryChannel("resumed")
    waiting = FeedbackManager(make_backend(), channel_manager=channel)  # the manager's own channel is the default
    ask(waiting, feedback_id=feedback_id, feedback_type="text", channel_key="note", write_to_channel=True)
    assert channel.get("note") == "later"


def test_nothing_is_written_without_write_to_channel(manager: FeedbackManager, responder: FeedbackManager) -> None:
    channel = MemoryChannel("run")
    recorder = Recorder()
    person = Responder(recorder, answer_with(responder, approved=True))
    person.start()
    ask(manager, recorder, channel=channel, channel_key="decision")
    person.finish()
    assert channel.keys() == []


# -- handlers, answers, listings -------------------------------------------------------------------------------------
class Broken(FeedbackHandler):
    def on_request_created(self, request: FeedbackRequest) -> None:
        raise RuntimeError("notification service down")

    def on_request_timeout(self, request: FeedbackRequest) -> None:
        raise RuntimeError("notification service down")


def test_handler_errors_are_logged_and_swallowed(manager: FeedbackManager, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="graflow.hitl.manager"), pytest.raises(FeedbackTimeoutError):
        ask(manager, Broken(), timeout=0)
    failures = [r for r in caplog.records if "Feedback handler Broken" in r.getMessage()]
    assert [r.getMessage().rsplit(".", 1)[1].split()[0] for r in failures] == [
        "on_request_created",
        "on_request_timeout",
    ]


def test_a_handler_written_for_0_2_without_the_cancel_hook_works(
    manager: FeedbackManager, responder: FeedbackManager
) -> None:
    class OldHandler:  # duck-typed, as 0.2 allowed
        def __init__(self) -> None:
            self.recorder = Recorder()

        def on_request_created(self, request: FeedbackRequest) -> None:
            self.recorder.on_request_created(request)

    handler = OldHandler()
    person = Responder(handler.recorder, lambda request: responder.cancel(request.feedback_id))
    person.start()
    with pytest.raises(FeedbackCancelledError):
        ask(manager, handler, timeout=30)  # type: ignore[arg-type]
    person.finish()


def test_provide_feedback_accepts_open_requests_only(manager: FeedbackManager) -> None:
    def answer(feedback_id: str) -> FeedbackResponse:
        return FeedbackResponse(feedback_id=feedback_id, response_type=FeedbackType.APPROVAL, approved=True)

    assert manager.provide_feedback("unknown-id-0000000", answer("unknown-id-0000000")) is False
    for status, accepted in [(PENDING, True), (TIMEOUT, True), (COMPLETED, False), (CANCELLED, False)]:
        request = FeedbackRequest(
            feedback_id=f"req-{status}-0000000000", task_id="t", session_id="s",
            feedback_type=FeedbackType.APPROVAL, prompt="?", status=status,
        )  # fmt: skip
        manager.store_request(request)
        assert manager.provide_feedback(request.feedback_id, answer(request.feedback_id)) is accepted, status


def test_a_response_with_another_id_is_stored_under_the_answered_id(manager: FeedbackManager) -> None:
    with pytest.raises(FeedbackTimeoutError) as info:
        ask(manager, timeout=0)
    wrong = FeedbackResponse(feedback_id="something-else-0000", response_type=FeedbackType.APPROVAL, approved=True)
    assert manager.provide_feedback(info.value.feedback_id, wrong) is True
    stored = manager.get_response(info.value.feedback_id)
    assert stored is not None and stored.feedback_id == info.value.feedback_id
    assert manager.get_response("something-else-0000") is None


def test_listings_through_the_manager(manager: FeedbackManager) -> None:
    ids = []
    for session in ("s-a", "s-b", "s-a"):
        with pytest.raises(FeedbackTimeoutError) as info:
            ask(manager, session_id=session, timeout=0)
        ids.append(info.value.feedback_id)
    manager.store_request(manager.get_request(ids[2]).model_copy(update={"status": PENDING}))  # type: ignore[union-attr]
    assert [r.feedback_id for r in manager.list_requests("s-a")] == [ids[2], ids[0]]
    assert [r.feedback_id for r in manager.list_requests(n_recent=1)] == [ids[2]]
    assert [r.feedback_id for r in manager.list_pending_requests()] == [ids[2]]


def test_feedback_type_may_be_given_by_value_and_must_be_known(manager: FeedbackManager) -> None:
    with pytest.raises(FeedbackTimeoutError) as info:
        ask(manager, feedback_type="multi_selection", options=["a"], timeout=0)
    assert manager.get_request(info.value.feedback_id).feedback_type is FeedbackType.MULTI_SELECTION  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        ask(manager, feedback_type="vote", timeout=0)


def test_a_manager_pickles_with_its_backend(manager: FeedbackManager) -> None:
    with pytest.raises(FeedbackTimeoutError) as info:
        ask(manager, timeout=0)
    copy = pickle.loads(pickle.dumps(manager))
    try:
        assert copy.get_request(info.value.feedback_id) is not None
    finally:
        copy.close()


def test_unknown_backend_names_are_refused() -> None:
    with pytest.raises(ValueError, match="Unsupported backend"):
        FeedbackManager("sqlite")


def test_a_default_manager_writes_nothing_until_asked(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # D26: 0.2 created ./feedback_data/{requests,responses} for every execution context
    monkeypatch.chdir(tmp_path)
    manager = FeedbackManager()
    assert manager.list_requests() == [] and manager.get_request("nothing-here-0000") is None
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FeedbackTimeoutError):
        ask(manager, timeout=0)
    assert (tmp_path / "feedback_data" / "requests").is_dir()
