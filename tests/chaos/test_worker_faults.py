"""Faults around workers: kill -9 mid-task, tasks outliving their lease, poison tasks, forged entries.

Each test shows one promise of D19/D20: the task is not lost, not counted twice, not run twice when its worker is
alive, and a task that cannot be run ends in the dead-letter stream with its reason while the others complete.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from graflow import task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.context import ExecutionContext
from graflow.distributed.barrier import GroupBarrier
from graflow.distributed.queue import DistributedTaskQueue
from graflow.distributed.records import SerializedTaskRecord
from graflow.exceptions import WorkerShutdown
from graflow.worker.inprocess import run_workers, spawn_worker

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def group_of(name: str, bodies: dict[str, Any], policy: str = "strict") -> Any:
    with workflow(name) as wf:
        members = [task(id=member_id)(body) for member_id, body in bodies.items()]
        if len(members) > 1:  # a one-member "group" is just its task; tests dispatch it themselves
            group = members[0]
            for member in members[1:]:
                group = group | member
            group.with_execution(backend=CoordinationBackend.REDIS, policy=policy)
    return wf


def dispatch(wf: Any, client: Any, prefix: str, member_ids: list[str], session: str = "chaos") -> GroupBarrier:
    queue = DistributedTaskQueue(client, key_prefix=prefix)
    graph_hash = queue.graph_store.save(wf.graph)
    barrier = GroupBarrier(client, prefix, f"{session}-{time.time_ns()}")
    barrier.arm(len(member_ids))
    queue.stream.enqueue_many(
        [
            SerializedTaskRecord(
                task_id=m,
                session_id=session,
                graph_hash=graph_hash,
                trace_id=session,
                created_at=time.time(),
                group_id=barrier.barrier_id,
            )
            for m in member_ids
        ]
    )
    return barrier


def announcing(redis_url: str, marker: str, member_id: str, seconds: float) -> Any:
    def body() -> str:
        import redis as redis_module

        client = redis_module.Redis.from_url(redis_url)
        client.incr(f"{marker}:runs:{member_id}")
        client.rpush(marker, member_id)
        time.sleep(seconds)  # the work itself
        return member_id

    return body


def test_a_task_of_a_killed_worker_is_reclaimed_and_counted_once(
    redis_client: Any, redis_url: str, key_prefix: str
) -> None:
    marker = f"{key_prefix}:started"
    members = ["m0", "m1", "m2", "m3"]
    wf = group_of("kill", {m: announcing(redis_url, marker, m, 1.0) for m in members})
    barrier = dispatch(wf, redis_client, key_prefix, members)
    # given a worker process busy with a task
    victim = spawn_worker(redis_url, key_prefix, extra_args=["--concurrency", "1", "--lease-timeout", "1"])
    try:
        first = redis_client.blpop([marker], timeout=30)
        assert first is not None
        # when it is killed without warning
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    killed_member = first[1].decode()
    assert killed_member not in barrier.completions()
    # then a surviving worker reclaims it after the lease and the group completes
    with run_workers(redis_client, key_prefix, count=2, lease_timeout=1.0) as workers:
        done = barrier.wait(members, timeout=60)
    assert set(done) == set(members) and all(c["success"] for c in done.values())
    assert int(redis_client.get(f"{marker}:runs:{killed_member}")) == 2  # ran again: at-least-once
    assert barrier.completed_count() == len(members)  # but counted once
    assert sum(w.get_metrics()["tasks_redelivered"] for w in workers) >= 1
    assert DistributedTaskQueue(redis_client, key_prefix=key_prefix).stats()["running"] == 0


def test_a_task_outliving_its_lease_is_not_run_twice(redis_client: Any, redis_url: str, key_prefix: str) -> None:
    marker = f"{key_prefix}:started"
    wf = group_of("long", {"long": announcing(redis_url, marker, "long", 2.0)})
    barrier = dispatch(wf, redis_client, key_prefix, ["long"])
    # a 2 s task with a 0.5 s lease, and an idle second worker ready to reclaim anything expired
    with run_workers(redis_client, key_prefix, count=2, lease_timeout=0.5) as workers:
        done = barrier.wait(["long"], timeout=60)
    assert done["long"]["success"]
    assert int(redis_client.get(f"{marker}:runs:long")) == 1
    assert sum(w.get_metrics()["tasks_redelivered"] for w in workers) == 0
    assert sum(w.get_metrics()["leases_lost"] for w in workers) == 0


def test_a_poison_task_is_dead_lettered_after_max_deliveries_while_others_complete(
    redis_client: Any, key_prefix: str
) -> None:
    def crashes_its_worker() -> None:
        raise WorkerShutdown()  # as if the process died mid-task: nothing is acknowledged

    bodies: dict[str, Any] = {f"ok{i}": (lambda i=i: i) for i in range(5)}
    bodies["poison"] = crashes_its_worker
    wf = group_of("poison", bodies, policy="best_effort")
    with run_workers(redis_client, key_prefix, count=2, lease_timeout=0.3, max_deliveries=3):
        ctx = ExecutionContext.create(
            wf.graph, channel_backend="redis", config={"redis_client": redis_client, "key_prefix": key_prefix}
        )
        result = ctx.execute()
    group_result = result if isinstance(result, dict) else {}
    assert {k: group_result.get(k) for k in bodies if k != "poison"} == {f"ok{i}": i for i in range(5)}
    queue = DistributedTaskQueue(redis_client, key_prefix=key_prefix)
    (dead,) = queue.stream.dead_letters()
    assert (dead["task_id"], dead["reason"], dead["deliveries"]) == ("poison", "max_deliveries", 3)
    assert queue.stats()["running"] == 0 and queue.stats()["waiting"] == 0


def test_a_strict_group_with_a_poison_member_fails_naming_the_reason(redis_client: Any, key_prefix: str) -> None:
    from graflow.exceptions import GraflowRuntimeError, ParallelGroupError

    def crashes_its_worker() -> None:
        raise WorkerShutdown()

    wf = group_of("poison-strict", {"fine": lambda: 1, "poison": crashes_its_worker})
    with (
        run_workers(redis_client, key_prefix, lease_timeout=0.3, max_deliveries=2),
        pytest.raises(GraflowRuntimeError) as info,
    ):
        ExecutionContext.create(
            wf.graph, channel_backend="redis", config={"redis_client": redis_client, "key_prefix": key_prefix}
        ).execute()
    error = info.value if isinstance(info.value, ParallelGroupError) else info.value.cause
    assert isinstance(error, ParallelGroupError)
    ((member, message),) = error.failed_tasks
    assert member == "poison"
    assert "dead-lettered (max_deliveries)" in message
    assert error.successful_tasks == ["fine"]


def test_forged_entries_fail_their_group_and_the_worker_keeps_going(redis_client: Any, key_prefix: str) -> None:
    wf = group_of("forged", {"real": lambda: "ok"})
    barrier = dispatch(wf, redis_client, key_prefix, ["real"])
    victim = GroupBarrier(redis_client, key_prefix, "victim-group")
    victim.arm(1)
    queue = DistributedTaskQueue(redis_client, key_prefix=key_prefix)
    for payload in (b"\x80\x04garbage", b"GFS1" + b"\x00" * 10, b"GFS1" + b"\x01" * 32 + b"{}"):
        redis_client.xadd(queue.queue_key, {"t": "intruder", "g": "victim-group", "p": payload})
    with run_workers(redis_client, key_prefix) as (worker,):
        assert barrier.wait(["real"], timeout=30)["real"]["success"]
        failed = victim.wait(["intruder"], timeout=30)["intruder"]
    assert failed["success"] is False and "bad_signature" in failed["error_message"]
    assert [d["reason"] for d in queue.stream.dead_letters()] == ["bad_signature"] * 3
    assert worker.get_metrics()["tasks_succeeded"] == 1
