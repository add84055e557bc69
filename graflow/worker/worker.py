"""``TaskWorker``: takes tasks from the Redis stream and runs them with the local engine (spec section 8, D19).

Three threads and a pool:

* the fetch thread blocks on ``XREADGROUP`` for as many tasks as there are free slots (it never polls on a timer),
  and between reads reclaims tasks of dead workers (``XAUTOCLAIM`` semantics) and promotes due delayed retries;
* the lease thread renews the lease of every running task every ``lease_timeout / 3`` seconds, so a long task is
  never handed to a second worker;
* the pool runs up to ``max_concurrent_tasks`` tasks through :class:`~graflow.worker.runner.TaskRunner`.

``stop()`` (SIGTERM in ``python -m graflow.worker.main``) stops taking tasks, lets running ones finish within the
deadline, and hands whatever is still running back for prompt redelivery, unacknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import redis

from graflow import defaults
from graflow.exceptions import ConfigError
from graflow.queue.distributed import DistributedTaskQueue
from graflow.worker.runner import TaskRunner
from graflow.worker.tracing import validate_tracer_config

if TYPE_CHECKING:
    from graflow.queue.streams import Delivery

logger = logging.getLogger(__name__)

#: Longest single blocking read; also the longest a stop request waits for the fetch thread to notice.
FETCH_BLOCK_SECONDS = 1.0
#: Reconnect back-off ceiling after a Redis error.
RECONNECT_BACKOFF_MAX = 2.0


class TaskWorker:
    """A worker process's task loop.

    Args:
        queue: The :class:`DistributedTaskQueue` shared with producers (anything else raises ValueError).
        worker_id: Name shown in metrics, logs, completion records and the consumer group.
        max_concurrent_tasks: Tasks run at once (thread pool size, and the most tasks held at once).
        poll_interval: Kept for compatibility: the first back-off after a Redis error. Fetching blocks on the
            stream instead of polling.
        graceful_shutdown_timeout: Seconds ``stop()`` lets running tasks finish before handing them back.
        tracer_config: ``{"type": "noop"|"console"|"langfuse"|"otel", ...}``; one tracer per task.
        handlers: The worker's own task handlers (merged under the handlers each run publishes, D15).
        hooks: Engine hooks for every task the worker runs (metrics, logging).
        housekeeping_interval: Seconds between reclaim/promotion passes (default: a quarter lease, at most 1 s).
    """

    def __init__(
        self,
        queue: DistributedTaskQueue,
        worker_id: str,
        max_concurrent_tasks: int = defaults.WORKER_MAX_CONCURRENT_TASKS,
        poll_interval: float = defaults.WORKER_POLL_INTERVAL,
        graceful_shutdown_timeout: float = defaults.WORKER_GRACEFUL_SHUTDOWN_TIMEOUT,
        tracer_config: dict[str, Any] | None = None,
        *,
        handlers: dict[str, Any] | None = None,
        hooks: list[Any] | None = None,
        housekeeping_interval: float | None = None,
    ) -> None:
        if not isinstance(queue, DistributedTaskQueue):
            raise ValueError(f"TaskWorker requires a DistributedTaskQueue, got {type(queue).__name__}")
        if max_concurrent_tasks < 1:
            raise ConfigError(f"max_concurrent_tasks must be at least 1, got {max_concurrent_tasks}")
        self.queue = queue
        self.stream = queue.stream
        self.worker_id = worker_id
        self.max_concurrent_tasks = max_concurrent_tasks
        self.poll_interval = max(0.01, float(poll_interval))
        self.graceful_shutdown_timeout = graceful_shutdown_timeout
        self.tracer_config = validate_tracer_config(tracer_config)
        lease = self.stream.lease_timeout
        self.housekeeping_interval = housekeeping_interval or min(1.0, lease / 4)
        # A unique consumer per worker start: a restarted worker must not inherit (and renew) a dead one's tasks.
        self.consumer = f"{worker_id}-{uuid.uuid4().hex[:6]}"
        self._hard_stop = False
        self.runner = TaskRunner(queue, worker_id, self.tracer_config, handlers, hooks, lambda: self._hard_stop)
        self.runner.consumer = self.consumer
        self.stream.dead_letter_listener = self.runner.on_dead_letter

        self.is_running = False
        self.is_stopping = False
        self._stop_fetch = threading.Event()
        self._lease_stop = threading.Event()
        self._cond = threading.Condition()
        self._inflight: dict[str, Delivery] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._threads: list[threading.Thread] = []
        self._metrics_lock = threading.Lock()
        self.start_time = 0.0
        self.tasks_processed = self.tasks_succeeded = self.tasks_failed = self.tasks_timeout = 0
        self.tasks_duplicate = self.tasks_dead_lettered = self.tasks_redelivered = self.leases_lost = 0
        self.total_execution_time = 0.0

    # -- lifecycle -----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the fetch and lease threads and return (use :meth:`wait` to block)."""
        if self.is_running:
            return
        self.stream.ensure_group()
        self.is_running, self.is_stopping, self._hard_stop = True, False, False
        self._stop_fetch.clear()
        self._lease_stop.clear()
        self.start_time = time.time()
        self._pool = ThreadPoolExecutor(self.max_concurrent_tasks, thread_name_prefix=f"graflow-{self.worker_id}")
        self._threads = [
            threading.Thread(target=self._fetch_loop, name=f"graflow-fetch-{self.worker_id}", daemon=True),
            threading.Thread(target=self._lease_loop, name=f"graflow-lease-{self.worker_id}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        logger.info(
            "Worker %s started (consumer %s, %d slots, lease %.1fs, prefix %s)",
            self.worker_id,
            self.consumer,
            self.max_concurrent_tasks,
            self.stream.lease_timeout,
            self.queue.key_prefix,
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker stopped; returns whether it did within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.is_running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking tasks, let running ones finish for up to ``timeout`` seconds (default
        ``graceful_shutdown_timeout``), and hand back the rest for redelivery without acknowledging them."""
        if not self.is_running or self.is_stopping:
            return
        self.is_stopping = True
        self._stop_fetch.set()
        deadline = time.monotonic() + (self.graceful_shutdown_timeout if timeout is None else timeout)
        with self._cond:
            self._cond.notify_all()
            while self._inflight and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            leftover = list(self._inflight)
        self._hard_stop = True
        self._lease_stop.set()
        if leftover:
            logger.warning(
                "Worker %s stopping with %d task(s) still running; releasing them for redelivery",
                self.worker_id,
                len(leftover),
            )
            self._safe(self.stream.release, self.consumer, leftover)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(FETCH_BLOCK_SECONDS * 2)
        self._safe(self._forget_consumer)
        with self._cond:
            self.is_running = False
            self._cond.notify_all()
        logger.info("Worker %s stopped: %s", self.worker_id, self.get_metrics())

    def _forget_consumer(self) -> None:
        # A consumer with nothing pending can go; one that still owns entries stays so they can be reclaimed.
        for info in self.stream.redis.xinfo_consumers(self.stream.stream_key, self.stream.group):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name == self.consumer and int(info["pending"]) == 0:
                self.stream.redis.xgroup_delconsumer(self.stream.stream_key, self.stream.group, self.consumer)

    @staticmethod
    def _safe(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            logger.warning("Redis error during shutdown (%s)", exc)
            return None

    # -- fetching ------------------------------------------------------------------------------------------------------
    def _free_slots(self) -> int:
        with self._cond:
            while len(self._inflight) >= self.max_concurrent_tasks and not self._stop_fetch.is_set():
                self._cond.wait()  # woken by a finishing task or by stop()
            return self.max_concurrent_tasks - len(self._inflight)

    def _fetch_loop(self) -> None:
        backoff = self.poll_interval
        next_housekeeping = 0.0
        next_due: float | None = None
        while not self._stop_fetch.is_set():
            free = self._free_slots()
            if self._stop_fetch.is_set():
                break
            try:
                now = time.monotonic()
                if now >= next_housekeeping:
                    next_housekeeping = now + self.housekeeping_interval
                    reclaimed = self.stream.reclaim(self.consumer, count=free)
                    with self._metrics_lock:
                        self.tasks_redelivered += len(reclaimed)
                    self._dispatch(reclaimed)
                    next_due = self.stream.promote_due()
                    free = self.max_concurrent_tasks - len(self._inflight)
                    if free <= 0:
                        continue
                elif next_due is not None and next_due <= time.time():
                    next_due = self.stream.promote_due()
                block = min(FETCH_BLOCK_SECONDS, max(0.0, next_housekeeping - time.monotonic()))
                if next_due is not None:
                    block = min(block, max(0.0, next_due - time.time()))
                self._dispatch(self.stream.consume(self.consumer, count=free, block=max(block, 0.001)))
                backoff = self.poll_interval
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                logger.warning("Worker %s lost Redis (%s); reconnecting in %.2fs", self.worker_id, exc, backoff)
                self._stop_fetch.wait(backoff)
                backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX)
            except Exception:  # keep the worker alive: one bad pass must not stop it taking tasks
                logger.exception("Worker %s fetch pass failed", self.worker_id)
                self._stop_fetch.wait(backoff)
                backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX)

    def _dispatch(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        if self._stop_fetch.is_set() or self._pool is None:
            self._safe(self.stream.release, self.consumer, [d.entry_id for d in deliveries])
            return
        with self._cond:
            for delivery in deliveries:
                self._inflight[delivery.entry_id] = delivery
        for delivery in deliveries:
            self._pool.submit(self._run, delivery)

    def _run(self, delivery: Delivery) -> None:
        try:
            outcome = self.runner.run(delivery)
        except Exception:  # noqa: BLE001 - the entry stays pending and is redelivered after its lease
            logger.exception("Worker %s could not process task %s", self.worker_id, delivery.task_id)
            outcome = None
        finally:
            with self._cond:
                self._inflight.pop(delivery.entry_id, None)
                self._cond.notify_all()
        if outcome is not None:
            self._count(outcome.status, outcome.duration)

    def _count(self, status: str, duration: float) -> None:
        with self._metrics_lock:
            if status in ("succeeded", "failed"):
                self.tasks_processed += 1
                self.total_execution_time += duration
                if status == "succeeded":
                    self.tasks_succeeded += 1
                else:
                    self.tasks_failed += 1
            elif status == "duplicate":
                self.tasks_duplicate += 1
            elif status == "dead_lettered":
                self.tasks_dead_lettered += 1

    # -- leases --------------------------------------------------------------------------------------------------------
    def _lease_loop(self) -> None:
        interval = self.stream.lease_timeout / 3
        # Runs until the hard stop: tasks still finishing during a graceful stop keep their leases.
        while not self._lease_stop.wait(interval):
            with self._cond:
                ids = list(self._inflight)
            if not ids:
                continue
            try:
                lost = self.stream.renew(self.consumer, ids)
            except redis.RedisError as exc:
                logger.warning("Worker %s could not renew %d lease(s): %s", self.worker_id, len(ids), exc)
                continue
            if lost:
                with self._metrics_lock:
                    self.leases_lost += len(lost)
                logger.warning(
                    "Worker %s lost the lease of %d task(s) (reclaimed elsewhere)", self.worker_id, len(lost)
                )

    # -- metrics -------------------------------------------------------------------------------------------------------
    def get_metrics(self) -> dict[str, Any]:
        """Upstream's metric keys, plus ``tasks_duplicate``, ``tasks_dead_lettered``, ``tasks_redelivered``,
        ``leases_lost`` and ``consumer``."""
        with self._metrics_lock:
            processed = self.tasks_processed
            return {
                "worker_id": self.worker_id,
                "is_running": self.is_running,
                "is_stopping": self.is_stopping,
                "active_tasks": len(self._inflight),
                "max_concurrent_tasks": self.max_concurrent_tasks,
                "tasks_processed": processed,
                "tasks_succeeded": self.tasks_succeeded,
                "tasks_failed": self.tasks_failed,
                "tasks_timeout": self.tasks_timeout,
                "total_execution_time": self.total_execution_time,
                "average_execution_time": self.total_execution_time / processed if processed else 0.0,
                "success_rate": self.tasks_succeeded / processed if processed else 0.0,
                "runtime": time.time() - self.start_time if self.start_time else 0.0,
                "tasks_duplicate": self.tasks_duplicate,
                "tasks_dead_lettered": self.tasks_dead_lettered,
                "tasks_redelivered": self.tasks_redelivered,
                "leases_lost": self.leases_lost,
                "consumer": self.consumer,
            }


__all__ = ["FETCH_BLOCK_SECONDS", "TaskWorker"]
