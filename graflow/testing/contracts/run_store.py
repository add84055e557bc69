"""The contract every :class:`~graflow.runs.base.RunStore` passes.

Use it by subclassing :class:`RunStoreContract` in a pytest module and providing a ``store`` fixture that yields a
fresh, empty store (and closes it afterwards). Times are given explicitly (``now=``), so nothing here waits.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from graflow.runs import (
    RunRecord,
    RunStore,
    RunStoreClosedError,
    RunStoreError,
    TaskAttempt,
    WriteBatch,
)

T0 = 1_700_000_000.0  # a fixed "now" for the tests, in epoch seconds


def make_run(run_id: str, *, created_at: float = T0, workflow: str = "wf", status: str = "completed",
             **fields: Any) -> RunRecord:
    """A run record with sensible defaults; ``fields`` override any of them."""
    values: dict[str, Any] = {"started_at": created_at, "history": [["running", created_at]]}
    if status != "running":
        values["ended_at"] = created_at + 1
    values.update(fields)
    return RunRecord(run_id, workflow, status, created_at=created_at, **values)


def make_attempt(attempt_id: str, run_id: str, task_id: str = "t", *, started_at: float = T0,
                 **fields: Any) -> TaskAttempt:
    """A task attempt with sensible defaults."""
    return TaskAttempt(attempt_id, run_id, task_id, started_at=started_at, **fields)


def ids(runs: list[RunRecord]) -> list[str]:
    return [run.run_id for run in runs]


class RunStoreContract:
    """Behaviour shared by every run store."""

    @pytest.fixture
    def store(self) -> RunStore:
        raise NotImplementedError("provide a 'store' fixture")

    # -- runs -------------------------------------------------------------------------------------------------------
    def test_a_created_run_reads_back_field_for_field(self, store: RunStore) -> None:
        run = make_run(
            "r1", status="failed", worker_id="w-1", host="h", pid=42, heartbeat_at=T0 + 0.5,
            parameters={"n": 3, "name": "ü ☃", "nested": "{'a': [1, 2]}"}, result_preview="'done'",
            error_type="ValueError", error_message="bad value", traceback="Traceback ...\nValueError: bad value",
            checkpoints=["/tmp/cp/1.pkl"], feedback=[{"feedback_id": "f1", "task_id": "t", "status": "pending"}],
            history=[["created", T0], ["running", T0], ["failed", T0 + 1]],
        )
        store.create_run(run)
        assert store.get_run("r1", now=T0) == run

    def test_an_unknown_run_is_none(self, store: RunStore) -> None:
        assert store.get_run("nope") is None

    def test_creating_an_existing_run_replaces_it_but_keeps_its_creation_time(self, store: RunStore) -> None:
        store.create_run(make_run("r1", status="paused"))
        store.create_run(make_run("r1", created_at=T0 + 100, status="completed", result_preview="2"))
        run = store.get_run("r1")
        assert run is not None
        assert (run.status, run.result_preview, run.created_at) == ("completed", "2", T0)

    def test_update_run_changes_fields_and_records_a_new_status_in_history(self, store: RunStore) -> None:
        store.create_run(make_run("r1", status="running", history=[["running", T0]]))
        assert store.update_run("r1", status="failed", updated_at=T0 + 2, error_message="boom")
        run = store.get_run("r1")
        assert run is not None
        assert (run.status, run.error_message, run.updated_at) == ("failed", "boom", T0 + 2)
        assert run.history == [["running", T0], ["failed", T0 + 2]]

    def test_update_run_of_an_unknown_run_says_so(self, store: RunStore) -> None:
        assert store.update_run("nope", status="failed") is False

    def test_update_run_refuses_unknown_fields(self, store: RunStore) -> None:
        store.create_run(make_run("r1"))
        with pytest.raises(RunStoreError, match="colour"):
            store.update_run("r1", colour="red")

    # -- attempts ---------------------------------------------------------------------------------------------------
    def test_attempts_are_listed_in_start_order(self, store: RunStore) -> None:
        store.create_run(make_run("r1"))
        store.add_task_attempt(make_attempt("a2", "r1", "b", started_at=T0 + 2))
        store.add_task_attempt(make_attempt("a1", "r1", "a", started_at=T0 + 1, status="completed",
                                            ended_at=T0 + 1.5, duration=0.5, result_preview="1"))
        store.add_task_attempt(make_attempt("x1", "r2", "a", started_at=T0))
        tasks = store.list_tasks("r1")
        assert [t.attempt_id for t in tasks] == ["a1", "a2"]
        assert tasks[0] == make_attempt("a1", "r1", "a", started_at=T0 + 1, status="completed", ended_at=T0 + 1.5,
                                        duration=0.5, result_preview="1")

    def test_adding_an_attempt_again_replaces_it_and_update_changes_fields(self, store: RunStore) -> None:
        store.add_task_attempt(make_attempt("a1", "r1"))
        store.add_task_attempt(make_attempt("a1", "r1", status="failed", error_type="KeyError"))
        assert store.update_task_attempt("a1", status="retrying", retry_delay=1.5)
        (attempt,) = store.list_tasks("r1")
        assert (attempt.status, attempt.error_type, attempt.retry_delay) == ("retrying", "KeyError", 1.5)
        assert store.update_task_attempt("nope", status="failed") is False
        with pytest.raises(RunStoreError):
            store.update_task_attempt("a1", colour="red")

    def test_attempts_of_an_unknown_run_are_empty(self, store: RunStore) -> None:
        assert store.list_tasks("nope") == []

    def test_apply_writes_runs_attempts_and_heartbeats_together(self, store: RunStore) -> None:
        store.create_run(make_run("old", status="running", expires_at=T0 + 1))
        batch = WriteBatch(
            runs=[make_run("r1"), make_run("r2", created_at=T0 + 1)],
            attempts=[make_attempt("a1", "r1"), make_attempt("a2", "r2")],
            heartbeats=[("old", T0 + 5, T0 + 35)],
        )
        store.apply(batch)
        assert {r.run_id for r in store.list_runs().runs} == {"old", "r1", "r2"}
        assert [a.attempt_id for a in store.list_tasks("r2")] == ["a2"]
        old = store.get_run("old", now=T0 + 10)
        assert old is not None
        assert (old.status, old.heartbeat_at, old.expires_at) == ("running", T0 + 5, T0 + 35)

    # -- listing ----------------------------------------------------------------------------------------------------
    def test_runs_are_listed_newest_first_with_ties_broken_by_id(self, store: RunStore) -> None:
        for i, run_id in enumerate(["a", "b", "c"]):
            store.create_run(make_run(run_id, created_at=T0 + i))
        store.create_run(make_run("c2", created_at=T0 + 2))
        assert ids(store.list_runs().runs) == ["c2", "c", "b", "a"]

    def test_pages_walk_every_run_once_even_when_creation_times_tie(self, store: RunStore) -> None:
        for i in range(23):
            store.create_run(make_run(f"r{i:02d}", created_at=T0 + i // 4))  # groups of four share a time
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = store.list_runs(limit=5, cursor=cursor)
            seen += ids(page.runs)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert pages == 5
        assert len(seen) == len(set(seen)) == 23
        expected = sorted((f"r{i:02d}" for i in range(23)), key=lambda r: (int(r[1:]) // 4, r), reverse=True)
        assert seen == expected

    def test_a_page_does_not_shift_when_newer_runs_arrive(self, store: RunStore) -> None:
        for i in range(6):
            store.create_run(make_run(f"r{i}", created_at=T0 + i))
        first = store.list_runs(limit=3)
        store.create_run(make_run("newer", created_at=T0 + 100))
        second = store.list_runs(limit=3, cursor=first.next_cursor)
        assert ids(first.runs) == ["r5", "r4", "r3"]
        assert ids(second.runs) == ["r2", "r1", "r0"]
        assert second.next_cursor is None

    def test_the_last_page_has_no_cursor(self, store: RunStore) -> None:
        store.create_run(make_run("r1"))
        assert store.list_runs(limit=1).next_cursor is None
        assert store.list_runs().runs[0].run_id == "r1"

    def test_listing_filters_by_status_and_workflow(self, store: RunStore) -> None:
        store.create_run(make_run("f1", status="failed", workflow="etl", created_at=T0 + 1))
        store.create_run(make_run("c1", status="completed", workflow="etl", created_at=T0 + 2))
        store.create_run(make_run("f2", status="failed", workflow="train", created_at=T0 + 3))
        store.create_run(make_run("p1", status="paused", workflow="train", created_at=T0 + 4))
        assert ids(store.list_runs(status="failed").runs) == ["f2", "f1"]
        assert ids(store.list_runs(workflow="etl").runs) == ["c1", "f1"]
        assert ids(store.list_runs(status="failed", workflow="etl").runs) == ["f1"]
        assert ids(store.list_runs(status=["paused", "completed"]).runs) == ["p1", "c1"]
        assert store.list_runs(status="canceled").runs == []

    def test_filtered_pages_walk_every_matching_run_once(self, store: RunStore) -> None:
        for i in range(30):
            store.create_run(make_run(f"r{i:02d}", created_at=T0 + i, status="failed" if i % 3 else "completed"))
        seen: list[str] = []
        cursor = None
        while True:
            page = store.list_runs(status="failed", limit=4, cursor=cursor)
            seen += ids(page.runs)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [f"r{i:02d}" for i in range(29, -1, -1) if i % 3]

    @pytest.mark.parametrize("kwargs", [{"status": "sleeping"}, {"cursor": "not-a-cursor!"}, {"limit": 0}])
    def test_listing_refuses_bad_arguments(self, store: RunStore, kwargs: dict[str, Any]) -> None:
        with pytest.raises(RunStoreError):
            store.list_runs(**kwargs)

    # -- heartbeats and crashes -------------------------------------------------------------------------------------
    def test_a_running_run_whose_heartbeat_expired_reads_as_crashed(self, store: RunStore) -> None:
        store.create_run(make_run("live", status="running", heartbeat_at=T0, expires_at=T0 + 30))
        store.create_run(make_run("dead", status="running", heartbeat_at=T0 - 100, expires_at=T0 - 70,
                                  created_at=T0 - 200))
        store.create_run(make_run("forever", status="running", created_at=T0 - 300))  # no heartbeat: never expires
        live, dead = store.get_run("live", now=T0 + 1), store.get_run("dead", now=T0 + 1)
        assert live is not None and dead is not None
        assert (live.status, dead.status) == ("running", "crashed")
        assert dead.ended_at == T0 - 100
        assert ids(store.list_runs(status="running", now=T0 + 1).runs) == ["live", "forever"]
        assert ids(store.list_runs(status="crashed", now=T0 + 1).runs) == ["dead"]
        assert ids(store.list_runs(status="crashed", now=T0 + 31).runs) == ["live", "dead"]

    def test_a_heartbeat_keeps_a_run_running_for_three_intervals(self, store: RunStore) -> None:
        store.create_run(make_run("r1", status="running", heartbeat_at=T0, expires_at=T0 + 1))
        assert store.heartbeat("r1", interval=10, now=T0 + 5)
        run = store.get_run("r1", now=T0 + 34)
        assert run is not None
        assert (run.status, run.heartbeat_at, run.expires_at) == ("running", T0 + 5, T0 + 35)
        crashed = store.get_run("r1", now=T0 + 36)
        assert crashed is not None and crashed.status == "crashed"

    def test_a_heartbeat_leaves_an_ended_run_alone(self, store: RunStore) -> None:
        store.create_run(make_run("r1", status="completed"))
        assert store.heartbeat("r1", interval=10, now=T0) is False
        assert store.heartbeat("nope", interval=10, now=T0) is False
        run = store.get_run("r1")
        assert run is not None and run.status == "completed"

    def test_mark_crashed_records_expired_runs_for_good(self, store: RunStore) -> None:
        store.create_run(make_run("dead", status="running", heartbeat_at=T0 - 100, expires_at=T0 - 70))
        store.create_run(make_run("live", status="running", heartbeat_at=T0, expires_at=T0 + 30))
        assert store.mark_crashed(now=T0) == 1
        assert store.mark_crashed(now=T0) == 0
        dead = store.get_run("dead", now=T0 - 1000)  # crashed is now stored, whatever the time of reading
        assert dead is not None
        assert (dead.status, dead.ended_at, dead.expires_at) == ("crashed", T0 - 100, None)
        assert dead.history[-1] == ["crashed", T0]
        assert store.mark_crashed(older_than=10, now=T0 + 20) == 1  # live's last heartbeat is 20 s old

    # -- retention --------------------------------------------------------------------------------------------------
    def test_prune_deletes_old_ended_runs_and_their_attempts(self, store: RunStore) -> None:
        day = 86_400.0
        store.create_run(make_run("old", created_at=T0 - 10 * day))
        store.create_run(make_run("recent", created_at=T0 - day))
        store.create_run(make_run("old-running", status="running", created_at=T0 - 10 * day,
                                  heartbeat_at=T0 - 1, expires_at=T0 + 30))
        store.create_run(make_run("old-dead", status="running", created_at=T0 - 10 * day,
                                  heartbeat_at=T0 - 9 * day, expires_at=T0 - 9 * day + 30))
        store.add_task_attempt(make_attempt("a-old", "old", started_at=T0 - 10 * day))
        store.add_task_attempt(make_attempt("a-recent", "recent", started_at=T0 - day))
        store.add_task_attempt(make_attempt("orphan-old", "unrecorded", started_at=T0 - 10 * day))
        store.add_task_attempt(make_attempt("orphan-new", "unrecorded", started_at=T0))
        assert store.prune("7d", now=T0) == 2
        assert {r.run_id for r in store.list_runs(now=T0).runs} == {"recent", "old-running"}
        assert store.list_tasks("old") == []
        assert [a.attempt_id for a in store.list_tasks("recent")] == ["a-recent"]
        assert [a.attempt_id for a in store.list_tasks("unrecorded")] == ["orphan-new"]
        assert store.prune(7 * day, now=T0) == 0

    # -- life cycle and concurrency ---------------------------------------------------------------------------------
    def test_a_closed_store_refuses_work(self, store: RunStore) -> None:
        store.close()
        with pytest.raises(RunStoreClosedError):
            store.get_run("r1")
        with pytest.raises(RunStoreClosedError):
            store.create_run(make_run("r1"))

    def test_threads_writing_at_once_lose_nothing(self, store: RunStore) -> None:
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def write(worker: int) -> None:
            try:
                start.wait()
                for i in range(25):
                    run_id = f"w{worker}-{i}"
                    store.apply(WriteBatch([make_run(run_id, created_at=T0 + i)],
                                           [make_attempt(f"{run_id}-a", run_id)]))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(store.list_runs(limit=1000).runs) == 100
        assert len(store.list_tasks("w3-24")) == 1


__all__ = ["T0", "RunStoreContract", "make_attempt", "make_run"]
