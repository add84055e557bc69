"""The feedback records and errors: Graflow 0.2's fields and defaults, unguessable ids, errors in the one tree."""

from __future__ import annotations

import pickle
import string
from datetime import datetime

import pytest

from graflow.exceptions import GraflowError
from graflow.hitl.types import (
    FeedbackCancelledError,
    FeedbackRequest,
    FeedbackResponse,
    FeedbackTimeoutError,
    FeedbackType,
    is_valid_feedback_id,
    new_feedback_id,
)


def test_feedback_types_have_upstreams_values() -> None:
    assert [t.value for t in FeedbackType] == ["approval", "text", "selection", "multi_selection", "custom"]


def test_request_defaults_match_upstream() -> None:
    request = FeedbackRequest(feedback_id="f" * 16, task_id="t", session_id="s", feedback_type="text", prompt="?")
    assert request.feedback_type is FeedbackType.TEXT
    assert (request.options, request.metadata, request.timeout, request.status) == (None, {}, 180.0, "pending")
    assert (request.channel_key, request.write_to_channel) == (None, False)
    assert abs((datetime.now() - datetime.fromisoformat(request.created_at)).total_seconds()) < 60
    assert list(FeedbackRequest.model_fields) == [
        "feedback_id", "task_id", "session_id", "feedback_type", "prompt", "options", "metadata", "created_at",
        "timeout", "status", "channel_key", "write_to_channel",
    ]  # fmt: skip


def test_response_defaults_match_upstream() -> None:
    response = FeedbackResponse(feedback_id="f" * 16, response_type=FeedbackType.APPROVAL)
    assert list(FeedbackResponse.model_fields) == [
        "feedback_id", "response_type", "approved", "reason", "text", "selected", "selected_multiple",
        "custom_data", "responded_at", "responded_by",
    ]  # fmt: skip
    assert all(getattr(response, f) is None for f in ("approved", "reason", "text", "selected", "responded_by"))
    datetime.fromisoformat(response.responded_at)


def test_to_dict_and_from_dict_convert_the_enum() -> None:
    request = FeedbackRequest(
        feedback_id="f" * 16, task_id="t", session_id="s", feedback_type=FeedbackType.SELECTION, prompt="?",
        options=["a"],
    )  # fmt: skip
    data = request.to_dict()
    assert data["feedback_type"] == "selection"
    assert FeedbackRequest.from_dict(data) == request
    response = FeedbackResponse(feedback_id="f" * 16, response_type=FeedbackType.SELECTION, selected="a")
    assert response.to_dict()["response_type"] == "selection"
    assert FeedbackResponse.from_dict(response.to_dict()) == response
    assert FeedbackResponse.from_json(response.to_json()) == response


@pytest.mark.parametrize(
    ("feedback_type", "fields", "answer"),
    [
        (FeedbackType.APPROVAL, {"approved": False}, False),
        (FeedbackType.TEXT, {"text": "t"}, "t"),
        (FeedbackType.SELECTION, {"selected": "s"}, "s"),
        (FeedbackType.MULTI_SELECTION, {"selected_multiple": ["a"]}, ["a"]),
        (FeedbackType.CUSTOM, {"custom_data": {"k": 1}}, {"k": 1}),
    ],
)
def test_the_answer_is_the_field_of_the_type(feedback_type: FeedbackType, fields: dict, answer: object) -> None:
    assert FeedbackResponse(feedback_id="f" * 16, response_type=feedback_type, **fields).answer() == answer


def test_generated_ids_are_unguessable_tokens() -> None:
    ids = [new_feedback_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    alphabet = set(string.ascii_letters + string.digits)
    assert all(len(i) >= 16 and set(i) <= alphabet and is_valid_feedback_id(i) for i in ids)
    # every character position varies: nothing is derived from a counter or the clock
    assert all(len({i[position] for i in ids}) > 40 for position in range(16))
    with pytest.raises(ValueError):
        new_feedback_id(8)


def test_errors_are_graflow_errors_with_fields_and_pickle() -> None:
    timeout = FeedbackTimeoutError("abc", 2.5, task_id="t", position=1)
    assert isinstance(timeout, GraflowError)
    assert str(timeout) == "Feedback request abc timed out after 2.5 seconds"
    copy = pickle.loads(pickle.dumps(timeout))
    assert (copy.feedback_id, copy.timeout, copy.task_id, copy.position, str(copy)) == (
        "abc", 2.5, "t", 1, str(timeout),
    )  # fmt: skip
    cancelled = FeedbackCancelledError("abc", task_id="t")
    assert isinstance(cancelled, GraflowError)
    assert str(pickle.loads(pickle.dumps(cancelled))) == "Feedback request abc was cancelled"
    assert FeedbackTimeoutError("x", 1).task_id is None  # upstream's two-argument form
