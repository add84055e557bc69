"""``RunRecorder``: what a recorded run and its task attempts look like in the store, for every way a run ends."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import pytest

from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.hooks import HookSet
from graflow.core.retry import RetryPolicy
from graflow.core.workflow import workflow
from graflow.exceptions import GraflowRuntimeError, RunPausedError
from graflow.runs import MemoryRunStore, RunRecord, RunRecorder, TaskAttempt, memory_store, recorder_for
from graflow.testing.contracts.run_store import T0, make_run
from tests.runs.conftest import DEADLINE, wait_for


@pytest.fixture
def store() -> MemoryRunStore:
    return MemoryRunStore()


def recorded(store: MemoryRunStore, run_id: str) -> tuple[RunRecord, list[TaskAttempt]]:
    """The run and its attempts once the recorder has written everything."""
    assert recorder_for(store).flush(DEADLINE)
    run = store.get_run(run_id)
    assert run is not None, f"run {run_id} was not recorded"
    return run, store.list_tasks(run_id)


def statuses(run: RunRecord) -> list[str]:
    return [status for status, _at in run.history]


# -- runs -----------------------------------------------------------------------------------------------------------
def test_a_completed_run_records_its_parameters_result_and_attempts(store: MemoryRunStore) -> None:
    with workflow("etl", run_store=store) as wf:

        @task
        def extract(n: int) -> list[int]:
            return list(range(n))

        @task
        def load(extract: list[int]) -> str:
            return f"loaded {len(extract)}"

        extract >> load
    result, ctx = wf.execute(ret_context=True, n=3, label="x" * 500)

    run, attempts = recorded(store, ctx.session_id)
    assert result == "loaded 3"
    assert (run.workflow, run.status, run.result_preview) == ("etl", "completed", "'loaded 3'")
    assert statuses(run) == ["created", "running", "completed"]
    assert run.parameters["n"] == 3 and len(run.parameters["label"]) <= 200
    assert run.started_at is not None and run.ended_at is not None and run.started_at <= run.ended_at
    assert run.expires_at is None and run.pid is not None and run.host
    assert [(a.task_id, a.attempt, a.status, a.result_preview) for a in attempts] == [
        ("extract", 1, "completed", "[0, 1, 2]"),
        ("load", 1, "completed", "'loaded 3'"),
    ]
    assert all(a.duration is not None and a.ended_at is not None and a.started_at <= a.ended_at for a in attempts)
    assert attempts[0].ended_at <= attempts[1].started_at  # type: ignore[operator]


def test_a_failed_run_records_the_error_and_the_failed_attempt(store: MemoryRunStore) -> None:
    with workflow("fails", run_store=store) as wf:

        @task
        def boom() -> None:
            raise ValueError("bad input 7")

    with pytest.raises(GraflowRuntimeError):
        wf.execute()
    assert recorder_for(store).flush(DEADLINE)
    (run,) = store.list_runs().runs
    run, attempts = recorded(store, run.run_id)
    assert run.status == "failed"
    assert run.error_type == "TaskFailedError" and "bad input 7" in (run.error_message or "")
    assert "ValueError: bad input 7" in (run.traceback or "")
    (attempt,) = attempts
    assert (attempt.status, attempt.error_type, attempt.error_message) == ("failed", "ValueError", "bad input 7")


def test_retries_are_numbered_attempts_and_the_retried_ones_say_so(store: MemoryRunStore) -> None:
    calls = []
    with workflow("flaky", run_store=store) as wf:

        @task(retry_policy=RetryPolicy(max_retries=3, initial_interval=0.001))
        def flaky() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise ConnectionError(f"try {len(calls)}")
            return "ok"

    _, ctx = wf.execute(ret_context=True)
    run, attempts = recorded(store, ctx.session_id)
    assert run.status == "completed"
    assert [(a.attempt, a.status, a.error_message) for a in attempts] == [
        (1, "retrying", "try 1"), (2, "retrying", "try 2"), (3, "completed", None)]
    assert attempts[0].retry_delay == pytest.approx(0.001)


@pytest.mark.parametrize("ending", ["canceled", "terminated", "max_steps_reached"])
def test_every_way_a_run_stops_is_its_recorded_status(store: MemoryRunStore, ending: str) -> None:
    with workflow(f"stops-{ending}", run_store=store) as wf:

        @task(inject_context=True)
        def first(ctx: Any) -> None:
            if ending == "canceled":
                ctx.cancel_workflow("no more")
            elif ending == "terminated":
                ctx.terminate_workflow("enough")

        @task
        def second() -> None:
            return None

        first >> second
    try:
        _, ctx = wf.execute(ret_context=True, max_steps=1)
        run_id = ctx.session_id
    except GraflowRuntimeError:
        assert recorder_for(store).flush(DEADLINE)
        run_id = store.list_runs().runs[0].run_id
    run, attempts = recorded(store, run_id)
    assert run.status == ending
    assert statuses(run)[-1] == ending
    assert [a.task_id for a in attempts] == ["first"]


def test_a_paused_run_records_its_checkpoint_and_the_feedback_it_waits_on(
    store: MemoryRunStore, tmp_path: Path
) -> None:
    class Manager:
        def get_request(self, feedback_id: str) -> Any:
            return type("Request", (), {"status": "pending"})()

    with workflow("asks", run_store=store) as wf:

        @task(inject_context=True)
        def ask(ctx: Any) -> None:
            ctx.execution_context.services.set("feedback_manager", Manager())
            ctx.execution_context.feedback_ids[("ask", 0)] = "fb-1"
            raise RunPausedError("waiting for a person")

    _, ctx = wf.execute(ret_context=True, checkpoint_dir=str(tmp_path))
    run, attempts = recorded(store, ctx.session_id)
    assert run.status == "paused"
    assert run.checkpoints == [ctx.last_checkpoint_path]
    assert run.feedback == [{"feedback_id": "fb-1", "task_id": "ask", "status": "pending"}]
    assert [(a.task_id, a.status) for a in attempts] == [("ask", "paused")]


def test_checkpoints_written_during_the_run_are_recorded(store: MemoryRunStore, tmp_path: Path) -> None:
    with workflow("saves", run_store=store) as wf:
        a, b, c = task("a")(lambda: 1), task("b")(lambda: 2), task("c")(lambda: 3)
        a >> b >> c
    _, ctx = wf.execute(ret_context=True, checkpoint_every=1, checkpoint_dir=str(tmp_path))
    run, _ = recorded(store, ctx.session_id)
    assert len(run.checkpoints) >= 2  # each one as it is written, not only the last
    assert run.checkpoints[-1] == ctx.last_checkpoint_path
    assert all(path.startswith(str(tmp_path)) for path in run.checkpoints)


def test_parallel_members_are_attempts_of_the_root_run(store: MemoryRunStore) -> None:
    with workflow("fan", run_store=store) as wf:
        src, m1, m2, sink = (task(name)(lambda: None) for name in ("src", "m1", "m2", "sink"))
        src >> (m1 | m2) >> sink
    _, ctx = wf.execute(ret_context=True)
    run, attempts = recorded(store, ctx.session_id)
    assert run.status == "completed"
    assert {a.task_id for a in attempts} >= {"src", "m1", "m2", "sink"}
    assert {a.run_id for a in attempts} == {ctx.session_id}
    assert store.list_runs().runs == [run]  # the branches are not runs of their own


# -- attempts that are still running --------------------------------------------------------------------------------
def test_a_running_attempt_is_recorded_as_started_and_then_completed(store: MemoryRunStore) -> None:
    release = threading.Event()
    recorder = RunRecorder(store, flush_seconds=0.02)
    with workflow("slow", hooks=[recorder]) as wf:

        @task
        def waits() -> str:
            assert release.wait(DEADLINE)
            return "done"

    runner = threading.Thread(target=wf.execute)
    runner.start()
    try:
        started = wait_for(lambda: [a for r in store.list_runs().runs for a in store.list_tasks(r.run_id)],
                           "the running attempt being recorded")
        assert [(a.task_id, a.status, a.ended_at) for a in started] == [("waits", "started", None)]
        assert store.list_runs().runs[0].status == "running"
    finally:
        release.set()
        runner.join(DEADLINE)
    assert recorder.flush(DEADLINE)
    (ended,) = store.list_tasks(started[0].run_id)
    assert (ended.attempt_id, ended.status) == (started[0].attempt_id, "completed")
    recorder.close()


# -- the engine never waits on the store ----------------------------------------------------------------------------
class BlockedStore(MemoryRunStore):
    """A store whose writes wait until ``release`` is set (a slow or hung database)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def apply(self, batch: Any) -> None:
        self.entered.set()
        assert self.release.wait(DEADLINE)
        super().apply(batch)


class DownStore(MemoryRunStore):
    """A store that refuses every write until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False

    def apply(self, batch: Any) -> None:
        if not self.up:
            raise ConnectionError("database is down")
        super().apply(batch)


def chain(name: str, n: int, recorder: RunRecorder) -> Any:
    with workflow(name, hooks=[recorder]) as wf:
        tasks = [task(f"t{i}")(lambda: None) for i in range(n)]
        for a, b in itertools.pairwise(tasks):
            a >> b
    return wf


def test_runs_finish_while_the_store_hangs_and_overflow_is_dropped_and_counted() -> None:
    store = BlockedStore()
    recorder = RunRecorder(store, max_queued=50, flush_seconds=0.01)
    try:
        chain("first", 5, recorder).execute()
        assert store.entered.wait(DEADLINE)  # the writer is stuck in the store now
        wf = chain("second", 200, recorder)
        _, ctx = wf.execute(ret_context=True)  # returns although nothing can be written
        assert ctx.status == "completed"
        assert recorder.stats()["dropped_events"] > 0
    finally:
        store.release.set()
    assert recorder.flush(DEADLINE)
    recorder.close()


def test_a_store_that_is_down_is_retried_and_nothing_is_lost_once_it_is_back() -> None:
    store = DownStore()
    recorder = RunRecorder(store, flush_seconds=0.01)
    _, ctx = chain("outage", 3, recorder).execute(ret_context=True)
    assert ctx.status == "completed"
    assert recorder.flush(DEADLINE) is False
    assert recorder.stats()["store_errors"] >= 1 and "database is down" in recorder.stats()["last_error"]
    store.up = True
    assert recorder.flush(DEADLINE) is True
    run = store.get_run(ctx.session_id)
    assert run is not None and run.status == "completed"
    assert len(store.list_tasks(ctx.session_id)) == 3
    recorder.close()


class CountingStore(MemoryRunStore):
    """Counts its transactions."""

    applied = 0

    def apply(self, batch: Any) -> None:
        self.applied += 1
        super().apply(batch)


def test_a_long_backlog_is_written_in_several_transactions_without_losing_anything() -> None:
    store = CountingStore()
    recorder = RunRecorder(store, flush_seconds=60)  # the writer wakes at the run's end, with everything queued
    _, ctx = chain("long", 12_000, recorder).execute(ret_context=True, max_steps=20_000)
    assert recorder.flush(DEADLINE)
    assert len(store.list_tasks(ctx.session_id)) == 12_000
    assert store.applied >= 3
    assert recorder.stats()["dropped_events"] == 0
    recorder.close()


def test_the_recorder_listens_only_to_the_events_it_needs() -> None:
    recorder = RunRecorder(MemoryRunStore())
    hooks = HookSet([recorder])
    assert hooks.on_task_start == () and hooks.on_task_end == () and hooks.on_task_queued == ()
    assert hooks.task_timed == recorder.on_task_timed
    assert hooks.on_task_retry and hooks.on_workflow_start and hooks.on_workflow_end and hooks.on_checkpoint
    recorder.close()


# -- how recording is switched on -----------------------------------------------------------------------------------
def test_graflow_run_store_records_workflows_that_name_no_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_RUN_STORE", "memory://from-env")
    with workflow("by-env") as wf:
        task("only")(lambda: 1)
    _, ctx = wf.execute(ret_context=True)
    store = memory_store("from-env")
    assert recorder_for("memory://from-env").flush(DEADLINE)
    run = store.get_run(ctx.session_id)
    assert run is not None and run.workflow == "by-env"


def test_workflows_naming_one_url_share_one_recorder() -> None:
    with workflow("a", run_store="memory://shared") as first:
        task("x")(lambda: 1)
    with workflow("b", run_store="memory://shared") as second:
        task("y")(lambda: 1)
    hooks_a = list(first.create_context().hooks)
    hooks_b = list(second.create_context().hooks)
    recorders = {id(h) for h in hooks_a + hooks_b if isinstance(h, RunRecorder)}
    assert len(recorders) == 1


def test_a_worker_style_context_records_attempts_with_its_worker_id_but_no_run(store: MemoryRunStore) -> None:
    # A worker runs one task of a producer's run with workflow events off: the run is the producer's to record.
    recorder = RunRecorder(store, worker_id="worker-7")
    with workflow("remote", hooks=[recorder]) as wf:
        task("member")(lambda: 5)
    ctx = wf.create_context()
    ctx.workflow_events = False
    WorkflowEngine().execute(ctx)
    assert recorder.flush(DEADLINE)
    assert store.get_run(ctx.session_id) is None
    (attempt,) = store.list_tasks(ctx.session_id)
    assert (attempt.task_id, attempt.status, attempt.worker_id) == ("member", "completed", "worker-7")
    recorder.close()


def test_a_resumed_run_keeps_what_was_recorded_before(store: MemoryRunStore) -> None:
    store.create_run(make_run("resumed", status="paused", created_at=T0, history=[["created", T0], ["paused", T0]],
                              checkpoints=["/cp/1"], parameters={"n": 1}))
    with workflow("resumes", run_store=store) as wf:
        task("again")(lambda: 2)
    ctx = wf.create_context()
    ctx.session_id = "resumed"
    WorkflowEngine().execute(ctx)
    run, _ = recorded(store, "resumed")
    assert (run.created_at, run.checkpoints, run.parameters) == (T0, ["/cp/1"], {"n": 1})
    assert statuses(run) == ["created", "paused", "running", "completed"]
