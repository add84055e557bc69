"""Who may call what: bearer tokens with the viewer and operator roles, on every endpoint, and the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graflow.api.access import TokenSet, fingerprint, load_tokens, parse_tokens
from graflow.exceptions import ConfigError
from graflow.runs import open_run_store
from tests.api import flows
from tests.api.conftest import OPERATOR, VIEWER, AppFactory, auth, finish, serving

#: Every endpoint, with a request that reaches its handler. ``{run}`` is an ended run, ``{feedback}`` a question.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/", None),
    ("GET", "/api", None),
    ("GET", "/openapi.json", None),
    ("GET", "/docs", None),
    ("GET", "/api/workflows", None),
    ("GET", "/api/workflows/etl", None),
    ("POST", "/api/workflows/etl/runs", {"parameters": {"n": 1}}),
    ("GET", "/api/runs", None),
    ("GET", "/api/runs/{run}", None),
    ("GET", "/api/runs/{run}/tasks", None),
    ("GET", "/api/runs/{run}/graph", None),
    ("GET", "/api/runs/{run}/events", None),
    ("POST", "/api/runs/{run}/cancel", None),
    ("POST", "/api/runs/{run}/retry", None),
    ("GET", "/api/workers", None),
    ("GET", "/api/dead-letters", None),
    ("POST", "/api/dead-letters/1-0/requeue", None),
    ("DELETE", "/api/dead-letters/1-0", None),
    ("GET", "/api/audit", None),
    ("GET", "/api/feedback", None),
    ("GET", "/api/feedback/{feedback}", None),
    ("POST", "/api/feedback/{feedback}/respond", {"approved": True}),
    ("DELETE", "/api/feedback/{feedback}", None),
    ("GET", "/ui/feedback/", None),
    ("GET", "/ui/feedback/{feedback}", None),
]
MUTATING = {"POST", "DELETE"}


@pytest.fixture
def world(make_app: AppFactory, with_tokens: None) -> Any:
    """An app with tokens, an ended run and a pending question; yields (client, ids)."""
    from graflow.testing.contracts.feedback import make_request

    app = make_app([flows.etl()])
    with serving(app) as client:
        run_id = client.post("/api/workflows/etl/runs", json={"parameters": {"n": 1}}, headers=auth("operator"))
        finish(client, run_id.json()["run_id"], headers=auth("viewer"))
        question = make_request(session_id="s")
        app.state.feedback_manager.store_request(question)
        yield client, {"run": run_id.json()["run_id"], "feedback": question.feedback_id}


def call(client: Any, ids: dict[str, str], method: str, path: str, body: Any, role: str | None) -> Any:
    return client.request(method, path.format(**ids), json=body, headers=auth(role))


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_without_a_token_every_endpoint_is_401(world: Any, method: str, path: str, body: Any) -> None:
    client, ids = world
    response = call(client, ids, method, path, body, None)
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "unauthorized", "detail": "Missing or invalid bearer token"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.request(method, path.format(**ids), headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_a_viewer_may_read_but_not_change(world: Any, method: str, path: str, body: Any) -> None:
    client, ids = world
    response = call(client, ids, method, path, body, "viewer")
    if method in MUTATING:
        assert response.status_code == 403 and response.json()["error"] == "forbidden"
    elif path == "/api/audit":
        assert response.status_code == 403  # the audit log is for operators
    else:
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_an_operator_may_do_everything(world: Any, method: str, path: str, body: Any) -> None:
    client, ids = world
    response = call(client, ids, method, path, body, "operator")
    assert response.status_code not in (401, 403), response.text
    assert response.status_code < 500
    if path.startswith("/api/dead-letters/"):
        assert response.status_code == 409  # this server has no Redis
    elif path.endswith("/cancel"):
        assert response.status_code == 409  # the run has ended
    else:
        assert response.status_code in (200, 202), response.text


def test_health_and_preflights_need_no_token(world: Any) -> None:
    client, _ = world
    assert client.get("/health").status_code == 200
    assert client.options("/api/runs").status_code != 401


def test_without_any_token_every_caller_is_an_anonymous_operator(make_app: AppFactory) -> None:
    with serving(make_app([flows.etl()])) as client:
        assert client.get("/api").json()["role"] == "anonymous"
        assert client.post("/api/workflows/etl/runs", json={"parameters": {"n": 1}}).status_code == 202
        entry = client.get("/api/audit").json()["entries"][0]
        assert entry["role"] == "anonymous" and entry["token_fingerprint"] is None


def test_every_mutating_call_is_audited_with_who_what_and_when(world: Any, store_url: str) -> None:
    client, ids = world
    assert client.get("/api", headers=auth("viewer")).json()["role"] == "viewer"
    client.post(f"/api/feedback/{ids['feedback']}/respond", json={"approved": True}, headers=auth("operator"))
    client.post(f"/api/runs/{ids['run']}/retry", headers=auth("viewer"))  # refused, and audited as refused
    client.post("/api/workflows/etl/runs", json={"parameters": {"n": 1}})  # no token: not audited
    entries = client.get("/api/audit", headers=auth("operator")).json()["entries"]
    assert [(e["action"], e["role"], e["status_code"]) for e in entries] == [
        (f"POST /api/runs/{ids['run']}/retry", "viewer", 403),  # refused before routing: named by its path
        ("POST /api/feedback/{feedback_id}/respond", "operator", 200),
        ("run.start", "operator", 202),
    ]
    refused, answered, started = entries
    assert refused["token_fingerprint"] == fingerprint(VIEWER) and refused["path"] == f"/api/runs/{ids['run']}/retry"
    assert answered["token_fingerprint"] == fingerprint(OPERATOR) and answered["target"] == ids["feedback"]
    assert started["target"] == ids["run"] and started["detail"]["parameters"] == {"n": 1}
    assert started["at"] <= answered["at"] <= refused["at"]
    assert OPERATOR not in str(entries) and VIEWER not in str(entries)
    only = client.get("/api/audit", params={"action": "run.start"}, headers=auth("operator")).json()
    assert [e["entry_id"] for e in only["entries"]] == [started["entry_id"]]
    assert open_run_store(store_url).list_audit().entries[0].entry_id == refused["entry_id"]


# -- tokens ---------------------------------------------------------------------------------------------------------
def test_tokens_come_from_the_environment_a_file_and_the_feedback_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GRAFLOW_API_TOKENS", "viewer:v1, operator:o1")
    path = tmp_path / "tokens"
    path.write_text("# team tokens\nviewer:v2\n\noperator:o2\n")
    tokens = load_tokens(tokens_file=path, operator_token="single")
    assert tokens.roles() == {"viewer": 2, "operator": 3}
    assert tokens.principal("v2").role == "viewer" and tokens.principal("single").role == "operator"
    assert tokens.principal("nope") is None and str(tokens.principal("o1")) == f"operator:{fingerprint('o1')}"


@pytest.mark.parametrize(
    ("text", "message"),
    [("viewer", "is not 'role:token'"), ("admin:x", "Unknown API role 'admin'"), ("viewer:", "is empty"),
     ("viewer:same,operator:same", "two roles")],
)
def test_bad_token_entries_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TokenSet(parse_tokens(text, source="GRAFLOW_API_TOKENS"))


def test_a_missing_tokens_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read the tokens file"):
        load_tokens(tokens_file=tmp_path / "absent")
