"""The feedback web UI (spec 10.6): list, answer forms per type, submit, success and expired pages, HTML errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi import FastAPI
from fastapi.testclient import TestClient

from graflow.api.app import create_feedback_api
from graflow.hitl.types import CANCELLED, COMPLETED, PENDING, TIMEOUT, FeedbackRequest, FeedbackType
from graflow.testing.contracts.feedback import make_request


@pytest.fixture
def app(feedback_dir: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.delenv("GRAFLOW_API_TOKEN", raising=False)
    return create_feedback_api(feedback_config={"data_dir": str(feedback_dir)})


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def store(app: FastAPI, **fields: Any) -> FeedbackRequest:
    request = make_request(**fields)
    app.state.feedback_manager.store_request(request)
    return request


def stored_response(app: FastAPI, feedback_id: str) -> Any:
    return app.state.feedback_manager.get_response(feedback_id)


# -- list ------------------------------------------------------------------------------------------------------------
def test_list_shows_recent_requests_with_masked_ids(app: FastAPI, client: TestClient) -> None:
    requests = [store(app, prompt=f"Question {status}", status=status) for status in (PENDING, COMPLETED, CANCELLED)]
    page = client.get("/ui/feedback/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for request in requests:
        assert f"Question {request.status}" in page.text
        assert request.feedback_id not in page.text  # ids are capabilities: never listed
        masked = f"{request.feedback_id[0]}{'*' * 14}{request.feedback_id[-1]}"
        assert masked in page.text
    assert "3 request(s)" in page.text


def test_list_filters_by_session_and_limits(app: FastAPI, client: TestClient) -> None:
    store(app, session_id="one", prompt="first of one")
    store(app, session_id="two", prompt="only of two")
    page = client.get("/ui/feedback/", params={"session_id": "two"})
    assert "only of two" in page.text and "first of one" not in page.text
    assert "0 request(s)" in client.get("/ui/feedback/", params={"n_recent": 0}).text


def test_a_bad_query_gets_an_html_error_page(client: TestClient) -> None:
    page = client.get("/ui/feedback/", params={"n_recent": -1})
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "Error 422" in page.text


# -- forms -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("feedback_type", "expected"),
    [
        (FeedbackType.APPROVAL, ['name="approved" value="true"', 'name="approved" value="false"', 'name="reason"']),
        (FeedbackType.TEXT, ['name="text"']),
        (FeedbackType.SELECTION, ['name="selected" value="red"', 'name="selected" value="blue"']),
        (
            FeedbackType.MULTI_SELECTION,
            ['name="selected_multiple" value="red"', 'name="selected_multiple" value="blue"'],
        ),
        (FeedbackType.CUSTOM, ['name="custom_data"']),
    ],
)
def test_the_form_fits_the_type(
    app: FastAPI, client: TestClient, feedback_type: FeedbackType, expected: list[str]
) -> None:
    request = store(app, feedback_type=feedback_type, options=["red", "blue"])
    page = client.get(f"/ui/feedback/{request.feedback_id}")
    assert page.status_code == 200
    for fragment in expected:
        assert fragment in page.text
    assert f'action="{request.feedback_id}/submit"' in page.text and 'name="responded_by"' in page.text


def test_user_text_is_escaped(app: FastAPI, client: TestClient) -> None:
    request = store(app, prompt="<script>alert(1)</script>", metadata={"x": "<img src=x>"})
    page = client.get(f"/ui/feedback/{request.feedback_id}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x>" not in page


def test_a_timed_out_request_shows_the_form_with_its_checkpoint(app: FastAPI, client: TestClient) -> None:
    request = store(app, status=TIMEOUT, metadata={"checkpoint_id": "ck-1", "checkpoint_path": "/ckpt/a.pkl"})
    page = client.get(f"/ui/feedback/{request.feedback_id}")
    assert page.status_code == 200 and "ck-1" in page.text and "/ckpt/a.pkl" in page.text


@pytest.mark.parametrize("status", [COMPLETED, CANCELLED])
def test_a_closed_request_redirects_to_the_expired_page(app: FastAPI, client: TestClient, status: str) -> None:
    request = store(app, status=status)
    answer = client.get(f"/ui/feedback/{request.feedback_id}")
    assert answer.status_code == 303 and answer.headers["location"] == f"/ui/feedback/{request.feedback_id}/expired"
    page = client.get(answer.headers["location"])
    assert page.status_code == 200 and ("already been answered" in page.text or "was cancelled" in page.text)


def test_an_unknown_request_gets_an_html_404(client: TestClient) -> None:
    page = client.get("/ui/feedback/nobody-knows-this-id")
    assert page.status_code == 404 and "Error 404" in page.text and "not found" in page.text
    assert client.post("/ui/feedback/nobody-knows-this-id/submit", data={"text": "x"}).status_code == 404


# -- submit ----------------------------------------------------------------------------------------------------------
SUBMISSIONS = [
    (FeedbackType.APPROVAL, {"approved": "true", "reason": "fine", "responded_by": "ann"}, "approved", True),
    (FeedbackType.APPROVAL, {"approved": "false"}, "approved", False),
    (FeedbackType.TEXT, {"text": "line one\nline two"}, "text", "line one\nline two"),
    (FeedbackType.SELECTION, {"selected": "blue"}, "selected", "blue"),
    (FeedbackType.MULTI_SELECTION, {"selected_multiple": ["red", "blue"]}, "selected_multiple", ["red", "blue"]),
    (FeedbackType.MULTI_SELECTION, {}, "selected_multiple", []),
    (FeedbackType.CUSTOM, {"custom_data": '{"score": 4, "tags": ["a"]}'}, "custom_data", {"score": 4, "tags": ["a"]}),
]


@pytest.mark.parametrize(("feedback_type", "form", "field", "value"), SUBMISSIONS)
def test_submitting_the_form_stores_the_answer(
    app: FastAPI, client: TestClient, feedback_type: FeedbackType, form: dict[str, Any], field: str, value: Any
) -> None:
    request = store(app, feedback_type=feedback_type, options=["red", "blue"])
    answer = client.post(f"/ui/feedback/{request.feedback_id}/submit", data=form)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/ui/feedback/{request.feedback_id}/success"
    response = stored_response(app, request.feedback_id)
    assert getattr(response, field) == value and response.response_type is feedback_type
    assert app.state.feedback_manager.get_request(request.feedback_id).status == COMPLETED
    success = client.get(answer.headers["location"])
    assert success.status_code == 200 and "your answer was recorded" in success.text


def test_submitting_to_a_timed_out_request_is_accepted(app: FastAPI, client: TestClient) -> None:
    request = store(app, status=TIMEOUT, feedback_type=FeedbackType.TEXT)
    answer = client.post(f"/ui/feedback/{request.feedback_id}/submit", data={"text": "late"})
    assert answer.headers["location"].endswith("/success") and stored_response(app, request.feedback_id).text == "late"


@pytest.mark.parametrize(
    ("raw", "message"), [("{not json", "Invalid JSON in custom_data"), ("[1, 2]", "must be a JSON object")]
)
def test_bad_custom_data_is_a_400_page(app: FastAPI, client: TestClient, raw: str, message: str) -> None:
    request = store(app, feedback_type=FeedbackType.CUSTOM)
    page = client.post(f"/ui/feedback/{request.feedback_id}/submit", data={"custom_data": raw})
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert message in page.text
    assert stored_response(app, request.feedback_id) is None


@pytest.mark.parametrize("status", [COMPLETED, CANCELLED])
def test_submitting_to_a_closed_request_shows_the_expired_page(app: FastAPI, client: TestClient, status: str) -> None:
    # 0.2 answered 500 here, or 307 to an expired page that only takes GET
    request = store(app, status=status)
    answer = client.post(f"/ui/feedback/{request.feedback_id}/submit", data={"approved": "true"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("/expired")
    assert client.get(answer.headers["location"]).status_code == 200
    assert stored_response(app, request.feedback_id) is None


def test_a_request_closed_while_the_form_was_open_shows_the_expired_page(app: FastAPI, client: TestClient) -> None:
    request = store(app)
    form = client.get(f"/ui/feedback/{request.feedback_id}")
    assert form.status_code == 200
    app.state.feedback_manager.cancel(request.feedback_id)  # meanwhile, someone cancels it
    answer = client.post(f"/ui/feedback/{request.feedback_id}/submit", data={"approved": "true"})
    assert answer.headers["location"].endswith("/expired")


def test_a_race_lost_at_the_last_moment_shows_the_expired_page(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = store(app)
    monkeypatch.setattr(app.state.feedback_manager, "provide_feedback", lambda feedback_id, response: False)
    answer = client.post(f"/ui/feedback/{request.feedback_id}/submit", data={"approved": "true"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("/expired")


def test_success_and_expired_pages_of_unknown_ids(client: TestClient) -> None:
    assert "No answer is stored" in client.get("/ui/feedback/unknown-00000000/success").text
    assert "does not exist" in client.get("/ui/feedback/unknown-00000000/expired").text
