"""The runs API through FastAPI's test client: start, list, read, tasks, graph, cancel, retry, idempotency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from graflow.runs import open_run_store
from tests.api import flows
from tests.api.conftest import AppFactory, finish, read_events, serving


def start(client: Any, name: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return client.post(f"/api/workflows/{name}/runs", json=body if body is not None else {}, **kwargs)


# -- starting -------------------------------------------------------------------------------------------------------
def test_a_started_run_is_recorded_before_the_answer_and_completes(make_app: AppFactory, store_url: str) -> None:
    with serving(make_app([flows.etl()])) as client:
        # when a run is started
        response = start(client, "etl", {"parameters": {"n": 4}})
        # then it is accepted, located, and in the store already
        assert response.status_code == 202
        run = response.json()
        assert response.headers["location"] == f"/api/runs/{run['run_id']}"
        assert run["workflow"] == "etl" and run["execution"] == "local"
        assert run["status"] in ("created", "running", "completed")  # it may well have ended already
        assert run["invocation"]["parameters"] == {"n": 4}
        assert run["links"]["events"] == f"/api/runs/{run['run_id']}/events"
        # and it ends completed, with its attempts and result recorded
        assert finish(client, run["run_id"]).data["status"] == "completed"
        done = client.get(f"/api/runs/{run['run_id']}").json()
        assert done["status"] == "completed" and done["result_preview"] == "4" and done["parameters"] == {"n": 4}
        assert done["live"] is False
        tasks = client.get(f"/api/runs/{run['run_id']}/tasks").json()
        assert [(t["task_id"], t["status"]) for t in tasks["tasks"]] == [("extract", "completed"),
                                                                          ("load", "completed")]
        assert open_run_store(store_url).get_run(run["run_id"]).status == "completed"


def test_a_run_without_a_body_uses_the_defaults(make_app: AppFactory) -> None:
    with serving(make_app([flows.fanout()])) as client:
        response = client.post("/api/workflows/fanout/runs")
        assert response.status_code == 202
        assert finish(client, response.json()["run_id"]).data["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"parameters": {}}, {"parameter": "n", "problem": "required (integer)"}),
        ({"parameters": {"n": "four"}}, {"parameter": "n", "problem": "expected integer, got string"}),
        ({"parameters": {"n": True}}, {"parameter": "n", "problem": "expected integer, got boolean"}),
        ({"parameters": {"n": 1, "label": 7}}, {"parameter": "label", "problem": "expected string, got integer"}),
    ],
)
def test_parameters_that_do_not_fit_the_start_task_are_refused(
    make_app: AppFactory, body: dict[str, Any], problem: dict[str, str]
) -> None:
    with serving(make_app([flows.etl()])) as client:
        response = start(client, "etl", body)
        assert response.status_code == 422
        assert response.json() == {"error": "validation_error", "detail": [problem]}
        assert client.get("/api/runs").json()["count"] == 0


def test_extra_parameters_seed_the_channel(make_app: AppFactory) -> None:
    with serving(make_app([flows.etl()])) as client:
        run_id = start(client, "etl", {"parameters": {"n": 2, "extra": {"k": [1]}}}).json()["run_id"]
        finish(client, run_id)
        assert client.get(f"/api/runs/{run_id}").json()["invocation"]["parameters"]["extra"] == {"k": [1]}


@pytest.mark.parametrize(
    ("name", "body", "status", "error"),
    [
        ("nope", {}, 404, "not_found"),
        ("etl", {"parameters": {"n": 1}, "execution": "distributed"}, 400, "bad_request"),
        ("etl", {"parameters": {"n": 1}, "execution": "elsewhere"}, 422, "validation_error"),
        ("etl", {"parameters": {"n": 1}, "max_steps": 0}, 422, "validation_error"),
        ("etl", {"parameters": {"n": 1}, "unknown": 1}, 422, "validation_error"),
        ("etl", {"parameters": []}, 422, "validation_error"),
    ],
)
def test_requests_that_cannot_start_a_run_get_json_errors(
    make_app: AppFactory, name: str, body: dict[str, Any], status: int, error: str
) -> None:
    with serving(make_app([flows.etl()])) as client:
        response = start(client, name, body)
        assert response.status_code == status
        assert response.json()["error"] == error and response.json()["detail"]


def test_a_step_budget_stops_a_run(make_app: AppFactory) -> None:
    with serving(make_app([flows.chain(5)])) as client:
        run_id = start(client, "long", {"max_steps": 2}).json()["run_id"]
        assert finish(client, run_id).data["status"] == "max_steps_reached"


def test_a_failed_run_carries_its_error(make_app: AppFactory) -> None:
    with serving(make_app([flows.broken()])) as client:
        run_id = start(client, "broken", {"parameters": {"reason": "disk full"}}).json()["run_id"]
        finished = finish(client, run_id)
        assert finished.data["status"] == "failed" and "disk full" in finished.data["error_message"]
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "failed" and "disk full" in run["error_message"] and run["traceback"]


# -- listing --------------------------------------------------------------------------------------------------------
def test_runs_are_listed_newest_first_by_pages_and_filters(make_app: AppFactory) -> None:
    with serving(make_app([flows.etl(), flows.broken()])) as client:
        ids = []
        for n in range(5):
            ids.append(start(client, "etl", {"parameters": {"n": n}}).json()["run_id"])
            finish(client, ids[-1])
        failed = start(client, "broken").json()["run_id"]
        finish(client, failed)
        first = client.get("/api/runs", params={"limit": 4}).json()
        assert [r["run_id"] for r in first["runs"]] == [failed, ids[4], ids[3], ids[2]]
        second = client.get("/api/runs", params={"limit": 4, "cursor": first["next_cursor"]}).json()
        assert [r["run_id"] for r in second["runs"]] == [ids[1], ids[0]] and second["next_cursor"] is None
        assert [r["run_id"] for r in client.get("/api/runs", params={"status": "failed"}).json()["runs"]] == [failed]
        both = client.get("/api/runs", params={"status": "failed,completed", "workflow": "broken"}).json()
        assert [r["run_id"] for r in both["runs"]] == [failed]
        assert client.get("/api/runs", params=[("status", "failed"), ("status", "completed")]).json()["count"] == 6


@pytest.mark.parametrize(
    ("params", "status"),
    [({"status": "sleeping"}, 422), ({"cursor": "not-a-cursor"}, 400), ({"limit": 0}, 422), ({"limit": 501}, 422)],
)
def test_bad_listing_queries_are_client_errors(make_app: AppFactory, params: dict[str, Any], status: int) -> None:
    with serving(make_app()) as client:
        response = client.get("/api/runs", params=params)
        assert response.status_code == status and "error" in response.json()


def test_unknown_runs_are_404_everywhere(make_app: AppFactory) -> None:
    with serving(make_app([flows.etl()])) as client:
        for method, path in [("GET", "/api/runs/x"), ("GET", "/api/runs/x/tasks"), ("GET", "/api/runs/x/graph"),
                             ("GET", "/api/runs/x/events"), ("POST", "/api/runs/x/cancel"),
                             ("POST", "/api/runs/x/retry")]:
            response = client.request(method, path)
            assert response.status_code == 404 and response.json()["error"] == "not_found", path


# -- graph ----------------------------------------------------------------------------------------------------------
def test_the_run_graph_shows_each_node_with_its_state(make_app: AppFactory) -> None:
    entered, release = threading.Event(), threading.Event()
    with serving(make_app([flows.gated(entered, release)])) as client:
        run_id = start(client, "gated").json()["run_id"]
        assert entered.wait(30)
        live = client.get(f"/api/runs/{run_id}/graph").json()
        states = {node["id"]: node["state"] for node in live["nodes"]}
        assert states == {"before": "completed", "wait": "running", "after": "pending"}
        assert live["definition"] is True
        assert {(e["source"], e["target"]) for e in live["edges"]} == {("before", "wait"), ("wait", "after")}
        release.set()
        finish(client, run_id)
        done = client.get(f"/api/runs/{run_id}/graph").json()
        assert {node["state"] for node in done["nodes"]} == {"completed"}


def test_a_parallel_group_is_one_node_with_members(make_app: AppFactory) -> None:
    with serving(make_app([flows.fanout()])) as client:
        run_id = start(client, "fanout").json()["run_id"]
        finish(client, run_id)
        nodes = {node["id"]: node for node in client.get(f"/api/runs/{run_id}/graph").json()["nodes"]}
        group = next(node for node in nodes.values() if node["kind"] == "parallel_group")
        assert sorted(group["members"]) == ["left", "right"]
        assert nodes["left"]["group"] == group["id"] and nodes["left"]["state"] == "completed"


# -- cancel ---------------------------------------------------------------------------------------------------------
def test_cancel_stops_a_local_run_at_its_next_task_boundary(make_app: AppFactory) -> None:
    entered, release = threading.Event(), threading.Event()
    with serving(make_app([flows.gated(entered, release)])) as client:
        run_id = start(client, "gated").json()["run_id"]
        assert entered.wait(30)
        response = client.post(f"/api/runs/{run_id}/cancel", json={"reason": "changed my mind"})
        assert response.status_code == 202 and response.json() == {"run_id": run_id, "status": "canceling"}
        release.set()  # the running task finishes; the next one never starts
        assert finish(client, run_id).data["status"] == "canceled"
        tasks = [t["task_id"] for t in client.get(f"/api/runs/{run_id}/tasks").json()["tasks"]]
        assert tasks == ["before", "wait"]
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "canceled" and "changed my mind" in run["error_message"]
        again = client.post(f"/api/runs/{run_id}/cancel")
        assert again.status_code == 409 and again.json()["error"] == "conflict"


def test_cancel_of_a_run_recorded_elsewhere_asks_its_process_through_the_store(
    make_app: AppFactory, store_url: str
) -> None:
    from graflow.testing.contracts.run_store import make_run

    store = open_run_store(store_url)
    store.create_run(make_run("elsewhere", status="running", workflow="etl"))
    with serving(make_app()) as client:
        response = client.post("/api/runs/elsewhere/cancel")
        assert response.status_code == 202 and response.json()["status"] == "cancel_requested"
        assert store.cancel_requests(["elsewhere"])["elsewhere"].reason == "canceled through the API"


def test_cancel_of_a_paused_run_cancels_it_and_its_question(make_app: AppFactory) -> None:
    with serving(make_app([flows.asking(timeout=0)])) as client:
        run_id = start(client, "asking").json()["run_id"]
        events = read_events(client, run_id, stop=lambda e: e.event == "run.paused")
        asked = next(e for e in events if e.event == "feedback.requested").data["feedback_id"]
        response = client.post(f"/api/runs/{run_id}/cancel")
        assert response.status_code == 200 and response.json()["status"] == "canceled"
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "canceled"
        assert client.get(f"/api/feedback/{asked}").json()["request"]["status"] == "cancelled"
        assert read_events(client, run_id)[-1].data["status"] == "canceled"


# -- retry ----------------------------------------------------------------------------------------------------------
def test_retry_starts_the_workflow_again_with_the_same_parameters(make_app: AppFactory) -> None:
    with serving(make_app([flows.broken()])) as client:
        first = start(client, "broken", {"parameters": {"reason": "x" * 500}}).json()["run_id"]
        finish(client, first)
        response = client.post(f"/api/runs/{first}/retry")
        assert response.status_code == 202
        retried = response.json()
        assert retried["retry_of"] == first and retried["run_id"] != first
        assert retried["invocation"]["parameters"] == {"reason": "x" * 500}  # in full, not the 200-char preview
        assert "x" * 500 in finish(client, retried["run_id"]).data["error_message"]


def test_retry_refuses_runs_that_have_not_ended_or_whose_workflow_is_unknown(
    make_app: AppFactory, store_url: str
) -> None:
    from graflow.testing.contracts.run_store import make_run

    store = open_run_store(store_url)
    store.create_run(make_run("going", status="running", workflow="etl"))
    store.create_run(make_run("foreign", status="failed", workflow="not-here"))
    with serving(make_app([flows.etl()])) as client:
        for run_id, text in (("going", "only a run that has ended"), ("foreign", "not registered")):
            response = client.post(f"/api/runs/{run_id}/retry")
            assert response.status_code == 409 and text in response.json()["detail"]


# -- idempotency ----------------------------------------------------------------------------------------------------
def test_a_retried_post_with_the_same_idempotency_key_starts_one_run(make_app: AppFactory) -> None:
    with serving(make_app([flows.etl()])) as client:
        key = {"Idempotency-Key": "order-42"}
        first = start(client, "etl", {"parameters": {"n": 1}}, headers=key)
        second = start(client, "etl", {"parameters": {"n": 1}}, headers=key)
        assert first.status_code == second.status_code == 202
        assert first.json()["run_id"] == second.json()["run_id"]
        assert second.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
        assert client.get("/api/runs").json()["count"] == 1
        other = start(client, "etl", {"parameters": {"n": 2}}, headers=key)
        assert other.status_code == 422 and "another request" in other.json()["detail"]
        assert start(client, "etl", {"parameters": {"n": 1}}, headers={"Idempotency-Key": "x" * 300}).status_code == 400


def test_concurrent_posts_with_one_key_start_one_run(make_app: AppFactory) -> None:
    with serving(make_app([flows.etl()])) as client:
        barrier = threading.Barrier(8)

        def post(_: int) -> str:
            barrier.wait()
            response = start(client, "etl", {"parameters": {"n": 3}}, headers={"Idempotency-Key": "k"})
            return str(response.json()["run_id"])

        with ThreadPoolExecutor(8) as pool:
            ids = set(pool.map(post, range(8)))
        assert len(ids) == 1 and client.get("/api/runs").json()["count"] == 1


def test_an_idempotency_key_is_remembered_across_a_restart_through_the_audit_log(
    make_app: AppFactory, tmp_path: Path
) -> None:
    body, store = {"parameters": {"n": 1}}, f"sqlite:///{tmp_path / 'runs.db'}"
    with serving(make_app([flows.etl()], store=store)) as client:
        run_id = start(client, "etl", body, headers={"Idempotency-Key": "nightly"}).json()["run_id"]
        finish(client, run_id)
    with serving(make_app([flows.etl()], store=store)) as restarted:  # nothing in memory, same store
        again = start(restarted, "etl", body, headers={"Idempotency-Key": "nightly"})
        assert again.json()["run_id"] == run_id and again.headers["idempotent-replayed"] == "true"
        assert restarted.get("/api/runs").json()["count"] == 1


def test_retry_honours_an_idempotency_key(make_app: AppFactory) -> None:
    with serving(make_app([flows.broken()])) as client:
        first = start(client, "broken").json()["run_id"]
        finish(client, first)
        key = {"Idempotency-Key": "retry-1"}
        one = client.post(f"/api/runs/{first}/retry", headers=key).json()["run_id"]
        two = client.post(f"/api/runs/{first}/retry", headers=key).json()["run_id"]
        assert one == two
