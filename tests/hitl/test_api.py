"""The JSON REST API (spec 10.6) through FastAPI's test client: endpoints, errors, D24 wake-ups, auth and CORS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi import FastAPI
from fastapi.testclient import TestClient

from graflow.api.app import create_feedback_api
from graflow.api.endpoints import feedback, feedback_ui
from graflow.channels.memory_channel import MemoryChannel
from graflow.hitl.exceptions import FeedbackCancelledError
from graflow.hitl.manager import RESPONSE_KEY_SUFFIX, FeedbackManager
from graflow.hitl.types import CANCELLED, COMPLETED, PENDING, TIMEOUT, FeedbackRequest, FeedbackType
from graflow.testing.contracts.feedback import make_request
from tests.hitl.helpers import Recorder, Responder

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(autouse=True)
def _no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFLOW_API_TOKEN", raising=False)


@pytest.fixture
def app(feedback_dir: Path) -> FastAPI:
    return create_feedback_api(feedback_config={"data_dir": str(feedback_dir)})


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def store(app: FastAPI, **fields: Any) -> FeedbackRequest:
    request = make_request(**fields)
    app.state.feedback_manager.store_request(request)
    return request


# -- info ------------------------------------------------------------------------------------------------------------
def test_root_describes_the_api(client: TestClient) -> None:
    info = client.get("/").json()
    assert info["name"] == "Graflow Feedback API" and info["version"] == "1.0.0"
    assert (info["docs"], info["redoc"], info["openapi"], info["health"]) == (
        "/docs",
        "/redoc",
        "/openapi.json",
        "/health",
    )
    assert info["endpoints"]["api"]["respond_feedback"] == "POST /api/feedback/{feedback_id}/respond"
    assert info["web_ui_enabled"] is True and "feedback_form" in info["endpoints"]["web_ui"]


def test_health_names_the_backend(client: TestClient) -> None:
    assert client.get("/health").json() == {
        "status": "healthy", "service": "graflow-feedback-api", "version": "1.0.0",
        "backend": "FilesystemFeedbackBackend",
    }  # fmt: skip


def test_docs_and_schema_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/feedback", "/api/feedback/{feedback_id}", "/api/feedback/{feedback_id}/respond"} <= set(paths)


def test_nothing_is_written_by_starting_the_app(client: TestClient, feedback_dir: Path) -> None:
    client.get("/api/feedback")
    client.get("/ui/feedback/")
    assert not feedback_dir.exists()  # D26


# -- list and get ----------------------------------------------------------------------------------------------------
def test_list_shows_pending_requests_only(app: FastAPI, client: TestClient) -> None:
    pending = store(app, session_id="a")
    store(app, session_id="a", status=COMPLETED)
    store(app, session_id="a", status=TIMEOUT)
    other = store(app, session_id="b")
    body = client.get("/api/feedback").json()
    assert body["count"] == 2 and {r["feedback_id"] for r in body["requests"]} == {
        pending.feedback_id,
        other.feedback_id,
    }
    only_a = client.get("/api/feedback", params={"session_id": "a"}).json()
    assert only_a["count"] == 1
    assert only_a["requests"][0] == {**pending.to_dict(), "feedback_type": "approval"}


def test_get_returns_the_request_and_its_answer(app: FastAPI, client: TestClient) -> None:
    request = store(app, feedback_type=FeedbackType.TEXT)
    body = client.get(f"/api/feedback/{request.feedback_id}").json()
    assert body == {"request": request.to_dict(), "response": None}
    client.post(f"/api/feedback/{request.feedback_id}/respond", json={"text": "hi", "responded_by": "ann"})
    body = client.get(f"/api/feedback/{request.feedback_id}").json()
    assert body["request"]["status"] == COMPLETED
    assert (body["response"]["text"], body["response"]["responded_by"], body["response"]["response_type"]) == (
        "hi", "ann", "text",
    )  # fmt: skip


@pytest.mark.parametrize("feedback_id", ["unknown-id-000000", ".hidden", "a.b"])
def test_unknown_requests_are_404_as_json(client: TestClient, feedback_id: str) -> None:
    for method, path in [
        ("GET", f"/api/feedback/{feedback_id}"),
        ("POST", f"/api/feedback/{feedback_id}/respond"),
        ("DELETE", f"/api/feedback/{feedback_id}"),
    ]:
        answer = client.request(method, path, json={})
        assert answer.status_code == 404, (method, path)
        assert answer.json() == {"error": "not_found", "detail": f"Feedback request '{feedback_id}' not found"}


# -- respond ---------------------------------------------------------------------------------------------------------
def test_respond_takes_the_type_from_the_request(app: FastAPI, client: TestClient) -> None:
    request = store(app, feedback_type=FeedbackType.SELECTION, options=["a", "b"])
    answer = client.post(f"/api/feedback/{request.feedback_id}/respond", json={"selected": "b"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["feedback_id"], body["response_type"], body["selected"]) == (request.feedback_id, "selection", "b")
    assert set(body) == {
        "feedback_id", "response_type", "approved", "reason", "text", "selected", "selected_multiple", "custom_data",
        "responded_at", "responded_by",
    }  # fmt: skip


def test_a_second_answer_is_refused(app: FastAPI, client: TestClient) -> None:
    request = store(app)
    assert client.post(f"/api/feedback/{request.feedback_id}/respond", json={"approved": True}).status_code == 200
    second = client.post(f"/api/feedback/{request.feedback_id}/respond", json={"approved": False})
    assert second.status_code == 400
    assert second.json() == {"error": "bad_request", "detail": "Failed to provide feedback"}
    assert app.state.feedback_manager.get_response(request.feedback_id).approved is True


def test_a_timed_out_request_still_accepts_an_answer(app: FastAPI, client: TestClient) -> None:
    request = store(app, status=TIMEOUT)
    assert client.post(f"/api/feedback/{request.feedback_id}/respond", json={"approved": True}).status_code == 200


def test_an_invalid_body_is_422_in_the_error_format(app: FastAPI, client: TestClient) -> None:
    request = store(app)
    answer = client.post(f"/api/feedback/{request.feedback_id}/respond", json={"approved": "perhaps"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "validation_error" and body["detail"][0]["loc"] == ["body", "approved"]


def test_an_answer_through_the_api_reaches_the_waiting_task_and_its_channel(make_backend: Any) -> None:
    # given a task waiting in "another process" (its own manager) and the API server on the same store
    app = create_feedback_api(feedback_backend=make_backend())
    waiting, channel, recorder = FeedbackManager(make_backend()), MemoryChannel("run"), Recorder()
    with TestClient(app) as client:
        person = Responder(
            recorder,
            lambda request: client.post(f"/api/feedback/{request.feedback_id}/respond", json={"text": "ship it"}),
        )
        person.start()
        # when someone answers through the API
        response = waiting.request_feedback(
            "write", "s", "text", "Release notes?", timeout=30, channel=channel, channel_key="notes",
            write_to_channel=True, handler=recorder,
        )  # fmt: skip
        assert person.finish().status_code == 200
    # then the task got it and wrote it to its own channel (D24)
    assert response.text == "ship it"
    assert channel.get("notes") == "ship it"
    assert channel.get(f"notes{RESPONSE_KEY_SUFFIX}")["text"] == "ship it"


# -- cancel ----------------------------------------------------------------------------------------------------------
def test_delete_cancels_and_wakes_the_waiting_task_at_once(make_backend: Any) -> None:
    app = create_feedback_api(feedback_backend=make_backend())
    waiting, recorder = FeedbackManager(make_backend()), Recorder()
    with TestClient(app) as client:
        person = Responder(recorder, lambda request: client.delete(f"/api/feedback/{request.feedback_id}"))
        person.start()
        with pytest.raises(FeedbackCancelledError) as info:
            waiting.request_feedback("t", "s", "approval", "Go?", timeout=60, handler=recorder)
        woke_after = time.monotonic() - (person.acted_at or 0.0)
        answer = person.finish()
        assert answer.status_code == 200
        assert answer.json() == {"message": "Feedback request cancelled", "feedback_id": info.value.feedback_id}
        assert woke_after < 1.0, f"the waiter woke {woke_after:.3f} s after DELETE"
        # and the request stays cancelled: answering fails, cancelling again is fine
        path = f"/api/feedback/{info.value.feedback_id}"
        assert client.post(f"{path}/respond", json={"approved": True}).status_code == 400
        assert client.delete(path).status_code == 200
        assert client.get(path).json()["request"]["status"] == CANCELLED


def test_an_answered_request_cannot_be_cancelled(app: FastAPI, client: TestClient) -> None:
    request = store(app)
    client.post(f"/api/feedback/{request.feedback_id}/respond", json={"approved": True})
    answer = client.delete(f"/api/feedback/{request.feedback_id}")
    assert answer.status_code == 409 and answer.json()["error"] == "conflict"
    assert client.get(f"/api/feedback/{request.feedback_id}").json()["request"]["status"] == COMPLETED


# -- auth ------------------------------------------------------------------------------------------------------------
PROTECTED = [
    ("GET", "/"),
    ("GET", "/api/feedback"),
    ("GET", "/api/feedback/x"),
    ("POST", "/api/feedback/x/respond"),
    ("DELETE", "/api/feedback/x"),
    ("GET", "/ui/feedback/"),
    ("GET", "/ui/feedback/x"),
    ("POST", "/ui/feedback/x/submit"),
    ("GET", "/ui/feedback/x/success"),
    ("GET", "/ui/feedback/x/expired"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
]


def _protected_app(feedback_dir: Path, **kwargs: Any) -> TestClient:
    return TestClient(create_feedback_api(feedback_config={"data_dir": str(feedback_dir)}, **kwargs))


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_with_a_token_every_route_but_health_needs_it(feedback_dir: Path, method: str, path: str) -> None:
    client = _protected_app(feedback_dir, auth_token=TOKEN)
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}]:
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json() == {"error": "unauthorized", "detail": "Missing or invalid bearer token"}
    allowed = client.request(method, path, headers={"Authorization": f"bearer {TOKEN}"})
    assert allowed.status_code != 401


def test_health_needs_no_token(feedback_dir: Path) -> None:
    assert _protected_app(feedback_dir, auth_token=TOKEN).get("/health").status_code == 200


def test_the_token_may_come_from_the_environment(feedback_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_API_TOKEN", TOKEN)
    client = _protected_app(feedback_dir)
    assert client.get("/api/feedback").status_code == 401
    assert client.get("/api/feedback", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert _protected_app(feedback_dir, auth_token="").get("/api/feedback").status_code == 200  # explicitly off


# -- CORS ------------------------------------------------------------------------------------------------------------
def test_factory_default_cors_allows_any_origin_without_credentials(client: TestClient) -> None:
    answer = client.get("/health", headers={"Origin": "https://app.example"})
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers


def test_cors_can_be_off_or_limited(feedback_dir: Path) -> None:
    off = _protected_app(feedback_dir, enable_cors=False).get("/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in off.headers
    limited = _protected_app(feedback_dir, cors_origins=["https://app.example"])
    assert (
        limited.get("/health", headers={"Origin": "https://app.example"}).headers["access-control-allow-origin"]
        == "https://app.example"
    )
    assert (
        "access-control-allow-origin" not in limited.get("/health", headers={"Origin": "https://evil.example"}).headers
    )


def test_cors_preflight_needs_no_token(feedback_dir: Path) -> None:
    client = _protected_app(feedback_dir, auth_token=TOKEN, cors_origins=["https://app.example"])
    preflight = client.options(
        "/api/feedback",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"


# -- building blocks -------------------------------------------------------------------------------------------------
def test_the_routers_work_in_an_app_of_ones_own(feedback_dir: Path) -> None:
    # as upstream's gpt_newspaper example does: include the routers and set the manager
    app = FastAPI()
    app.state.feedback_manager = FeedbackManager("filesystem", {"data_dir": str(feedback_dir)})
    app.include_router(feedback.router)
    app.include_router(feedback_ui.router)
    request = make_request()
    app.state.feedback_manager.store_request(request)
    client = TestClient(app)
    assert client.get("/api/feedback").json()["count"] == 1
    assert client.get(f"/ui/feedback/{request.feedback_id}").status_code == 200


def test_a_router_without_a_manager_says_so(feedback_dir: Path) -> None:
    app = FastAPI()
    app.include_router(feedback.router)
    answer = TestClient(app).get("/api/feedback")
    assert answer.status_code == 500 and "create_feedback_api" in answer.json()["detail"]


def test_without_the_web_ui_its_routes_are_absent(feedback_dir: Path) -> None:
    client = _protected_app(feedback_dir, enable_web_ui=False)
    assert client.get("/ui/feedback/").status_code == 404
    assert client.get("/").json()["web_ui_enabled"] is False


def test_a_redis_backed_api(redis_url: str, key_prefix: str) -> None:
    from urllib.parse import urlsplit

    from graflow.api.app import create_feedback_api_with_redis

    parts = urlsplit(redis_url)
    app = create_feedback_api_with_redis(
        redis_host=parts.hostname or "127.0.0.1", redis_port=parts.port or 6379, redis_db=int(parts.path.strip("/")),
        feedback_config={"key_prefix": key_prefix}, title="Review desk",
    )  # fmt: skip
    request = make_request()
    app.state.feedback_manager.store_request(request)
    client = TestClient(app)
    assert client.get("/health").json()["backend"] == "RedisFeedbackBackend"
    assert client.get("/").json()["name"] == "Review desk"
    assert client.post(f"/api/feedback/{request.feedback_id}/respond", json={"approved": True}).status_code == 200
    assert client.get(f"/api/feedback/{request.feedback_id}").json()["request"]["status"] == COMPLETED
    assert PENDING not in {r["status"] for r in client.get("/api/feedback").json()["requests"]}
