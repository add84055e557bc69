"""Broken: every task has a predecessor, so the run has nowhere to start."""

from graflow import task, workflow
from graflow.core.task_context import TaskExecutionContext

with workflow("no_start") as wf:

    @task(inject_context=True)
    def poll(ctx: TaskExecutionContext) -> None:
        ctx.terminate_workflow("done")

    @task(inject_context=True)
    def wait(ctx: TaskExecutionContext) -> None:
        pass

    poll >> wait >> poll
