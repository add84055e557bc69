"""What the run commands add to the run store, on every store: the fields of runs started from the command line,
cancel requests, lookups by id prefix; and the recorder that watches for cancel requests of its runs."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from graflow import task, workflow
from graflow.core.engine import WorkflowEngine
from graflow.exceptions import GraflowWorkflowCanceledError
from graflow.runs import CancelRequest, RunRecorder, RunStore, RunStoreError, open_run_store
from graflow.testing.contracts.run_store import T0, make_attempt, make_run
from tests.cli.conftest import wait_for
from tests.conftest import service_unavailable

POSTGRES_URL = os.environ.get("GRAFLOW_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The test PostgreSQL, in a schema of this test's own; skipped (failed in CI) when it does not answer."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"graflow_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        service_unavailable(f"no PostgreSQL answers at {POSTGRES_URL}: {exc}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def recorder(store: RunStore) -> Iterator[RunRecorder]:
    """A recorder of ``store`` that wakes often, closed after the test."""
    made = RunRecorder(store, flush_seconds=0.05)
    yield made
    made.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "memory":
        url = f"memory://cli-{uuid.uuid4().hex}"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = open_run_store(url)
    yield opened
    opened.close()


def test_the_command_line_fields_read_back(store: RunStore) -> None:
    run = make_run("r1", spec="/flows/etl.py:nightly", retry_of="r0",
                   invocation={"parameters": {"ids": [1, 2], "day": "2025-01-31"}, "start": None, "max_steps": 5},
                   profile=[{"task_id": "load", "calls": 2, "wall": 0.5, "cpu": 0.25, "peak_bytes": 1024}])
    store.create_run(run)
    assert store.get_run("r1") == run
    assert store.update_run("r1", profile=[{"task_id": "x", "calls": 1, "wall": 1.0, "cpu": 0.0, "peak_bytes": 0}])
    stored = store.get_run("r1")
    assert stored is not None and stored.profile[0]["task_id"] == "x" and stored.spec == "/flows/etl.py:nightly"


def test_a_run_without_them_reads_back_empty(store: RunStore) -> None:
    store.create_run(make_run("plain"))
    run = store.get_run("plain")
    assert run is not None
    assert (run.spec, run.retry_of, run.invocation, run.profile) == (None, None, {}, [])


def test_cancel_requests_are_kept_per_run_and_a_later_one_replaces_an_earlier(store: RunStore) -> None:
    store.create_run(make_run("a", status="running"))
    assert store.cancel_requests(["a", "b"]) == {}
    store.request_cancel("a", "first", now=T0 + 1)
    store.request_cancel("a", "second", now=T0 + 2)
    store.request_cancel("b", "for a run not recorded yet", now=T0 + 3)
    assert store.cancel_requests(["a", "b", "c"]) == {
        "a": CancelRequest("a", T0 + 2, "second"), "b": CancelRequest("b", T0 + 3, "for a run not recorded yet")}
    assert store.cancel_requests([]) == {}


def test_pruning_a_run_forgets_its_cancel_request(store: RunStore) -> None:
    store.create_run(make_run("old", created_at=T0))
    store.add_task_attempt(make_attempt("old-1", "old"))
    store.request_cancel("old", "stop", now=T0)
    assert store.prune("1d", now=T0 + 3 * 86_400) == 1
    assert store.cancel_requests(["old"]) == {}


def test_runs_are_found_by_a_prefix_of_their_id(store: RunStore) -> None:
    for run_id in ("abc1", "abc2", "abd3", "b"):
        store.create_run(make_run(run_id))
    assert store.find_run_ids("abc") == ["abc1", "abc2"]
    assert store.find_run_ids("ab", limit=2) == ["abc1", "abc2"]
    assert store.find_run_ids("abd3") == ["abd3"]
    assert store.find_run_ids("z") == []


def test_the_recorder_stops_a_run_whose_cancel_was_requested(store: RunStore, recorder: RunRecorder) -> None:
    # given a recorded run whose first task waits until the test has asked for the cancel
    asked = threading.Event()
    ran: list[str] = []
    with workflow("stoppable", hooks=[recorder]) as wf:
        @task(inject_context=True)
        def first(ctx) -> None:
            run_id = ctx.execution_context.session_id
            wait_for(lambda: store.get_run(run_id) is not None, "the run to be recorded")
            store.request_cancel(run_id, "stop it")
            asked.set()
            wait_for(lambda: ctx.execution_context.run.cancel_reason is not None, "the recorder to pass it on")
            ran.append("first")

        @task
        def second() -> None:
            ran.append("second")

        first >> second

    # when it runs, then it stops at the boundary after the first task, as canceled
    context = wf.create_context()
    with pytest.raises(GraflowWorkflowCanceledError):
        WorkflowEngine().execute(context)
    assert asked.is_set() and ran == ["first"]
    assert recorder.flush(10)
    run = store.get_run(context.session_id)
    assert run is not None and (run.status, run.error_type) == ("canceled", "GraflowWorkflowCanceledError")


def test_a_request_older_than_the_runs_start_does_not_stop_it(store: RunStore, recorder: RunRecorder) -> None:
    with workflow("resumed", hooks=[recorder]) as wf:
        @task(inject_context=True)
        def only(ctx) -> str:
            run_id = ctx.execution_context.session_id
            wait_for(lambda: store.get_run(run_id) is not None, "the run to be recorded")
            store.request_cancel(run_id, "stale", now=T0)  # made long before this run started
            polled = recorder._writer._next_cancel_poll
            wait_for(lambda: recorder._writer._next_cancel_poll > polled, "the recorder to read the requests")
            return "done"

    assert wf.execute() == "done"


def test_annotations_are_limited_to_the_command_line_fields() -> None:
    recorder = RunRecorder("memory://annotations")
    try:
        with pytest.raises(RunStoreError, match="Cannot annotate a run with 'status'"):
            recorder.annotate("r", status="completed")
    finally:
        recorder.close()
