"""MetricsHook: engine events become bounded-label metrics in a MetricsCollector."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from graflow.core.decorators import task
from graflow.core.engine import WorkflowEngine
from graflow.core.retry import RetryPolicy
from graflow.core.workflow import workflow
from graflow.exceptions import GraflowError, GraflowWorkflowCanceledError
from graflow.observability.metrics import (
    InMemoryMetricsCollector,
    MetricsCollector,
    MetricsHook,
    reason_label,
    task_label,
    task_status,
    workflow_status,
)


def _run(wf: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return wf.execute(*args, **kwargs)
    except GraflowError as exc:
        return exc


def test_in_memory_collector_satisfies_the_protocol() -> None:
    assert isinstance(InMemoryMetricsCollector(), MetricsCollector)


def test_successful_chain_counts_each_task_once_by_function_name() -> None:
    # given a three-task chain with a metrics hook
    collector = InMemoryMetricsCollector()
    with workflow("etl", hooks=[MetricsHook(collector)]) as wf:

        @task
        def extract() -> int:
            return 1

        @task
        def transform() -> int:
            return 2

        @task
        def load() -> int:
            return 3

        extract >> transform >> load
        # when it runs
        wf.execute()

    # then every task is one success labelled by workflow and function name, and nothing is left in flight
    assert collector.tasks == {
        ("etl", "extract", "success"): 1,
        ("etl", "transform", "success"): 1,
        ("etl", "load", "success"): 1,
    }
    assert all(len(v) == 1 and v[0] >= 0 for v in collector.task_durations.values())
    assert collector.in_flight["etl"] == 0
    assert collector.workflow_runs == {("etl", "success"): 1}
    assert collector.workflow_task_counts["etl"] == [3]


def test_failed_task_and_failed_run_are_counted_as_failed() -> None:
    collector = InMemoryMetricsCollector()
    with workflow("fragile", hooks=[MetricsHook(collector)]) as wf:

        @task
        def ok() -> None:
            return None

        @task
        def boom() -> None:
            raise ValueError("nope")

        ok >> boom
        outcome = _run(wf)

    assert isinstance(outcome, GraflowError)
    assert collector.tasks[("fragile", "ok", "success")] == 1
    assert collector.tasks[("fragile", "boom", "failed")] == 1
    assert collector.workflow_runs == {("fragile", "failed"): 1}
    assert collector.in_flight["fragile"] == 0


def test_retries_count_every_failed_attempt_and_the_retry() -> None:
    # given a task that fails twice, then succeeds, with two retries allowed and no delay
    attempts = iter([ValueError("1"), ValueError("2"), None])
    collector = InMemoryMetricsCollector()
    with workflow("retrying", hooks=[MetricsHook(collector)]) as wf:

        @task(retry_policy=RetryPolicy(max_retries=2, initial_interval=0.0))
        def flaky() -> str:
            error = next(attempts)
            if error is not None:
                raise error
            return "ok"

        wf.execute()

    assert collector.retries[("retrying", "flaky")] == 2
    assert collector.tasks[("retrying", "flaky", "failed")] == 2
    assert collector.tasks[("retrying", "flaky", "success")] == 1
    assert collector.workflow_runs == {("retrying", "success"): 1}


def test_iterations_share_one_task_label() -> None:
    # given a task that re-runs itself three times through next_iteration
    collector = InMemoryMetricsCollector()
    with workflow("loop", hooks=[MetricsHook(collector)]) as wf:

        @task(inject_context=True, max_cycles=10)
        def step(ctx: Any, data: Any = None) -> None:
            n = (data or 0) + 1
            if n < 4:
                ctx.next_iteration(n)

        wf.execute()

    # then all four attempts land in one series, never in per-iteration ones
    assert collector.tasks == {("loop", "step", "success"): 4}


def test_cancelled_run_and_task_get_the_cancelled_status() -> None:
    collector = InMemoryMetricsCollector()
    with workflow("stopper", hooks=[MetricsHook(collector)]) as wf:

        @task(inject_context=True)
        def stop(ctx: Any) -> None:
            ctx.cancel_workflow("enough")

        outcome = _run(wf)

    assert isinstance(outcome, GraflowWorkflowCanceledError)
    assert collector.workflow_runs == {("stopper", "cancelled"): 1}


def test_parallel_members_are_timed_on_their_own_threads() -> None:
    # given two members that run at the same time (each waits until both have started)
    both_started = threading.Barrier(2, timeout=10)
    collector = InMemoryMetricsCollector()
    with workflow("fan", hooks=[MetricsHook(collector)]) as wf:

        @task
        def left() -> None:
            both_started.wait()

        @task
        def right() -> None:
            both_started.wait()

        @task
        def join() -> None:
            return None

        (left | right) >> join
        wf.execute()

    # then each member has exactly one measured attempt and none is left in flight
    assert collector.tasks[("fan", "left", "success")] == 1
    assert collector.tasks[("fan", "right", "success")] == 1
    assert len(collector.task_durations[("fan", "left")]) == 1
    assert len(collector.task_durations[("fan", "right")]) == 1
    assert collector.in_flight["fan"] == 0


def test_add_hook_on_a_context_records_like_a_workflow_hook() -> None:
    collector = InMemoryMetricsCollector()
    with workflow("late") as wf:

        @task
        def only() -> int:
            return 1

        ctx = wf.create_context()
        ctx.add_hook(MetricsHook(collector))
        WorkflowEngine().execute(ctx)

    assert collector.tasks[("late", "only", "success")] == 1


def test_queue_events_are_recorded_with_bounded_labels() -> None:
    # given a hook fed the events a distributed queue emits
    collector = InMemoryMetricsCollector()
    hook = MetricsHook(collector)
    # when
    hook.on_task_dequeued(task_id="t-123", queue="default", wait_seconds=0.25, deliveries=1)
    hook.on_task_dequeued(task_id="t-124", queue="default", wait_seconds=-0.001, deliveries=1)  # clock skew
    hook.on_task_redelivered(task_id="t-123", queue="default", deliveries=2)
    hook.on_task_dead_lettered(task_id="t-123", queue="default", reason="max_deliveries")
    hook.on_task_dead_lettered(task_id=None, queue="default", reason="bad_signature: key id 7 unknown")
    hook.on_payload_rejected(queue="default", reason="undecodable: bad json at 17")
    hook.on_queue_depth(queue="default", depth=12)
    # then task ids and free text never become labels
    assert collector.queue_waits["default"] == [0.25, 0.0]
    assert collector.redeliveries["default"] == 1
    assert collector.dead_letters == {("default", "max_deliveries"): 1, ("default", "bad_signature"): 1}
    assert collector.payload_rejections == {("default", "undecodable"): 1}
    assert collector.queue_depth == {"default": 12}


def test_checkpoint_duration_is_recorded_per_workflow() -> None:
    collector = InMemoryMetricsCollector()
    hook = MetricsHook(collector)

    class Ctx:
        workflow_name = "ckpt"

    hook.on_checkpoint(context=Ctx(), path="/tmp/x.pkl", duration=0.042)  # type: ignore[arg-type]
    assert collector.checkpoint_writes["ckpt"] == [0.042]


def test_task_end_without_a_start_records_nothing() -> None:
    collector = InMemoryMetricsCollector()
    hook = MetricsHook(collector)

    class T:
        task_id = "orphan"
        name = "orphan"

    hook.on_task_end(task=T(), context=None)  # type: ignore[arg-type]
    assert not collector.tasks
    assert not collector.in_flight


class _Named:
    def __init__(self, task_id: str, name: str | None = None) -> None:
        self.task_id = task_id
        if name is not None:
            self.name = name


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (_Named("fetch_3f2a", "fetch"), "fetch"),
        (_Named("step_cycle_3_ab12cd34", None), "step"),
        (_Named("step_cycle_12_0f", "step_cycle_12_0f"), "step"),
        (_Named("", None), "unknown"),
    ],
)
def test_task_label_is_the_name_without_cycle_suffix(task: Any, expected: str) -> None:
    assert task_label(task) == expected


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("max_deliveries", "max_deliveries"),
        ("bad_signature: details that vary", "bad_signature"),
        ("", "unknown"),
        (None, "unknown"),
        ("x" * 200, "x" * 64),
    ],
)
def test_reason_label_is_bounded(reason: str | None, expected: str) -> None:
    assert reason_label(reason) == expected


def test_status_helpers_map_errors_and_context_states() -> None:
    class Ctx:
        def __init__(self, status: str, error: BaseException | None = None) -> None:
            self.status = status
            self.error = error

    assert task_status(None) == "success"
    assert task_status(ValueError()) == "failed"
    assert task_status(GraflowWorkflowCanceledError("x", "t")) == "cancelled"
    assert workflow_status(Ctx("completed")) == "success"
    assert workflow_status(Ctx("terminated")) == "terminated"
    assert workflow_status(Ctx("max_steps_reached")) == "max_steps_reached"
    assert workflow_status(Ctx("failed", ValueError())) == "failed"
    assert workflow_status(Ctx("canceled", GraflowWorkflowCanceledError("x"))) == "cancelled"
