"""``DistributedTaskQueue``: upstream's Redis queue API on the Redis Streams queue (D19).

The constructor and methods keep upstream's names (``enqueue(task_spec)``, ``dequeue()``, ``size()``,
``notify_task_completion(...)``, ``cleanup()``). Underneath, every task is a signed ``SerializedTaskRecord`` in the
stream of :class:`~graflow.distributed.streams.RedisStreamQueue`; a dequeued task stays pending, owned by this queue's
consumer, until :meth:`notify_task_completion` (or :meth:`ack`) acknowledges it. Workers use :attr:`stream`
directly for batched reads, lease renewal and reclaiming.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from graflow import defaults
from graflow.core.hooks import EngineHook, HookSet
from graflow.distributed.graph_store import GraphStore
from graflow.distributed.records import SerializedTaskRecord
from graflow.distributed.streams import Delivery, RedisStreamQueue, default_signer
from graflow.queue.base import TaskQueue, TaskSpec, TaskStatus
from graflow.utils.redis_utils import create_redis_client


def default_consumer_name() -> str:
    """A consumer name unique to this process: ``<host>-<pid>-<random>``."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class DistributedTaskQueue(TaskQueue):
    """The Redis task queue shared by producers and workers.

    Args:
        redis_client: A redis-py client; when None one is made from ``host``/``port``/``db`` on the shared pool.
        host: Redis host used when no client is given.
        port: Redis port used when no client is given.
        db: Redis database used when no client is given.
        key_prefix: Prefix of every key; producers and workers must use the same one.
        graph_store: Where graphs are stored by content hash; default ``GraphStore(redis_client, key_prefix)``.
        signer: Signs records (default: ``GRAFLOW_SECRET_KEY``, else unsigned on loopback only).
        lease_timeout: Seconds before an unrenewed delivery is reclaimed by another worker.
        max_deliveries: Deliveries before a task is dead-lettered.
        hooks: Receivers of queue events (metrics).
        consumer: This queue's consumer name in the group (default: host, pid and a random suffix).

    Raises:
        ConfigError: Unsigned payloads on a non-loopback Redis without ``GRAFLOW_INSECURE`` (D20).
    """

    def __init__(
        self,
        redis_client: Any = None,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        key_prefix: str = defaults.REDIS_KEY_PREFIX,
        graph_store: GraphStore | None = None,
        *,
        signer: Any = None,
        lease_timeout: float | None = None,
        max_deliveries: int | None = None,
        hooks: HookSet | Iterable[EngineHook] | None = None,
        consumer: str | None = None,
    ) -> None:
        if redis_client is None:
            redis_client = create_redis_client({"host": host, "port": port, "db": db})
        self.redis_client = redis_client
        self.key_prefix = key_prefix
        self.signer = signer if signer is not None else default_signer()
        self.stream = RedisStreamQueue(
            redis_client,
            key_prefix,
            signer=self.signer,
            lease_timeout=lease_timeout if lease_timeout is not None else defaults.LEASE_TIMEOUT_SECONDS,
            max_deliveries=max_deliveries if max_deliveries is not None else defaults.MAX_DELIVERIES,
            hooks=hooks,
        )
        self.graph_store = graph_store or GraphStore(redis_client, key_prefix, signer=self.signer)
        self.consumer = consumer or default_consumer_name()
        self.queue_key = self.stream.stream_key
        self._inflight: dict[str, Delivery] = {}
        self._lock = threading.Lock()

    # Producer -------------------------------------------------------------------------------------------------------
    def make_record(self, task_spec: TaskSpec) -> SerializedTaskRecord:
        """The record of ``task_spec``; stores the context's graph first when it has no hash yet."""
        ctx = task_spec.execution_context
        graph_hash = getattr(ctx, "graph_hash", None)
        if graph_hash is None:
            graph_hash = self.graph_store.save(ctx.graph)
            ctx.graph_hash = graph_hash
        return SerializedTaskRecord(
            task_id=task_spec.task_id,
            session_id=ctx.session_id,
            graph_hash=graph_hash,
            trace_id=task_spec.trace_id or getattr(ctx, "trace_id", None) or ctx.session_id,
            created_at=task_spec.created_at,
            group_id=task_spec.group_id,
            parent_span_id=task_spec.parent_span_id,
            attempt=task_spec.retry_count,
            workflow_name=getattr(ctx, "workflow_name", None),
        )

    def enqueue(self, task_spec: TaskSpec) -> bool:
        """Put ``task_spec`` on the stream as a signed record; returns True."""
        self.stream.enqueue(self.make_record(task_spec))
        return True

    def enqueue_record(self, record: SerializedTaskRecord, *, delay: float | None = None) -> str:
        """Put a ready-made record on the stream (or in the delayed set); returns its entry id."""
        return self.stream.enqueue(record, delay=delay)

    # Consumer -------------------------------------------------------------------------------------------------------
    def dequeue(self) -> TaskSpec | None:
        """Take the next task without blocking, as a ``TaskSpec`` whose context is rebuilt from its record.

        The task stays pending (owned by :attr:`consumer`) until :meth:`notify_task_completion` or :meth:`ack`.
        A record whose graph cannot be loaded is dead-lettered with reason ``graph_missing`` and skipped.
        """
        return self._take(None)

    def wait_for_task(self, timeout: float) -> TaskSpec | None:
        """Like :meth:`dequeue`, but block on the stream up to ``timeout`` seconds for a task to arrive."""
        return self._take(timeout)

    def _take(self, block: float | None) -> TaskSpec | None:
        from graflow.distributed.context_factory import ExecutionContextFactory
        from graflow.distributed.graph_store import GraphNotFoundError

        self.stream.promote_due()
        deadline = None if block is None else time.monotonic() + block
        while True:
            wait = None if deadline is None else max(0.001, deadline - time.monotonic())
            deliveries = self.stream.consume(self.consumer, count=1, block=wait)
            if not deliveries:
                return None
            delivery = deliveries[0]
            record = delivery.record
            try:
                context, task = ExecutionContextFactory.create_from_record(record, self.graph_store)
            except GraphNotFoundError as exc:
                self.stream.dead_letter(
                    delivery.entry_id,
                    "graph_missing",
                    detail=str(exc),
                    consumer=self.consumer,
                    deliveries=delivery.deliveries,
                )
                continue
            with self._lock:
                self._inflight[record.task_id] = delivery
            return TaskSpec(
                executable=task,
                execution_context=context,
                status=TaskStatus.RUNNING,
                created_at=record.created_at,
                retry_count=record.attempt,
                group_id=record.group_id,
                trace_id=record.trace_id,
                parent_span_id=record.parent_span_id,
            )

    def ack(self, task_id: str) -> bool:
        """Acknowledge the dequeued task ``task_id``; returns whether it was still pending here."""
        with self._lock:
            delivery = self._inflight.pop(task_id, None)
        return delivery is not None and self.stream.ack([delivery.entry_id]) > 0

    def notify_task_completion(
        self, task_id: str, success: bool, group_id: str | None = None, error_message: str | None = None
    ) -> None:
        """Record the completion in the group's barrier (idempotent) and acknowledge the task, atomically."""
        from graflow.distributed.barrier import record_completion

        with self._lock:
            delivery = self._inflight.pop(task_id, None)
        if group_id:
            ack = (self.stream.stream_key, self.stream.group, delivery.entry_id) if delivery else None
            record_completion(self.redis_client, self.key_prefix, group_id, task_id, success, error_message, ack=ack)
        elif delivery is not None:
            self.stream.ack([delivery.entry_id])

    # Inspection -----------------------------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        """Whether no task waits (delivered but unacknowledged tasks do not count)."""
        return self.size() == 0

    def size(self) -> int:
        """Number of tasks waiting to be delivered."""
        return self.stream.counts()["waiting"]

    def peek_next_node(self) -> str | None:
        """Id of the next waiting task, if any."""
        head = self.stream.waiting(limit=1)
        return head[0]["task_id"] if head else None

    def stats(self) -> dict[str, int]:
        """``waiting``, ``running``, ``dead`` and ``delayed`` counts."""
        return self.stream.counts()

    def clear(self) -> None:
        """Drop every waiting and running task of this prefix (dead letters and delayed tasks too)."""
        self.stream.purge()
        with self._lock:
            self._inflight.clear()

    def cleanup(self) -> None:
        """Remove this prefix's queue keys (upstream name of :meth:`clear`)."""
        self.clear()


__all__ = ["DistributedTaskQueue", "default_consumer_name"]
