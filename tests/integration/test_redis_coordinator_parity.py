"""Parity: the same workflows give the same results on the threading backend and on Redis workers.

Each scenario builds a workflow with a parallel group on a given backend and returns what a user observes: the
run's return value, member results, channel data, or the error. The Redis runs use in-process workers and both
the Redis channel (upstream's setup) and a memory channel on the producer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.exceptions import GraflowRuntimeError, ParallelGroupError
from graflow.worker.inprocess import run_workers

pytestmark = pytest.mark.integration


def observe(build: Callable[[str], Any], backend: str, channel: str, client: Any, prefix: str) -> dict[str, Any]:
    wf, keys = build(backend)
    ctx = ExecutionContext.create(
        wf.graph, channel_backend=channel, config={"redis_client": client, "key_prefix": prefix}
    )
    try:
        result = ctx.execute()
    except GraflowRuntimeError as exc:
        error = exc if isinstance(exc, ParallelGroupError) else exc.cause
        if isinstance(error, ParallelGroupError):
            return {
                "error": type(error).__name__,
                "failed": sorted(error.failed_tasks),
                "succeeded": sorted(error.successful_tasks),
            }
        return {"error": type(exc).__name__, "message": str(exc)}
    seen: dict[str, Any] = {"result": result}
    for key in keys:
        value = ctx.get_channel().get(key)
        seen[key] = sorted(value) if isinstance(value, list) else value
    return seen


def fan_in(backend: str) -> Any:
    with workflow("fan_in") as wf:

        @task
        def fetch() -> dict[str, int]:
            return {"users": 1200}

        @task(inject_context=True)
        def count(ctx: Any, users: int) -> int:
            ctx.get_channel().append("log", "count")
            return users

        @task(inject_context=True)
        def double(ctx: Any, users: int) -> int:
            ctx.get_channel().append("log", "double")
            ctx.get_channel().set("doubled", users * 2)
            return users * 2

        @task(inject_context=True)
        def report(ctx: Any) -> str:
            return f"{ctx.get_result('count')}/{ctx.get_result('double')}/{ctx.get_channel().get('doubled')}"

        fetch >> (count | double).with_execution(backend=backend) >> report
    return wf, ["log", "doubled", "count.__result__", "double.__result__"]


def trailing_group(backend: str) -> Any:
    with workflow("trailing") as wf:

        @task
        def a() -> tuple[int, str]:
            return (1, "one")

        @task
        def b() -> list[int]:
            return [2, 3]

        @task
        def c() -> None:
            return None

        (a | b | c).with_execution(backend=backend)
    return wf, []


def member_with_successor(backend: str) -> Any:
    with workflow("successor") as wf:

        @task
        def left() -> int:
            return 1

        @task(inject_context=True)
        def after_left(ctx: Any) -> int:
            return ctx.get_result("left") + 10

        @task
        def right() -> int:
            return 2

        @task(inject_context=True)
        def join(ctx: Any) -> list[Any]:
            return [ctx.get_result("left"), ctx.get_result("after_left"), ctx.get_result("right")]

        (left >> after_left | right).with_execution(backend=backend) >> join
    return wf, []


def strict_failure(backend: str) -> Any:
    with workflow("strict") as wf:

        @task
        def fine() -> int:
            return 1

        @task
        def broken() -> int:
            raise ValueError("disk full")

        @task
        def also_broken() -> int:
            raise KeyError("missing")

        (fine | broken | also_broken).with_execution(backend=backend)
    return wf, []


def at_least_n(backend: str) -> Any:
    from graflow.core.handlers.group_policy import AtLeastNGroupPolicy

    with workflow("at_least") as wf:

        @task
        def one() -> int:
            return 1

        @task
        def two() -> int:
            return 2

        @task
        def fails() -> int:
            raise RuntimeError("flaky")

        (one | two | fails).with_execution(backend=backend, policy=AtLeastNGroupPolicy(2))
    return wf, []


def retried_member(backend: str) -> Any:
    with workflow("retried") as wf:

        @task(inject_context=True, max_retries=2)
        def flaky(ctx: Any) -> str:
            attempts = ctx.get_channel().atomic_add("attempts", 1)
            if attempts < 2:
                raise ConnectionResetError("try again")
            return f"ok after {attempts}"

        @task
        def steady() -> str:
            return "steady"

        (flaky | steady).with_execution(backend=backend)
    return wf, ["attempts"]


SCENARIOS = [fan_in, trailing_group, member_with_successor, strict_failure, at_least_n, retried_member]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
@pytest.mark.parametrize("channel", ["redis", "memory"])
def test_redis_workers_match_the_threading_backend(
    redis_client: Any, key_prefix: str, scenario: Callable[[str], Any], channel: str
) -> None:
    local = observe(scenario, "threading", channel, redis_client, f"{key_prefix}-local")
    with run_workers(redis_client, key_prefix, count=2):
        distributed = observe(scenario, "redis", channel, redis_client, key_prefix)
    assert distributed == local
