"""Parallel groups on the REDIS backend with real workers: results, policies, the idempotent barrier, its
configurable wait, missing graphs, memory-channel producers and whole workflows run on workers."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from graflow import task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.distributed.barrier import BarrierTimeoutError, GroupBarrier
from graflow.distributed.queue import DistributedTaskQueue
from graflow.distributed.records import SerializedTaskRecord
from graflow.distributed.redis_coordinator import RedisCoordinator, record_task_completion
from graflow.distributed.submit import submit_workflow
from graflow.exceptions import ConfigError, GraflowRuntimeError, ParallelGroupError
from graflow.worker.inprocess import run_workers

pytestmark = pytest.mark.integration


def fan_out_workflow(name: str, fail: set[str] = frozenset(), policy: str = "strict", **backend_config: Any) -> Any:
    """source >> (a | b | c) >> total, the group on Redis."""
    with workflow(name) as wf:

        @task
        def source() -> int:
            return 10

        def member(member_id: str, factor: int) -> Any:
            @task(id=member_id, inject_context=True)
            def run(ctx: Any) -> int:
                if member_id in fail:
                    raise ValueError(f"{member_id} broke")
                ctx.get_channel().append("visits", member_id)
                return ctx.get_result("source") * factor

            return run

        @task(inject_context=True)
        def total(ctx: Any) -> int:
            # a failed member's result key holds its exception (upstream behaviour): count only numbers
            values = [ctx.get_result(m) for m in ("a", "b", "c")]
            return sum(v for v in values if isinstance(v, int))

        group = (member("a", 1) | member("b", 2) | member("c", 3)).with_execution(
            backend=CoordinationBackend.REDIS, backend_config=backend_config or None, policy=policy
        )
        source >> group >> total
    return wf


def run(wf: Any, client: Any, prefix: str, channel: str = "redis") -> tuple[Any, ExecutionContext]:
    ctx = ExecutionContext.create(
        wf.graph, channel_backend=channel, config={"redis_client": client, "key_prefix": prefix}
    )
    return WorkflowEngine().execute(ctx), ctx


@pytest.mark.parametrize("channel", ["redis", "memory"])
def test_a_redis_group_runs_on_workers_and_results_come_back(redis_client: Any, key_prefix: str, channel: str) -> None:
    wf = fan_out_workflow("fan")
    with run_workers(redis_client, key_prefix, count=2) as workers:
        result, ctx = run(wf, redis_client, key_prefix, channel)
    assert result == 60
    assert [ctx.get_result(m) for m in ("a", "b", "c")] == [10, 20, 30]
    assert sorted(ctx.get_channel().get("visits")) == ["a", "b", "c"]
    assert sum(w.get_metrics()["tasks_succeeded"] for w in workers) == 3


def test_a_failing_member_fails_a_strict_group_naming_it(redis_client: Any, key_prefix: str) -> None:
    wf = fan_out_workflow("strict", fail={"b"})
    with run_workers(redis_client, key_prefix), pytest.raises(GraflowRuntimeError) as info:
        run(wf, redis_client, key_prefix)
    error = info.value if isinstance(info.value, ParallelGroupError) else info.value.cause
    assert isinstance(error, ParallelGroupError)
    assert error.failed_tasks == [("b", "b broke")]
    assert sorted(error.successful_tasks) == ["a", "c"]


def test_best_effort_group_continues_past_a_failed_member(redis_client: Any, key_prefix: str) -> None:
    wf = fan_out_workflow("best", fail={"c"}, policy="best_effort")
    with run_workers(redis_client, key_prefix):
        result, _ = run(wf, redis_client, key_prefix)
    assert result == 30


def test_completions_are_counted_once_per_member(redis_client: Any, key_prefix: str) -> None:
    # given a barrier expecting two members
    barrier = GroupBarrier(redis_client, key_prefix, "g1")
    barrier.arm(2)
    # when one member completes three times (redeliveries)
    for _ in range(3):
        record_task_completion(redis_client, key_prefix, "a", "g1", True)
    # then it counts once and the barrier still waits for the other
    assert barrier.completed_count() == 1
    with pytest.raises(BarrierTimeoutError) as info:
        barrier.wait(["a", "b"], timeout=0.2)
    assert info.value.missing == ["b"]
    # and the first write wins
    record_task_completion(redis_client, key_prefix, "b", "g1", False, "late failure")
    record_task_completion(redis_client, key_prefix, "b", "g1", True)
    done = barrier.wait(["a", "b"], timeout=5)
    assert done["b"]["success"] is False and done["b"]["error_message"] == "late failure"


def test_the_barrier_wakes_its_waiter_at_once(redis_client: Any, key_prefix: str) -> None:
    import threading

    barrier = GroupBarrier(redis_client, key_prefix, "g2")
    barrier.arm(1)
    timer = threading.Timer(0.1, record_task_completion, (redis_client, key_prefix, "only", "g2", True))
    timer.start()
    started = time.monotonic()
    barrier.wait(["only"], timeout=30)
    timer.join()
    assert time.monotonic() - started < 3  # BLPOP wake-up, well before the periodic re-check


def test_a_group_without_workers_times_out_naming_the_missing_members(redis_client: Any, key_prefix: str) -> None:
    wf = fan_out_workflow("lonely", barrier_timeout=0.3)
    with pytest.raises(GraflowRuntimeError) as info:
        run(wf, redis_client, key_prefix)
    error = info.value.cause if not isinstance(info.value, BarrierTimeoutError) else info.value
    assert isinstance(error, BarrierTimeoutError)
    assert error.missing == ["a", "b", "c"]
    assert "a, b, c" in str(error) and "0.3s" in str(error)


def test_barrier_timeout_must_be_positive(redis_client: Any, key_prefix: str) -> None:
    with pytest.raises(ConfigError, match="barrier_timeout"):
        RedisCoordinator(DistributedTaskQueue(redis_client, key_prefix=key_prefix), barrier_timeout=0)
    with pytest.raises(ValueError, match="DistributedTaskQueue"):
        RedisCoordinator(object())  # type: ignore[arg-type]


def test_a_missing_graph_fails_its_group_loudly_with_the_reason(redis_client: Any, key_prefix: str) -> None:
    # given a record whose graph blob is not in Redis (expired, or never stored)
    queue = DistributedTaskQueue(redis_client, key_prefix=key_prefix)
    barrier = GroupBarrier(redis_client, key_prefix, "g-missing")
    barrier.arm(1)
    queue.enqueue_record(
        SerializedTaskRecord(
            task_id="m",
            session_id="s",
            graph_hash="ab" * 32,
            trace_id="s",
            created_at=time.time(),
            group_id="g-missing",
        )
    )
    # when a worker takes it
    with run_workers(redis_client, key_prefix) as workers:
        done = barrier.wait(["m"], timeout=30)
    # then the group learns why at once, and the record is dead-lettered with that reason
    assert done["m"]["success"] is False
    assert "graph_missing" in done["m"]["error_message"] and "ab" * 32 in done["m"]["error_message"]
    (dead,) = queue.stream.dead_letters()
    assert dead["reason"] == "graph_missing"
    assert workers[0].get_metrics()["tasks_dead_lettered"] == 1


def test_a_whole_workflow_runs_on_a_worker(redis_client: Any, key_prefix: str) -> None:
    wf = fan_out_workflow("whole")
    with run_workers(redis_client, key_prefix, count=2, max_concurrent_tasks=4):
        assert submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix, timeout=60) == 60
        handle = submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix, wait=False)
        assert handle.result(timeout=60) == 60
        assert handle.done()
        assert handle.channel().get_result("b") == 20


def test_a_failing_whole_workflow_raises_the_workers_error(redis_client: Any, key_prefix: str) -> None:
    with workflow("fails") as wf:

        @task
        def boom() -> None:
            raise KeyError("no such record")

    with run_workers(redis_client, key_prefix), pytest.raises(GraflowRuntimeError) as info:
        submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix, timeout=60)
    assert "no such record" in str(info.value)


def test_handlers_registered_on_the_workflow_reach_the_workers(redis_client: Any, key_prefix: str) -> None:
    from graflow.core.handler import TaskHandler

    class Doubling(TaskHandler):
        def execute_task(self, task: Any, context: Any) -> Any:
            value = task.run() * 2
            context.set_result(task.task_id, value)
            return value

    with workflow("handlers") as wf:

        @task(handler="doubling")
        def seven() -> int:
            return 7

        wf.register_handler("doubling", Doubling())

    with run_workers(redis_client, key_prefix):
        assert submit_workflow(wf, redis_client=redis_client, key_prefix=key_prefix, timeout=60) == 14


def test_record_ids_of_barriers_are_unique_per_group_execution(redis_client: Any, key_prefix: str) -> None:
    # a group executed twice in one run (a cycle) must not see the first execution's completions
    wf = fan_out_workflow(f"twice-{uuid.uuid4().hex[:4]}")
    with run_workers(redis_client, key_prefix):
        first, _ = run(wf, redis_client, key_prefix)
        second, _ = run(wf, redis_client, key_prefix)
    assert first == second == 60
    assert not list(redis_client.scan_iter(f"{key_prefix}:completions:*"))  # barriers clean up after themselves
