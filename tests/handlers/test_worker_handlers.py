"""D15 on Redis workers: a task handled by the subprocess handler runs on a worker, in a process of its own, and its
result and channel writes reach the run (integration: real Redis, workers in this process)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from graflow import task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.task_context import TaskExecutionContext
from graflow.distributed.submit import submit_workflow
from graflow.handlers import SubprocessTaskHandler
from graflow.worker.inprocess import run_workers

pytestmark = pytest.mark.integration


def test_a_submitted_workflow_runs_its_subprocess_task_on_a_worker(redis_client: Any, key_prefix: str) -> None:
    # given a workflow whose middle task runs in a subprocess, its handler registered on the workflow
    with workflow("worker_subprocess") as wf:

        @task
        def prices() -> list[float]:
            return [1.5, 2.5]

        @task(handler="subprocess", inject_context=True, timeout=60)
        def priced(ctx: TaskExecutionContext, prices: list[float]) -> dict[str, Any]:
            ctx.get_channel().set("currency", "EUR")
            return {"total": sum(prices), "pid": os.getpid()}

        @task
        def label(priced: dict[str, Any], currency: str) -> str:
            return f"{priced['total']} {currency}"

        prices >> priced >> label

    wf.register_handler("subprocess", SubprocessTaskHandler())
    # when it is submitted to a worker
    with run_workers(redis_client, key_prefix):
        handle = submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix, wait=False)
        result = handle.result(timeout=120)
    # then the handler travelled with the run, the task ran in its own process, and its write reached the run
    assert result == "4.0 EUR"
    channel = handle.channel()
    assert channel.get("currency") == "EUR"
    assert channel.get_result("priced")["pid"] != os.getpid()


def test_a_subprocess_member_of_a_redis_group_runs_on_a_worker(redis_client: Any, key_prefix: str) -> None:
    from graflow.core.context import ExecutionContext

    with workflow("worker_group_subprocess") as wf:

        @task
        def plain() -> str:
            return "plain"

        @task(handler="subprocess", inject_context=True)
        def isolated(ctx: TaskExecutionContext) -> int:
            ctx.get_channel().append("notes", "from the isolated member")
            return os.getpid()

        @task
        def after(plain: str, isolated: int, notes: list[str]) -> tuple[str, bool, list[str]]:
            return plain, isolated != os.getpid(), notes

        (plain | isolated).with_execution(backend=CoordinationBackend.REDIS) >> after

    wf.register_handler("subprocess", SubprocessTaskHandler())
    with run_workers(redis_client, key_prefix, count=2):
        ctx = ExecutionContext.create(
            wf.graph, channel_backend="redis", handlers=wf.handlers,
            config={"redis_client": redis_client, "key_prefix": key_prefix},
        )
        result = ctx.execute()
    assert result == ("plain", True, ["from the isolated member"])
