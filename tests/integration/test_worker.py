"""TaskWorker and its command line: construction, metrics, flags, the transport rule, and SIGTERM draining."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from graflow import task, workflow
from graflow.coordination.barrier import GroupBarrier
from graflow.coordination.coordinator import CoordinationBackend
from graflow.coordination.records import SerializedTaskRecord
from graflow.queue.distributed import DistributedTaskQueue
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
    assert upstream | new <= flags
    args = parser.parse_args(["--concurrency", "7", "--lease-timeout", "2.5", "--max-deliveries", "9"])
    assert (args.max_concurrent_tasks, args.lease_timeout, args.max_deliveries) == (7, 2.5, 9)


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


def test_metrics_port_serves_health_while_the_worker_runs(redis_url: str, key_prefix: str, free_port: int) -> None:
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
