"""Run events as Server-Sent Events, read by a real streaming client (httpx) from a server on a real socket."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from graflow.runs import open_run_store
from graflow.testing.contracts.run_store import make_attempt, make_run
from tests.api import flows
from tests.api.conftest import DEADLINE, AppFactory, LiveServer, Sse, parse_sse, read_events

Serve = Callable[..., Any]


@pytest.fixture
def http(make_app: AppFactory, live_server: Callable[[Any], LiveServer]) -> Iterator[Serve]:
    """Serves an app over HTTP and gives an httpx client of it."""
    opened: list[Any] = []

    def serve(workflows: list[Any], **options: Any) -> httpx.Client:
        server = live_server(make_app(workflows, **options)).__enter__()
        client = httpx.Client(base_url=server.url, timeout=DEADLINE)
        opened.append((server, client))
        return client

    yield serve
    for server, client in opened:
        client.close()
        server.__exit__(None, None, None)


def names(events: list[Sse]) -> list[str]:
    return [event.event for event in events]


def started(client: httpx.Client, name: str, **body: Any) -> str:
    response = client.post(f"/api/workflows/{name}/runs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def test_a_new_stream_replays_a_finished_run_and_ends(http: Serve) -> None:
    client = http([flows.etl()])
    run_id = started(client, "etl", parameters={"n": 2})
    first = read_events(client, run_id)
    assert names(first) == ["run.started", "task.started", "task.completed", "task.started", "task.completed",
                            "run.finished"]
    assert [e.id for e in first] == [1, 2, 3, 4, 5, 6]
    assert [e.data.get("task_id") for e in first[1:5]] == ["extract", "extract", "load", "load"]
    assert first[-1].data["status"] == "completed" and all(e.data["run_id"] == run_id for e in first)
    assert read_events(client, run_id) == first  # the same replay for every new stream


def test_events_arrive_while_the_run_goes_on(http: Serve) -> None:
    entered, release = threading.Event(), threading.Event()
    client = http([flows.gated(entered, release)])
    run_id = started(client, "gated")
    seen: list[Sse] = []
    with client.stream("GET", f"/api/runs/{run_id}/events") as response:
        for event in parse_sse(response.iter_lines()):
            seen.append(event)
            if event.event == "task.started" and event.data["task_id"] == "wait":
                assert not release.is_set()  # the run is blocked in `wait`: this came live, not from a replay
                release.set()
    assert names(seen)[-3:] == ["task.started", "task.completed", "run.finished"]
    assert seen[-2].data["task_id"] == "after" and seen[-1].data["status"] == "completed"


@pytest.mark.parametrize("how", ["header", "query"])
def test_last_event_id_resumes_after_that_event_without_repeats(http: Serve, how: str) -> None:
    entered, release = threading.Event(), threading.Event()
    client = http([flows.gated(entered, release)])
    run_id = started(client, "gated")
    # given a client that read up to the start of `wait` and lost its connection
    head = read_events(client, run_id, stop=lambda e: e.event == "task.started" and e.data["task_id"] == "wait")
    last = head[-1].id
    release.set()  # the run goes on meanwhile
    # when it reconnects with the last id it saw
    resume = {"headers": {"Last-Event-ID": str(last)}} if how == "header" else {"params": {"after": last}}
    tail = read_events(client, run_id, **resume)
    # then it gets exactly the events after it
    assert tail[0].id == last + 1
    assert head + tail == read_events(client, run_id)


def test_a_bad_last_event_id_is_a_client_error(http: Serve) -> None:
    client = http([flows.etl()])
    run_id = started(client, "etl", parameters={"n": 1})
    response = client.get(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "yesterday"})
    assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert client.get("/api/runs/nope/events").status_code == 404


def test_failed_attempts_and_retries_are_events(http: Serve) -> None:
    client = http([flows.flaky()])
    events = read_events(client, started(client, "flaky"))
    assert names(events) == ["run.started",
                             "task.started", "task.failed", "task.retrying",
                             "task.started", "task.failed", "task.retrying",
                             "task.started", "task.completed", "run.finished"]  # fmt: skip
    assert [e.data["attempt"] for e in events[1:9]] == [1, 1, 1, 2, 2, 2, 3, 3]
    assert events[2].data["error_type"] == "ValueError" and "attempt 1 failed" in events[2].data["error_message"]
    assert events[3].data["next_attempt"] == 2 and events[-1].data["status"] == "completed"


def test_a_failed_run_ends_with_its_status(http: Serve) -> None:
    client = http([flows.broken()])
    events = read_events(client, started(client, "broken"))
    assert names(events)[-2:] == ["task.failed", "run.finished"]
    assert events[-1].data["status"] == "failed" and events[-1].data["error_type"] == "TaskFailedError"


def test_a_question_answered_through_the_api_is_reported_and_the_run_goes_on(http: Serve) -> None:
    client = http([flows.asking(timeout=DEADLINE)])
    run_id = started(client, "asking")
    events: list[Sse] = []
    with client.stream("GET", f"/api/runs/{run_id}/events") as response:
        for event in parse_sse(response.iter_lines()):
            events.append(event)
            if event.event == "feedback.requested":
                assert event.data["prompt"] == "Ship it?" and event.data["feedback_type"] == "approval"
                answer = client.post(f"/api/feedback/{event.data['feedback_id']}/respond", json={"approved": True})
                assert answer.status_code == 200
    assert names(events) == ["run.started", "task.started", "feedback.requested", "feedback.answered",
                             "task.completed", "task.started", "task.completed", "run.finished"]
    assert events[-1].data["status"] == "completed"
    assert client.get(f"/api/runs/{run_id}").json()["result_preview"] == "'shipped'"


def test_a_paused_run_resumed_by_the_server_goes_on_in_the_same_stream(http: Serve) -> None:
    client = http([flows.asking(timeout=0)])  # nobody answers at once: the run pauses
    run_id = started(client, "asking")
    events: list[Sse] = []
    with client.stream("GET", f"/api/runs/{run_id}/events") as response:
        for event in parse_sse(response.iter_lines()):
            events.append(event)
            if event.event == "run.paused":
                assert client.get(f"/api/runs/{run_id}").json()["status"] == "paused"
                asked = next(e for e in events if e.event == "feedback.requested").data["feedback_id"]
                client.post(f"/api/feedback/{asked}/respond", json={"approved": True})
    assert names(events) == ["run.started", "task.started", "feedback.requested", "run.paused",
                             "feedback.answered", "run.started", "task.started", "task.completed",
                             "task.started", "task.completed", "run.finished"]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].data["status"] == "completed"
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "completed"


def test_events_of_a_run_recorded_elsewhere_are_derived_from_the_store(http: Serve, store_url: str) -> None:
    from graflow.runs import recorder_for

    # given a run recorded by another process's recorder, not executed by the server
    wf = flows.flaky()
    wf.run_store = store_url
    _, context = wf.execute(ret_context=True)
    recorder_for(store_url).flush()
    client = http([])
    # then its events are derived from its attempts, and resuming after one of them works the same way
    events = read_events(client, context.session_id)
    assert names(events) == ["run.started",
                             "task.started", "task.failed", "task.retrying",
                             "task.started", "task.failed", "task.retrying",
                             "task.started", "task.completed", "run.finished"]  # fmt: skip
    assert events[-1].data["status"] == "completed"
    assert read_events(client, context.session_id, headers={"Last-Event-ID": "4"}) == events[4:]


def test_a_run_recorded_elsewhere_is_followed_while_it_goes_on(http: Serve, store_url: str) -> None:
    store = open_run_store(store_url)
    store.create_run(make_run("remote", status="running", workflow="w", history=[["running", 1.0]]))
    store.add_task_attempt(make_attempt("a1", "remote", "first", started_at=2.0, status="completed", ended_at=3.0))
    client = http([])
    events: list[Sse] = []
    with client.stream("GET", "/api/runs/remote/events") as response:
        for event in parse_sse(response.iter_lines()):
            events.append(event)
            if event.event == "task.completed" and event.data["task_id"] == "first":
                store.add_task_attempt(make_attempt("a2", "remote", "second", started_at=4.0, status="failed",
                                                    ended_at=5.0, error_type="KeyError"))
            elif event.event == "task.failed":
                store.update_run("remote", status="failed", ended_at=6.0, error_message="second failed")
    assert names(events) == ["run.started", "task.started", "task.completed", "task.started", "task.failed",
                             "run.finished"]
    assert events[-1].data == {"status": "failed", "workflow": "w", "at": 6.0, "error_type": None,
                               "error_message": "second failed", "run_id": "remote"}
