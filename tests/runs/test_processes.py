"""Across processes: two processes writing one SQLite file at once, and a recorded run whose process is killed
showing as crashed once its heartbeat expires (never as running forever)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from graflow.runs import open_run_store
from tests.runs.conftest import DEADLINE, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def child(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environ = {**os.environ, **(env or {}),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    environ.pop("GRAFLOW_RUN_STORE", None)
    return subprocess.Popen([sys.executable, "-m", "tests.runs.processes", *args], cwd=REPO_ROOT, env=environ,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_write_one_sqlite_file_at_once(sqlite_url: str) -> None:
    # given two processes that opened the same new file (both migrate it at once) and wait for a signal
    n = 150
    children = [child("write", sqlite_url, prefix, str(n)) for prefix in ("p1", "p2")]
    try:
        for process in children:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            assert line == "ready", process.stderr.read() if process.stderr else line
        # when both start writing at the same moment
        for process in children:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=DEADLINE * 3) for process in children]
    finally:
        for process in children:
            if process.poll() is None:
                process.kill()
                process.wait()
    # then both finish cleanly and every run and attempt of both is there
    for process, (out, err) in zip(children, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.strip() == "done"
    store = open_run_store(sqlite_url)
    try:
        for prefix in ("p1", "p2"):
            page = store.list_runs(workflow="wf", limit=1000)
            assert len([r for r in page.runs if r.run_id.startswith(f"{prefix}-")]) == n
            assert all(r.status == "completed" for r in page.runs)
            assert len(store.list_tasks(f"{prefix}-{n - 1}")) == 2
            (chain,) = store.list_runs(workflow=f"{prefix}-chain").runs
            assert chain.status == "completed"
            attempts = store.list_tasks(chain.run_id)
            assert len(attempts) == n
            assert {a.worker_id for a in attempts} == {prefix}
    finally:
        store.close()


def test_a_killed_run_shows_as_crashed_once_its_heartbeat_expires(sqlite_url: str) -> None:
    interval = 0.3
    process = child("hang", sqlite_url, env={"GRAFLOW_RUN_HEARTBEAT_SECONDS": str(interval)})
    store = open_run_store(sqlite_url)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        assert line[:1] == ["started"], process.stderr.read() if process.stderr else line
        run_id = line[1]

        # while the process lives, heartbeats keep the run running well past three intervals
        def alive_long() -> bool:
            run = store.get_run(run_id)
            assert run is None or run.status == "running", run
            return run is not None and (run.heartbeat_at or 0) - (run.started_at or 0) > 4 * interval

        wait_for(alive_long, "heartbeats of a live run")
        run = store.get_run(run_id)
        assert run is not None
        assert run.parameters == {"answer": 42}
        blocked = wait_for(lambda: [a for a in store.list_tasks(run_id) if a.task_id == "blocks"],
                           "the running attempt recorded as started")
        assert blocked[0].status == "started"
        assert [r.run_id for r in store.list_runs(status="running").runs] == [run_id]

        # when the process is killed outright
        process.send_signal(signal.SIGKILL)
        process.wait(DEADLINE)

        # then, once its heartbeat expires, the run reads as crashed (and not as running)
        crashed = wait_for(lambda: (r := store.get_run(run_id)) is not None and r.status == "crashed" and r,
                           "the killed run showing as crashed", timeout=DEADLINE)
        assert crashed.ended_at == crashed.heartbeat_at
        assert store.list_runs(status="running").runs == []
        assert [r.run_id for r in store.list_runs(status="crashed").runs] == [run_id]
        assert store.mark_crashed() == 1
        stored = store.get_run(run_id, now=0.0)  # judged at any time: crashed is stored now
        assert stored is not None and stored.status == "crashed"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr, process.stdin):
            if stream is not None:
                stream.close()
        store.close()
