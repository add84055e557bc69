"""TaskWorker and its command line: construction, metrics, flags, the transport rule, and SIGTERM draining."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from graflow import task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.distributed.barrier import GroupBarrier
from graflow.distributed.queue import DistributedTaskQueue
from graflow.distributed.records import SerializedTaskRecord
from graflow.queue.local import LocalTaskQueue
from graflow.testing.contracts.queue import make_context
from graflow.worker.inprocess import run_workers, spawn_worker
from graflow.worker.main import build_parser
from graflow.worker.worker import TaskWorker

pytestmark = pytest.mark.integration

UPSTREAM_METRIC_KEYS = {
    "worker_id",
    "is_running",
    "is_stopping",
    "active_tasks",
    "max_concurrent_tasks",
    "tasks_processed",
    "tasks_succeeded",
    "tasks_failed",
    "tasks_timeout",
    "total_execution_time",
    "average_execution_time",
    "success_rate",
    "runtime",
}


def test_a_worker_needs_a_distributed_queue() -> None:
    with pytest.raises(ValueError, match="DistributedTaskQueue"):
        TaskWorker(LocalTaskQueue(make_context()), "w1")  # type: ignore[arg-type]


def test_metrics_keep_upstream_keys_and_count_tasks(redis_client: Any, key_prefix: str) -> None:
    with workflow("metrics") as wf:

        @task
        def ok() -> int:
            return 1

        @task
        def bad() -> None:
            raise RuntimeError("nope")

        (ok | bad).with_execution(backend=CoordinationBackend.REDIS, policy="best_effort")

    from graflow.core.context import ExecutionContext

    with run_workers(redis_client, key_prefix) as (worker,):
        ctx = ExecutionContext.create(
            wf.graph, channel_backend="redis", config={"redis_client": redis_client, "key_prefix": key_prefix}
        )
        ctx.execute()
        metrics = worker.get_metrics()
    assert set(metrics) >= UPSTREAM_METRIC_KEYS
    assert metrics["is_running"] is True
    assert (metrics["tasks_processed"], metrics["tasks_succeeded"], metrics["tasks_failed"]) == (2, 1, 1)
    assert metrics["success_rate"] == 0.5
    assert worker.get_metrics()["is_running"] is False


def test_the_command_line_has_every_upstream_flag_and_the_new_ones() -> None:
    parser = build_parser()
    flags = {opt for action in parser._actions for opt in action.option_strings}
    upstream = {
        "--worker-id",
        "--max-concurrent-tasks",
        "--poll-interval",
        "--redis-host",
        "--redis-port",
        "--redis-db",
        "--redis-key-prefix",
        "--log-level",
    }
    new = {"--redis-url", "--lease-timeout", "--max-deliveries", "--concurrency", "--metrics-port", "--tracer"}
    assert upstream | new | {"--prefetch"} <= flags
    args = parser.parse_args(["--concurrency", "7", "--lease-timeout", "2.5", "--max-deliveries", "9"])
    assert (args.max_concurrent_tasks, args.lease_timeout, args.max_deliveries) == (7, 2.5, 9)
    assert args.prefetch is None and parser.parse_args(["--prefetch", "0"]).prefetch == 0


def test_flags_fall_back_to_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_ID", "from-env")
    monkeypatch.setenv("MAX_CONCURRENT_TASKS", "3")
    monkeypatch.setenv("REDIS_KEY_PREFIX", "envprefix")
    args = build_parser().parse_args([])
    assert (args.worker_id, args.max_concurrent_tasks, args.redis_key_prefix) == ("from-env", 3, "envprefix")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    child_env = {k: v for k, v in os.environ.items() if k not in ("GRAFLOW_SECRET_KEY", "GRAFLOW_INSECURE")}
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    child_env.update(env or {})
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, env=child_env)


def test_a_worker_refuses_a_remote_redis_without_a_secret() -> None:
    proc = run_cli("-m", "graflow.worker.main", "--redis-url", "redis://10.255.255.1:6379/0")
    assert proc.returncode == 2
    assert "GRAFLOW_SECRET_KEY" in proc.stderr


def test_a_worker_exits_1_when_redis_does_not_answer(free_port: int) -> None:
    proc = run_cli("-m", "graflow.worker.main", "--redis-port", str(free_port), "--redis-host", "127.0.0.1")
    assert proc.returncode == 1
    assert "cannot reach Redis" in proc.stderr


def test_the_graflow_worker_command_uses_the_same_flags() -> None:
    proc = run_cli("-m", "graflow.cli.main", "worker", "--help")
    assert proc.returncode == 0
    for flag in ("--lease-timeout", "--max-deliveries", "--concurrency", "--redis-url", "--metrics-port"):
        assert flag in proc.stdout


def slow_group(name: str, redis_url: str, marker: str, seconds: float, members: int) -> Any:
    """A group whose members announce their start on the list ``marker`` and then work for ``seconds``."""
    with workflow(name) as wf:

        def member(member_id: str) -> Any:
            @task(id=member_id)
            def work() -> str:
                import redis as redis_module

                client = redis_module.Redis.from_url(redis_url)
                client.rpush(marker, member_id)
                client.incr(f"{marker}:runs:{member_id}")
                time.sleep(seconds)  # the work itself
                return member_id

            return work

        group = member("m0")
        for i in range(1, members):
            group = group | member(f"m{i}")
        group.with_execution(backend=CoordinationBackend.REDIS)
    return wf


def dispatch(wf: Any, client: Any, prefix: str, member_ids: list[str]) -> GroupBarrier:
    """Put a group's members on the queue the way the coordinator does, without waiting for them."""
    queue = DistributedTaskQueue(client, key_prefix=prefix)
    graph_hash = queue.graph_store.save(wf.graph)
    barrier = GroupBarrier(client, prefix, f"drain-{time.time_ns()}")
    barrier.arm(len(member_ids))
    queue.stream.enqueue_many(
        [
            SerializedTaskRecord(
                task_id=m,
                session_id="drain",
                graph_hash=graph_hash,
                trace_id="drain",
                created_at=time.time(),
                group_id=barrier.barrier_id,
            )
            for m in member_ids
        ]
    )
    return barrier


def test_sigterm_finishes_the_running_task_and_leaves_the_rest_for_redelivery(
    redis_client: Any, redis_url: str, key_prefix: str
) -> None:
    marker = f"{key_prefix}:started"
    wf = slow_group("drain", redis_url, marker, seconds=1.0, members=3)
    barrier = dispatch(wf, redis_client, key_prefix, ["m0", "m1", "m2"])
    # given a worker with one slot, busy with the first member
    proc = spawn_worker(redis_url, key_prefix, extra_args=["--concurrency", "1", "--graceful-shutdown-timeout", "30"])
    try:
        first = redis_client.blpop([marker], timeout=30)
        assert first is not None
        # when it is asked to stop
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    # then the running member completed, and the others are still owed, not lost
    started = first[1].decode()
    assert set(barrier.completions()) == {started}
    queue = DistributedTaskQueue(redis_client, key_prefix=key_prefix)
    assert queue.stats()["waiting"] + queue.stats()["running"] == 2
    # and another worker finishes them, each counted once
    with run_workers(redis_client, key_prefix):
        done = barrier.wait(["m0", "m1", "m2"], timeout=60)
    assert all(c["success"] for c in done.values())
    assert queue.stats() == {"waiting": 0, "running": 0, "dead": 0, "delayed": 0}


def test_a_second_signal_forces_the_worker_down_while_a_task_still_runs(
    redis_client: Any, redis_url: str, key_prefix: str
) -> None:
    marker = f"{key_prefix}:started"
    wf = slow_group("force", redis_url, marker, seconds=60.0, members=2)
    dispatch(wf, redis_client, key_prefix, ["m0"])
    proc = spawn_worker(redis_url, key_prefix, extra_args=["--graceful-shutdown-timeout", "120"],
                        stderr=subprocess.PIPE, text=True)
    try:
        assert redis_client.blpop([marker], timeout=30) is not None  # the task runs
        # when the worker is asked to stop (and has said so: two signals sent at once arrive as one) ...
        proc.send_signal(signal.SIGTERM)
        assert proc.stderr is not None
        for line in proc.stderr:
            if "Received SIGTERM" in line:
                break
        # ... and then asked again
        proc.send_signal(signal.SIGTERM)
        # then it does not wait out the 60 s task: it exits at once, with the signal's code
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    # and the task is still owed (redelivered after its lease), not lost
    assert DistributedTaskQueue(redis_client, key_prefix=key_prefix).stats()["running"] == 1


def test_metrics_port_serves_health_while_the_worker_runs(redis_url: str, key_prefix: str, free_port: int) -> None:
    """Also: a SIGTERM as soon as /readyz answers stops the worker cleanly (its handler is in place before the
    health port listens)."""
    import json
    import urllib.request

    pytest.importorskip("graflow.observability.server")
    proc = spawn_worker(redis_url, key_prefix, extra_args=["--metrics-port", str(free_port)])
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the server to listen (the child imports first), bounded by a deadline
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/readyz", timeout=2) as response:
                    body = json.loads(response.read())
                    status = response.status
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert status == 200
        assert "redis" in json.dumps(body)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_worker_holds_beyond_its_slots_only_what_it_finishes_within_the_prefetch_window() -> None:
    from graflow.worker.worker import PREFETCH_WINDOW_SECONDS, tasks_to_hold

    assert tasks_to_hold(4, 64, None) == 4  # pace unknown: one task per slot
    assert tasks_to_hold(4, 64, PREFETCH_WINDOW_SECONDS * 2) == 4  # slow tasks: never more than the slots
    assert tasks_to_hold(4, 64, PREFETCH_WINDOW_SECONDS / 10) == 14  # ten fit in the window
    assert tasks_to_hold(4, 64, 1e-9) == 68  # trivial tasks: up to the prefetch ceiling
    assert tasks_to_hold(4, 0, 1e-9) == 4  # prefetch off


def test_a_busy_worker_with_slow_tasks_leaves_the_rest_to_an_idle_one(
    redis_client: Any, redis_url: str, key_prefix: str
) -> None:
    marker = f"{key_prefix}:started"
    wf = slow_group("fair", redis_url, marker, seconds=0.5, members=4)
    barrier = dispatch(wf, redis_client, key_prefix, ["m0", "m1", "m2", "m3"])
    # given a one-slot worker busy with the first member
    with run_workers(redis_client, key_prefix, max_concurrent_tasks=1) as (busy,):
        assert redis_client.blpop([marker], timeout=30) is not None
        # when a second worker joins
        with run_workers(redis_client, key_prefix, max_concurrent_tasks=1) as (joining,):
            barrier.wait(["m0", "m1", "m2", "m3"], timeout=60)
            # then the first never held the others back: the newcomer ran some of them
            assert joining.get_metrics()["tasks_succeeded"] >= 1
    assert busy.get_metrics()["tasks_succeeded"] + joining.get_metrics()["tasks_succeeded"] == 4


def test_stop_hands_back_fetched_tasks_that_did_not_start(redis_client: Any, redis_url: str, key_prefix: str) -> None:
    wf = slow_group("handback", redis_url, f"{key_prefix}:started", seconds=0, members=3)
    barrier = dispatch(wf, redis_client, key_prefix, ["m0", "m1", "m2"])
    queue = DistributedTaskQueue(redis_client, key_prefix=key_prefix, lease_timeout=30)
    # given a worker holding fetched tasks that no runner has started yet
    worker = TaskWorker(queue, "holder")
    worker.is_running = True  # its threads are not started: nothing runs what it holds
    worker._dispatch(queue.stream.consume(worker.consumer, count=10, block=1))
    assert worker.get_metrics()["tasks_held"] == 3
    # when it stops
    worker.stop(timeout=5)
    # then the tasks are handed back for prompt redelivery (not after the 30 s lease) and another worker runs them
    assert worker.get_metrics()["tasks_held"] == 0
    with run_workers(redis_client, key_prefix, lease_timeout=30):
        done = barrier.wait(["m0", "m1", "m2"], timeout=20)
    assert len(done) == 3


def test_one_unwritable_completion_does_not_sink_the_tasks_finished_with_it(redis_client: Any, key_prefix: str) -> None:
    from graflow.distributed.barrier import completion_json, completion_keys
    from graflow.distributed.streams import Finish
    from graflow.worker.runner import Ran, TaskRunner

    queue = DistributedTaskQueue(redis_client, key_prefix=key_prefix)
    good = GroupBarrier(redis_client, key_prefix, "good")
    good.arm(1)
    redis_client.set(completion_keys(key_prefix, "bad")[0], "not a hash")  # the bad barrier cannot take completions
    queue.stream.enqueue_many(
        [
            SerializedTaskRecord(
                task_id=t, session_id="s", graph_hash="0" * 64, trace_id=None, created_at=0, group_id=g
            )
            for t, g in (("a", "bad"), ("b", "good"))
        ]
    )
    runner = TaskRunner(queue, "w", {"type": "noop"}, None, None, lambda: True)
    runner.consumer = "w"
    deliveries = queue.stream.consume("w", count=10, block=1)
    finishes = [
        Finish(
            d.entry_id,
            d.task_id,
            completion_keys(key_prefix, d.record.group_id or ""),
            completion_json(d.task_id, True, None),
        )
        for d in deliveries
    ]
    items = [Ran(d, f, True, 0.0) for d, f in zip(deliveries, finishes, strict=True)]
    # when both are written in one batch
    outcomes = runner.commit(items)
    # then the good one is finished and the bad one stays pending for redelivery
    assert [o.status for o in outcomes] == ["abandoned", "succeeded"]
    assert good.wait(["b"], timeout=5)["b"]["success"]
    assert [row["task_id"] for row in queue.stream.running()] == ["a"]
