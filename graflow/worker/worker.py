"""``TaskWorker``: takes tasks from the Redis stream and runs them with the local engine (spec section 8, D19).

Threads:

* the fetch thread blocks on ``XREADGROUP`` for a batch of tasks (it never polls on a timer), and between reads
  reclaims tasks of dead workers (``XAUTOCLAIM`` semantics) and promotes due delayed retries;
* ``max_concurrent_tasks`` runner threads take fetched tasks and run them through
  :class:`~graflow.worker.runner.TaskRunner`;
* the lease thread renews the lease of every task the worker holds every ``lease_timeout / 3`` seconds, in one
  call, so a long task is never handed to a second worker.

Finished tasks are written by group commit: the runner that finishes a task while no write is under way writes it
at once (no added latency); tasks finishing meanwhile are written together by the next call, results, completions
and acknowledgements of all of them in one round trip.

Prefetch adapts to the tasks: the worker holds, beyond the running tasks, only as many as it would finish within
``PREFETCH_WINDOW_SECONDS`` at its measured pace (at most ``prefetch``). Short tasks come in batches; long tasks are
fetched one per free slot, so an idle worker is never starved by a busy one holding queued work.

``stop()`` (SIGTERM in ``python -m graflow.worker.main``) stops taking tasks, hands back those not started, lets
running ones finish within the deadline, and hands whatever is still running back for prompt redelivery,
unacknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

import redis

from graflow import defaults
from graflow.distributed.queue import DistributedTaskQueue
from graflow.exceptions import ConfigError
from graflow.worker.runner import Outcome, Ran, TaskRunner
from graflow.worker.tracing import validate_tracer_config

if TYPE_CHECKING:
    from graflow.distributed.streams import Delivery

logger = logging.getLogger(__name__)

#: Longest single blocking read; also the longest a stop request waits for the fetch thread to notice.
FETCH_BLOCK_SECONDS = 1.0
#: Reconnect back-off ceiling after a Redis error.
RECONNECT_BACKOFF_MAX = 2.0
#: Default ceiling of tasks held beyond the running ones, per run slot.
PREFETCH_PER_SLOT = 16
#: A worker holds (beyond its running tasks) only the tasks it would finish within this many seconds.
PREFETCH_WINDOW_SECONDS = 0.05
#: Weight of the newest task in the moving average of the time a task takes.
PACE_SMOOTHING = 0.1


def tasks_to_hold(slots: int, prefetch: int, pace: float | None) -> int:
    """How many tasks a worker holds: its run ``slots``, plus what it finishes within ``PREFETCH_WINDOW_SECONDS``
    at ``pace`` seconds per task (at most ``prefetch``; none while the pace is unknown)."""
    if pace is None or prefetch <= 0:
        return slots
    return slots + min(prefetch, int(PREFETCH_WINDOW_SECONDS / max(pace, 1e-6)))


class TaskWorker:
    """A worker process's task loop.

    Args:
        queue: The :class:`DistributedTaskQueue` shared with producers (anything else raises ValueError).
        worker_id: Name shown in metrics, logs, completion records and the consumer group.
        max_concurrent_tasks: Tasks run at once (runner threads).
        poll_interval: Kept for compatibility: the first back-off after a Redis error. Fetching blocks on the
            stream instead of polling.
        graceful_shutdown_timeout: Seconds ``stop()`` lets running tasks finish before handing them back.
        tracer_config: ``{"type": "noop"|"console"|"langfuse"|"otel", ...}``; one tracer per task.
        handlers: The worker's own task handlers (merged under the handlers each run publishes, D15).
        hooks: Engine hooks for every task the worker runs (metrics, logging).
        housekeeping_interval: Seconds between reclaim/promotion passes (default: a quarter lease, at most 1 s).
        prefetch: Most tasks held beyond the running ones (default ``PREFETCH_PER_SLOT * max_concurrent_tasks``;
            0 fetches a task only for a free slot). Within it, the worker holds only what it finishes within
            ``PREFETCH_WINDOW_SECONDS``.
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
        prefetch: int | None = None,
    ) -> None:
        if not isinstance(queue, DistributedTaskQueue):
            raise ValueError(f"TaskWorker requires a DistributedTaskQueue, got {type(queue).__name__}")
        if max_concurrent_tasks < 1:
            raise ConfigError(f"max_concurrent_tasks must be at least 1, got {max_concurrent_tasks}")
        if prefetch is not None and prefetch < 0:
            raise ConfigError(f"prefetch must be 0 or more, got {prefetch}")
        self.queue = queue
        self.stream = queue.stream
        self.worker_id = worker_id
        self.max_concurrent_tasks = max_concurrent_tasks
        self.prefetch = PREFETCH_PER_SLOT * max_concurrent_tasks if prefetch is None else prefetch
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
        self._lifecycle = threading.Lock()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # space freed / state changed: fetcher, stop() and wait()
        self._work = threading.Condition(self._lock)  # a task was queued: runner threads
        self._queued: deque[Delivery] = deque()  # fetched, not started
        self._inflight: dict[str, Delivery] = {}  # every entry held: queued, running, being written
        self._busy = 0  # runner threads running or writing a task
        self._fetch_waiting = False  # the fetch thread waits for a fetch to become due (skip needless wake-ups)
        self._stop_work = False
        self._generation = 0
        self._pace: float | None = None  # moving average of the seconds a task takes on this worker
        self._commit_lock = threading.Lock()
        self._to_commit: list[Ran] = []
        self._committing = False
        self._finishing: set[str] = set()  # entries whose finish is being written (a renewal may miss them)
        self._threads: list[threading.Thread] = []
        self._runners: list[threading.Thread] = []
        self._metrics_lock = threading.Lock()
        self.start_time = 0.0
        self.tasks_processed = self.tasks_succeeded = self.tasks_failed = self.tasks_timeout = 0
        self.tasks_duplicate = self.tasks_dead_lettered = self.tasks_redelivered = self.leases_lost = 0
        self.total_execution_time = 0.0

    # -- lifecycle -----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the fetch, lease and runner threads and return (use :meth:`wait` to block)."""
        with self._lifecycle:  # a stop() that comes in meanwhile waits until everything started
            self._start()

    def _start(self) -> None:
        if self.is_running:
            return
        self.stream.ensure_group()
        self.is_running, self.is_stopping, self._hard_stop, self._stop_work = True, False, False, False
        self._stop_fetch.clear()
        self._lease_stop.clear()
        self.start_time = time.time()
        self._generation += 1  # runners of an earlier start still finishing a task exit instead of taking more
        self._runners = [
            threading.Thread(
                target=self._work_loop, args=(self._generation,), name=f"graflow-{self.worker_id}-{i}", daemon=True
            )
            for i in range(self.max_concurrent_tasks)
        ]
        self._threads = [
            threading.Thread(target=self._fetch_loop, name=f"graflow-fetch-{self.worker_id}", daemon=True),
            threading.Thread(target=self._lease_loop, name=f"graflow-lease-{self.worker_id}", daemon=True),
        ]
        for thread in [*self._runners, *self._threads]:
            thread.start()
        logger.info(
            "Worker %s started (consumer %s, %d slots, prefetch up to %d, lease %.1fs, prefix %s)",
            self.worker_id,
            self.consumer,
            self.max_concurrent_tasks,
            self.prefetch,
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
        """Stop taking tasks, hand back those not started, let running ones finish for up to ``timeout`` seconds
        (default ``graceful_shutdown_timeout``), and hand back the rest for redelivery without acknowledging them."""
        with self._lifecycle:
            if not self.is_running or self.is_stopping:
                return
            self.is_stopping = True
        self._stop_fetch.set()
        deadline = time.monotonic() + (self.graceful_shutdown_timeout if timeout is None else timeout)
        with self._cond:
            unstarted = [d.entry_id for d in self._queued]
            self._queued.clear()
            for entry_id in unstarted:
                self._inflight.pop(entry_id, None)
            self._cond.notify_all()
        if unstarted:
            self._safe(self.stream.release, self.consumer, unstarted)
        with self._cond:
            while self._inflight and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            leftover = list(self._inflight)
            self._stop_work = True
            self._work.notify_all()
        self._hard_stop = True
        self._lease_stop.set()
        if leftover:
            logger.warning(
                "Worker %s stopping with %d task(s) still running; releasing them for redelivery",
                self.worker_id,
                len(leftover),
            )
            self._safe(self.stream.release, self.consumer, leftover)
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
    def _capacity(self) -> int:
        return tasks_to_hold(self.max_concurrent_tasks, self.prefetch, self._pace)

    def _fetch_due(self) -> int:
        """How many tasks to fetch now, or 0 when a fetch is not worth a round trip yet (call under the lock)."""
        capacity = self._capacity()
        free = capacity - len(self._inflight)
        # Fetch when a runner would otherwise idle, or in batches of at least half the capacity.
        idle = not self._queued and self._busy < self.max_concurrent_tasks
        return free if free > 0 and (idle or free >= capacity // 2) else 0

    def _free_slots(self) -> int:
        """Wait until a fetch is due; returns how many tasks to ask for (0 when stopping)."""
        with self._cond:
            while not self._stop_fetch.is_set():
                free = self._fetch_due()
                if free:
                    return free
                self._fetch_waiting = True
                self._cond.wait()  # woken when a fetch becomes due, or by stop()
                self._fetch_waiting = False
            return 0

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
                    free -= len(reclaimed)
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
        with self._cond:
            if not self._stop_fetch.is_set():
                for delivery in deliveries:
                    self._inflight[delivery.entry_id] = delivery
                self._queued.extend(deliveries)
                self._work.notify(len(deliveries))
                return
        self._safe(self.stream.release, self.consumer, [d.entry_id for d in deliveries])

    # -- running ---------------------------------------------------------------------------------------------------
    def _work_loop(self, generation: int) -> None:
        delivery: Delivery | None = None
        while True:
            with self._cond:  # one lock round per task: account for the last one and take the next
                if delivery is not None:
                    self._busy -= 1
                    if self._fetch_waiting and self._fetch_due():
                        self._cond.notify_all()
                while not self._queued and not self._stop_work:
                    self._work.wait()
                if self._stop_work or generation != self._generation:
                    return
                delivery = self._queued.popleft()
                self._busy += 1
            self._process(delivery)

    def _process(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        try:
            ran: Ran | Outcome | None = self.runner.execute(delivery)
        except BaseException:  # noqa: BLE001 - the entry stays pending and is redelivered after its lease
            logger.exception("Worker %s could not process task %s", self.worker_id, delivery.task_id)
            ran = None
        elapsed = time.perf_counter() - started
        pace = self._pace
        self._pace = elapsed if pace is None else pace + PACE_SMOOTHING * (elapsed - pace)
        if isinstance(ran, Ran):
            self._commit(ran)
        else:
            self._finished([delivery], [ran])

    def _commit(self, ran: Ran) -> None:
        """Group commit: write ``ran`` now, or let the runner already writing take it with its next batch."""
        with self._commit_lock:
            self._to_commit.append(ran)
            if self._committing:
                return
            self._committing = True
        while True:
            with self._commit_lock:
                batch, self._to_commit = self._to_commit, []
                if not batch:
                    self._committing = False
                    return
            with self._cond:
                self._finishing.update(item.delivery.entry_id for item in batch)
            try:
                outcomes: list[Outcome | None] = list(self.runner.commit(batch))
            except Exception:  # noqa: BLE001 - the entries stay pending and are redelivered after their lease
                logger.exception("Worker %s could not record %d finished task(s)", self.worker_id, len(batch))
                outcomes = [None] * len(batch)
            self._finished([item.delivery for item in batch], outcomes)

    def _finished(self, deliveries: list[Delivery], outcomes: list[Outcome | None]) -> None:
        with self._cond:
            for delivery in deliveries:
                self._inflight.pop(delivery.entry_id, None)
                self._finishing.discard(delivery.entry_id)
            # Wake the fetcher only when it waits and a fetch is due, and stop() once nothing is held.
            if not self._inflight or (self._fetch_waiting and self._fetch_due()):
                self._cond.notify_all()
        with self._metrics_lock:
            for outcome in outcomes:
                if outcome is not None:
                    self._count(outcome.status, outcome.duration)

    def _count(self, status: str, duration: float) -> None:
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
                gone = self.stream.renew(self.consumer, ids)
            except redis.RedisError as exc:
                logger.warning("Worker %s could not renew %d lease(s): %s", self.worker_id, len(ids), exc)
                continue
            if gone:
                self._drop_lost(gone)

    def _drop_lost(self, gone: list[str]) -> None:
        """Entries reported gone by a renewal: finished meanwhile, or reclaimed by another worker."""
        with self._cond:
            # Still held and not being finished (a finish acknowledges the entry): really lost.
            lost = [e for e in gone if e in self._inflight and e not in self._finishing]
            if not lost:
                return
            lost_set = set(lost)
            unstarted = [d for d in self._queued if d.entry_id in lost_set]
            if unstarted:  # never start a task another worker now owns
                self._queued = deque(d for d in self._queued if d.entry_id not in lost_set)
                for delivery in unstarted:
                    self._inflight.pop(delivery.entry_id, None)
                self._cond.notify_all()
        with self._metrics_lock:
            self.leases_lost += len(lost)
        logger.warning("Worker %s lost the lease of %d task(s) (reclaimed elsewhere)", self.worker_id, len(lost))

    # -- metrics -------------------------------------------------------------------------------------------------------
    def get_metrics(self) -> dict[str, Any]:
        """Upstream's metric keys, plus ``tasks_duplicate``, ``tasks_dead_lettered``, ``tasks_redelivered``,
        ``leases_lost``, ``tasks_held`` and ``consumer``."""
        with self._metrics_lock:
            processed = self.tasks_processed
            return {
                "worker_id": self.worker_id,
                "is_running": self.is_running,
                "is_stopping": self.is_stopping,
                "active_tasks": self._busy,
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
                "tasks_held": len(self._inflight),
                "consumer": self.consumer,
            }


__all__ = ["FETCH_BLOCK_SECONDS", "PREFETCH_PER_SLOT", "PREFETCH_WINDOW_SECONDS", "TaskWorker", "tasks_to_hold"]
