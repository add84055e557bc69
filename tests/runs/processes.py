"""Child processes of the run store tests: ``python -m tests.runs.processes <command> ...``.

``write URL PREFIX N``
    Open the store, print ``ready``, wait for a line on stdin, then write N runs (each with two attempts) through
    the store API and run one recorded workflow of N tasks; print ``done``.
``hang URL``
    Run a recorded workflow whose second task prints ``started <run id>`` and then blocks until the process is
    killed.
"""

from __future__ import annotations

import itertools
import sys
import threading

from graflow.core.decorators import task
from graflow.core.workflow import workflow
from graflow.runs import RunRecorder, TaskAttempt, WriteBatch, open_run_store
from graflow.testing.contracts.run_store import T0, make_run


def write(url: str, prefix: str, n: int) -> None:
    store = open_run_store(url)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(n):
        run_id = f"{prefix}-{i}"
        attempts = [TaskAttempt(f"{run_id}-{k}", run_id, f"t{k}", started_at=T0 + i) for k in range(2)]
        store.apply(WriteBatch([make_run(run_id, created_at=T0 + i, status="running")], attempts))
        store.update_run(run_id, status="completed")
    recorder = RunRecorder(store, worker_id=prefix)
    with workflow(f"{prefix}-chain", hooks=[recorder]) as wf:
        tasks = [task(f"{prefix}-t{i}")(lambda: None) for i in range(n)]
        for a, b in itertools.pairwise(tasks):
            a >> b
    wf.execute()
    if not recorder.flush(30):
        raise SystemExit(f"the recorder could not write: {recorder.stats()}")
    recorder.close()
    store.close()
    print("done", flush=True)


def hang(url: str) -> None:
    with workflow("hangs", run_store=url) as wf:

        @task
        def first() -> int:
            return 1

        @task(inject_context=True)
        def blocks(ctx: object) -> None:
            print("started", ctx.execution_context.session_id, flush=True)  # type: ignore[attr-defined]
            threading.Event().wait()  # until SIGKILL

        first >> blocks
    wf.execute(answer=42)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "write":
        write(args[0], args[1], int(args[2]))
    elif command == "hang":
        hang(args[0])
    else:
        raise SystemExit(f"unknown command {command!r}")
