"""A run going on in a ``graflow run`` process stops when ``graflow cancel`` is asked from another process; a run
whose process was killed shows as crashed once its heartbeat expires."""

from __future__ import annotations

import json
import signal

from tests.cli.conftest import DEADLINE, Cli, run_id_of, wait_for

FOREVER = """
    import threading

    from graflow import task, workflow

    with workflow("forever") as wf:
        @task(inject_context=True, max_cycles=1_000_000)
        def tick(ctx, n: int = 0) -> int:
            threading.Event().wait(0.02)  # the work of one step
            ctx.next_iteration(n + 1)
            return n
"""


def status_of(cli: Cli, run_id: str) -> str:
    result = cli("show", run_id, "--json")
    return str(json.loads(result.stdout)["run"]["status"]) if result.returncode == 0 else ""


def test_graflow_cancel_stops_a_run_of_another_process_at_its_next_task_boundary(cli: Cli) -> None:
    # given a run going on in a `graflow run` process
    cli.write("forever.py", FOREVER)
    child = cli.start("run", "forever.py", "--plain")
    try:
        run_id = run_id_of(child.wait_for_line(lambda line: line.startswith("Running ")))
        child.wait_for_line(lambda line: " done " in line)
        wait_for(lambda: status_of(cli, run_id) == "running", "the run to be recorded as running")
        # when another process cancels it
        cancel = cli("cancel", run_id, "--wait", "--timeout", str(DEADLINE))
        # then the run stopped as canceled, the running task finished, and `graflow run` exited with 5
        code, stderr = child.finish()
    finally:
        child.kill()
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.splitlines() == [
        f"Cancel requested: run {run_id} stops at its next task boundary.", f"Run {run_id} ended: canceled."]
    assert code == 5
    assert f"graflow run: run {run_id} canceled: canceled with graflow cancel by " in stderr
    last = child.seen[-1].split()
    assert last[1] == "done"  # the task that ran when the request came was not cut short
    data = json.loads(cli("show", run_id, "--json").stdout)
    assert data["run"]["status"] == "canceled"
    assert data["run"]["error_message"].startswith("Workflow canceled by task")
    assert all(attempt["status"] == "completed" for attempt in data["tasks"])


def test_ctrl_c_stops_the_run_at_the_next_task_boundary_as_canceled(cli: Cli) -> None:
    cli.write("forever.py", FOREVER)
    child = cli.start("run", "forever.py", "--plain")
    try:
        run_id = run_id_of(child.wait_for_line(lambda line: line.startswith("Running ")))
        child.wait_for_line(lambda line: " done " in line)
        child.process.send_signal(signal.SIGINT)
        code, stderr = child.finish()
    finally:
        child.kill()
    assert code == 5
    assert "Ctrl-C: stopping at the next task boundary (Ctrl-C again to abort)" in child.seen
    assert f"run {run_id} canceled: interrupted (Ctrl-C)" in stderr
    assert status_of(cli, run_id) == "canceled"


def test_a_killed_run_shows_as_crashed_once_its_heartbeat_expired(cli: Cli) -> None:
    # given a run whose heartbeat comes every 0.2 s, recorded as running
    cli.write("forever.py", FOREVER)
    beat = {"GRAFLOW_RUN_HEARTBEAT_SECONDS": "0.2"}
    child = cli.start("run", "forever.py", "--plain", env=beat)
    try:
        run_id = run_id_of(child.wait_for_line(lambda line: line.startswith("Running ")))
        wait_for(lambda: status_of(cli, run_id) == "running", "the run to be recorded as running")
        # when its process is killed without a chance to write anything
        child.process.send_signal(signal.SIGKILL)
        child.process.wait(DEADLINE)
    finally:
        child.kill()
    # then, three missed heartbeats later, every reader sees it crashed
    wait_for(lambda: status_of(cli, run_id) == "crashed", "the run to show as crashed")
    listed = cli("runs", "--status", "crashed", "--json").stdout.splitlines()
    assert [json.loads(line)["run_id"] for line in listed] == [run_id]
    assert cli("runs", "--status", "running", "--json").stdout == ""
    # and, as nothing runs it any more, cancelling it records the outcome at once
    cancel = cli("cancel", run_id)
    assert (cancel.returncode, cancel.stdout) == (0, f"Run {run_id} (crashed) is canceled.\n")
