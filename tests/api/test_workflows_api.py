"""``GET /api/workflows``: the registered workflows, their parameters (typed from the start task) and graphs."""

from __future__ import annotations

from typing import Any

import pytest

from graflow import task, workflow
from graflow.api.server import ServerConfig, create_app
from graflow.exceptions import ConfigError
from tests.api import flows
from tests.api.conftest import AppFactory, serving


def test_workflows_are_listed_by_name_with_their_start_node_and_graph(make_app: AppFactory) -> None:
    with serving(make_app([flows.fanout(), flows.etl()])) as client:
        listed = client.get("/api/workflows").json()
        assert listed["count"] == 2 and [w["name"] for w in listed["workflows"]] == ["etl", "fanout"]
        etl = listed["workflows"][0]
        assert etl["start_node"] == "extract" and etl["startable"] is True and etl["problem"] is None
        assert [(n["id"], n["kind"]) for n in etl["graph"]["nodes"]] == [("extract", "task"), ("load", "task")]
        assert etl["graph"]["edges"] == [{"source": "extract", "target": "load"}]
        fanout = client.get("/api/workflows/fanout").json()
        group = next(n for n in fanout["graph"]["nodes"] if n["kind"] == "parallel_group")
        assert sorted(group["members"]) == ["left", "right"]
        assert client.get("/api/workflows/absent").status_code == 404


def test_parameters_are_typed_from_the_start_task_signature(make_app: AppFactory) -> None:
    with serving(make_app([flows.typed()])) as client:
        parameters = {p["name"]: p for p in client.get("/api/workflows/typed").json()["parameters"]}
    assert "ctx" not in parameters  # the injected context is not the run's to give
    assert {name: p["type"] for name, p in parameters.items()} == {
        "count": "integer", "ratio": "number", "name": "string", "flag": "boolean", "items": "array",
        "options": "object", "mode": "string", "note": "string", "anything": "any",
    }  # fmt: skip
    assert parameters["count"]["required"] is True and parameters["count"]["annotation"] == "int"
    assert parameters["mode"] == {"name": "mode", "type": "string", "annotation": "Literal['a', 'b']",
                                  "required": False, "nullable": False, "default": "a", "choices": ["a", "b"]}
    assert parameters["note"]["nullable"] is True and parameters["anything"]["default"] == 3


@pytest.mark.parametrize(
    ("given", "ok"),
    [
        ({"count": 1, "ratio": 2, "name": "n", "flag": False, "items": [], "options": {}}, True),
        ({"count": 1, "ratio": 0.5, "name": "n", "flag": True, "items": ["a"], "options": {"k": 1}, "mode": "b",
          "note": None}, True),
        ({"count": 1.5, "ratio": 2, "name": "n", "flag": False, "items": [], "options": {}}, False),
        ({"count": 1, "ratio": 2, "name": "n", "flag": False, "items": [], "options": {}, "mode": "c"}, False),
        ({"count": 1, "ratio": 2, "name": None, "flag": False, "items": [], "options": {}}, False),
    ],
)
def test_values_are_checked_against_the_parameter_types(make_app: AppFactory, given: dict[str, Any], ok: bool) -> None:
    with serving(make_app([flows.typed()])) as client:
        status = client.post("/api/workflows/typed/runs", json={"parameters": given}).status_code
    assert status == (202 if ok else 422)


def test_a_workflow_without_a_single_start_node_is_listed_but_cannot_start(make_app: AppFactory) -> None:
    with workflow("two_heads") as wf:

        @task
        def a() -> None:
            pass

        @task
        def b() -> None:
            pass

    with serving(make_app([wf])) as client:
        listed = client.get("/api/workflows/two_heads").json()
        assert listed["startable"] is False and "Multiple start nodes" in listed["problem"]
        response = client.post("/api/workflows/two_heads/runs")
        assert response.status_code == 409 and "cannot be started" in response.json()["detail"]


def test_two_workflows_with_one_name_are_refused() -> None:
    with pytest.raises(ConfigError, match="Two workflows are named 'etl'"):
        create_app(ServerConfig(store="memory://"), [flows.etl(), flows.etl()])


def test_the_root_keeps_its_json_and_links_the_api(make_app: AppFactory) -> None:
    with serving(make_app([flows.etl()])) as client:
        root = client.get("/").json()
    assert root["docs"] == "/docs" and root["openapi"] == "/openapi.json" and root["health"] == "/health"
    assert root["endpoints"]["api"]["respond_feedback"] == "POST /api/feedback/{feedback_id}/respond"
    assert root["endpoints"]["runs_api"]["events"] == "GET /api/runs/{run_id}/events"
    assert root["api"] == {"version": "1", "index": "/api", "docs": "/docs", "openapi": "/openapi.json"}


def test_the_openapi_schema_documents_every_endpoint(make_app: AppFactory) -> None:
    with serving(make_app()) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {"/api", "/api/workflows", "/api/workflows/{name}", "/api/workflows/{name}/runs", "/api/runs",
            "/api/runs/{run_id}", "/api/runs/{run_id}/tasks", "/api/runs/{run_id}/graph", "/api/runs/{run_id}/events",
            "/api/runs/{run_id}/cancel", "/api/runs/{run_id}/retry", "/api/workers", "/api/dead-letters",
            "/api/dead-letters/{dead_letter_id}/requeue", "/api/dead-letters/{dead_letter_id}", "/api/audit",
            "/api/feedback", "/api/feedback/{feedback_id}"} <= set(paths)
    assert "text/event-stream" in paths["/api/runs/{run_id}/events"]["get"]["responses"]["200"]["content"]
