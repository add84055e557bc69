"""Redis restarted under load: workers and the waiting producer reconnect, nothing is lost, nothing counts twice.

The test runs its own redis-server. It restarts it the way an operator does (``SHUTDOWN SAVE``, then start again
from the snapshot); with AOF (``appendonly yes``) the same holds for a crash. A Redis that loses its data on
restart loses the queue with it: run production Redis with persistence (docs/redis-keys.md).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from graflow import task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.context import ExecutionContext
from graflow.core.hooks import EngineHook
from graflow.worker.inprocess import run_workers

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.slow]

MEMBERS = 300


class Finished(EngineHook):
    """Sets ``event`` once ``target`` tasks finished on the workers of this process."""

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.event = threading.Event()
        self._lock = threading.Lock()

    def on_task_end(self, **_: Any) -> None:
        with self._lock:
            self.count += 1
            if self.count >= self.target:
                self.event.set()


def test_a_redis_restart_under_load_loses_no_task(redis_server_factory: Any) -> None:
    server = redis_server_factory()
    client = server.client()
    prefix = "restart"

    with workflow("restart") as wf:

        def member(i: int) -> Any:
            @task(id=f"m{i}")
            def work() -> int:
                return i * i

            return work

        group = member(0) | member(1)
        for i in range(2, MEMBERS):
            group = group | member(i)
        group.with_execution(backend=CoordinationBackend.REDIS)

    finished = Finished(MEMBERS // 5)
    outcome: dict[str, Any] = {}

    def produce() -> None:
        ctx = ExecutionContext.create(
            wf.graph, channel_backend="redis", config={"redis_client": client, "key_prefix": prefix}
        )
        try:
            outcome["result"] = ctx.execute()
        except BaseException as exc:  # reported by the assertions below
            outcome["error"] = exc

    with run_workers(client, prefix, count=2, lease_timeout=2.0, hooks=[finished], max_concurrent_tasks=2):
        producer = threading.Thread(target=produce)
        producer.start()
        assert finished.event.wait(60), "workers never got going"
        # when Redis goes down mid-run and comes back
        client.shutdown(save=True)
        server.start()
        producer.join(120)
        assert not producer.is_alive(), "the producer never finished"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"] == {f"m{i}": i * i for i in range(MEMBERS)}
    assert finished.count >= MEMBERS
