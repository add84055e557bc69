"""Task handlers: choosing how a task runs with ``@task(handler=...)``.

Run it with ``python examples/core_handlers.py``. A timing handler wraps selected tasks; it is registered once on
the workflow and is used everywhere the workflow runs tasks, parallel group members included. The same handler
can be registered on a ``WorkflowEngine`` for the low-level API.
"""

from __future__ import annotations

import time
from typing import Any

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.handler import TaskHandler
from graflow.core.task import Executable
from graflow.exceptions import GraflowRuntimeError


class TimingHandler(TaskHandler):
    """Runs the task in-process and records how long it took.

    A handler must store the result with ``context.set_result`` (or store the exception and re-raise it).
    """

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def execute_task(self, task: Executable, context: ExecutionContext) -> Any:
        started = time.perf_counter()
        try:
            result = task.run()
        except Exception as exc:
            context.set_result(task.task_id, exc)
            raise
        finally:
            self.timings[task.task_id] = time.perf_counter() - started
        context.set_result(task.task_id, result)
        return result

    def get_name(self) -> str:
        return "timed"


def build() -> Any:
    with workflow("timed_jobs") as wf:

        @task(handler="timed")
        def resize() -> str:
            return "resized"

        @task(handler="timed")
        def compress() -> str:
            return "compressed"

        @task
        def upload(resize: str, compress: str) -> str:
            return f"uploaded {resize} and {compress}"

        (resize | compress) >> upload
    return wf


def main() -> None:
    # Registered on the workflow: wf.execute() and parallel members use it.
    handler = TimingHandler()
    wf = build()
    wf.register_handler("timed", handler)
    print("workflow:", wf.execute())
    print("timed tasks:", sorted(handler.timings))

    # The low-level API: register on the engine and run a context built from the workflow's graph.
    engine_handler = TimingHandler()
    engine = WorkflowEngine()
    engine.register_handler("timed", engine_handler)
    print("engine:", engine.execute(ExecutionContext.create(build().graph)))
    print("timed tasks:", sorted(engine_handler.timings))

    # A handler name nobody registered fails before anything runs.
    try:
        build().execute()
    except GraflowRuntimeError as e:
        print("unregistered:", e.cause)


if __name__ == "__main__":
    main()
