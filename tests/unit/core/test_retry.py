"""Retries (spec 6, D9): budgets, counts, backoff that blocks nothing else."""

from __future__ import annotations

import time

import pytest

from graflow import RetryPolicy, task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.scheduler import Scheduler
from graflow.exceptions import GraflowRuntimeError, RetryLimitExceededError


def test_policy_delays_grow_and_cap() -> None:
    policy = RetryPolicy(max_retries=5, initial_interval=1.0, backoff_factor=2.0, max_interval=5.0)
    assert [policy.get_delay(n) for n in range(4)] == [1.0, 2.0, 4.0, 5.0]
    jittered = RetryPolicy(initial_interval=1.0, jitter=True)
    assert all(0.5 <= jittered.get_delay(0) < 1.5 for _ in range(50))
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


def test_success_after_transient_failures_with_retry_count_visible() -> None:
    seen: list[tuple[int, int]] = []
    with workflow("transient") as wf:

        @task(inject_context=True, max_retries=3)
        def flaky(ctx) -> str:
            seen.append((ctx.retry_count, ctx.max_retries))
            if ctx.retry_count < 2:
                raise TimeoutError("slow")
            return "ok"

        assert wf.execute() == "ok"
    assert seen == [(0, 3), (1, 3), (2, 3)]


def test_exhausted_retries_report_the_number_of_retries() -> None:
    """D9: retry_count equals max_retries on exhaustion."""
    with workflow("exhausted") as wf:

        @task(max_retries=2)
        def always() -> None:
            raise ValueError("nope")

        with pytest.raises(RetryLimitExceededError) as err:
            wf.execute()
    assert (err.value.retry_count, err.value.max_retries) == (2, 2)
    assert str(err.value) == "RetryLimitExceededError(task_id=always, retry_count=2, max_retries=2)"
    assert isinstance(err.value.last_error, ValueError) and err.value.cause is err.value.last_error
    assert isinstance(err.value, GraflowRuntimeError)


def test_context_default_retries_apply_to_every_task() -> None:
    calls = {"n": 0}
    with workflow("global") as wf:

        @task
        def once_broken() -> str:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("first")
            return "second"

        ctx = ExecutionContext.create(wf.graph, default_max_retries=3)
        assert WorkflowEngine().execute(ctx) == "second"
    assert calls["n"] == 2


def test_policy_wins_over_max_retries() -> None:
    @task(max_retries=5, retry_policy=RetryPolicy(max_retries=1, initial_interval=0))
    def t() -> None:
        pass

    assert t.max_retries == 1


def test_channel_writes_of_failed_attempts_persist() -> None:
    with workflow("writes") as wf:

        @task(inject_context=True, max_retries=1)
        def writer(ctx) -> None:
            ctx.get_channel().append("attempts", ctx.retry_count)
            if ctx.retry_count == 0:
                raise OSError("first attempt fails")

        _, ctx = wf.execute(ret_context=True)
    assert ctx.channel.get("attempts") == [0, 1]


def test_waiting_retry_does_not_block_ready_tasks() -> None:
    """D9: while a task waits out its backoff, other ready tasks run; the engine does not sleep meanwhile."""
    order: list[tuple[str, float]] = []
    start = time.monotonic()
    with workflow("no-block") as wf:

        @task(inject_context=True, retry_policy=RetryPolicy(max_retries=1, initial_interval=0.3))
        def slow_retry(ctx) -> None:
            order.append(("slow_retry", time.monotonic() - start))
            if ctx.retry_count == 0:
                raise ConnectionError("later")

        @task
        def quick() -> None:
            order.append(("quick", time.monotonic() - start))

        root = task("root")(lambda: None)
        root >> slow_retry
        root >> quick
        wf.execute("root")
    names = [n for n, _ in order]
    assert names == ["slow_retry", "quick", "slow_retry"]
    quick_at = order[1][1]
    retry_at = order[2][1]
    assert quick_at < 0.3 <= retry_at  # quick ran during the backoff; the retry waited for it


def test_cycle_count_does_not_advance_on_retry() -> None:
    counts: list[int] = []
    with workflow("cycles-retry") as wf:

        @task(inject_context=True, max_retries=2)
        def t(ctx) -> None:
            counts.append(ctx.cycle_count)
            if ctx.retry_count < 2:
                raise ValueError("x")

        wf.execute()
    assert counts == [1, 1, 1]


def test_scheduler_runs_due_retry_before_queued_work() -> None:
    clock = {"now": 0.0}
    scheduler = Scheduler(lambda: None, clock=lambda: clock["now"])  # type: ignore[arg-type,return-value]
    scheduler.push("a")
    scheduler.delay("retrying", 5.0)
    scheduler.push("b")
    assert scheduler.next_ready() == "a"
    clock["now"] = 6.0
    assert scheduler.next_ready() == "retrying"
    assert scheduler.next_ready() == "b"
    sleeps: list[float] = []
    scheduler.delay("late", 2.0)
    scheduler.next_ready(sleep=lambda s: (sleeps.append(s), clock.__setitem__("now", clock["now"] + s)))
    assert sleeps == [2.0]
