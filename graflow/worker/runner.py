"""Run one delivered task record with the local engine, then record its completion and acknowledge it.

This is the whole difference between a worker and a local run: the context comes from a record, its channel is the
producer's Redis channel, and the outcome is written to the group's barrier. Order matters for D19: the task runs,
and only then are its results written, its completion recorded *and* its entry acknowledged, in one atomic script
that first checks the worker still holds the entry (:meth:`~graflow.distributed.streams.RedisStreamQueue.finish_many`).
A worker that dies before that leaves the entry pending for redelivery; a redelivered task whose completion
already exists is acknowledged without running again.

:meth:`TaskRunner.execute` runs a task and returns what is to be written; :meth:`TaskRunner.commit` writes the
results of several tasks in one round trip. :meth:`TaskRunner.run` does both for one task.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis

from graflow import defaults
from graflow.channels.redis_channel import RedisChannel
from graflow.core.engine import WorkflowEngine
from graflow.distributed.barrier import (
    completion_json,
    completion_keys,
    fed_by_triggers,
    read_meta,
    record_completion,
)
from graflow.distributed.context_factory import ExecutionContextFactory, GraphCache
from graflow.distributed.fenced_channel import FencedRedisChannel, LeaseLostError
from graflow.distributed.graph_store import GraphIntegrityError, GraphNotFoundError
from graflow.distributed.handler_registry import HandlerRegistry
from graflow.distributed.llm_services import LLMServiceRegistry
from graflow.distributed.streams import DUPLICATE, NOT_OWNED, Finish
from graflow.distributed.submit import is_run_barrier, run_result_key
from graflow.exceptions import GraflowRuntimeError, WorkerShutdown, error_message
from graflow.security.signing import BadSignatureError
from graflow.worker.tracing import create_tracer

if TYPE_CHECKING:
    from graflow.distributed.queue import DistributedTaskQueue
    from graflow.distributed.streams import Delivery

logger = logging.getLogger(__name__)

#: Groups whose metadata (triggering tasks) a worker remembers.
GROUP_META_CACHE_SIZE = 1024
#: Sessions whose Redis channel a worker keeps (each task gets a cheap fenced view of it).
SESSION_CHANNEL_CACHE_SIZE = 256
#: Longest pause between attempts to write a finished task's completion while Redis is unreachable.
FINISH_RETRY_MAX_BACKOFF = 2.0


@dataclass(slots=True)
class Outcome:
    """What happened to one delivery."""

    status: str  # "succeeded", "failed", "duplicate", "dead_lettered", "abandoned"
    duration: float = 0.0


@dataclass(slots=True)
class Ran:
    """A delivery whose task ran; its results, completion and acknowledgement are still to be written."""

    delivery: Delivery
    finish: Finish
    ok: bool
    duration: float


class TaskRunner:
    """Turns deliveries into engine runs for one worker.

    Args:
        queue: The worker's queue (stream, graph store, Redis client, prefix).
        worker_id: Written into completion records.
        tracer_config: Validated tracer config (see :mod:`graflow.worker.tracing`).
        handlers: The worker's own task handlers.
        hooks: Extra engine hooks for every task.
        stopping: Returns True once the worker must stop retrying Redis writes.
    """

    def __init__(
        self,
        queue: DistributedTaskQueue,
        worker_id: str,
        tracer_config: dict[str, Any],
        handlers: dict[str, Any] | None,
        hooks: list[Any] | None,
        stopping: Any,
    ) -> None:
        self.queue = queue
        self.stream = queue.stream
        self.redis = queue.redis_client
        self.key_prefix = queue.key_prefix
        self.worker_id = worker_id
        #: The consumer name that owns this runner's deliveries (set by the worker).
        self.consumer = worker_id
        self.tracer_config = tracer_config
        self.hooks = hooks
        self.graphs = GraphCache()
        self.handlers = HandlerRegistry(handlers, queue.signer)
        self.llm_services = LLMServiceRegistry(queue.signer)
        self._stopping = stopping
        self._meta: dict[str, dict[str, Any]] = {}
        self._channels: OrderedDict[str, RedisChannel] = OrderedDict()
        self._channels_lock = threading.Lock()
        from graflow.trace.noop import NoopTracer

        self._noop_tracer = NoopTracer(enable_runtime_graph=False)

    # -- one task -------------------------------------------------------------------------------------------------
    def run(self, delivery: Delivery) -> Outcome:
        """Run ``delivery`` to its end: completed and acknowledged, dead-lettered, or left for redelivery."""
        ran = self.execute(delivery)
        return ran if isinstance(ran, Outcome) else self.commit([ran])[0]

    def execute(self, delivery: Delivery) -> Ran | Outcome:
        """Run the task of ``delivery``; returns what :meth:`commit` must write, or the outcome when nothing is."""
        record = delivery.record
        barrier_id = record.group_id
        # Only a redelivery can find its completion already written (a first delivery saves the round trip).
        if barrier_id and delivery.deliveries > 1 and self._already_completed(barrier_id, record.task_id):
            # The previous holder finished it but died before acknowledging: don't run it twice.
            return Outcome("duplicate") if self._ack(delivery) else Outcome("abandoned")
        whole_run = bool(barrier_id) and is_run_barrier(barrier_id or "")
        member = bool(barrier_id) and not whole_run  # one member of a producer's parallel group
        try:
            graph = self.graphs.load(self.queue.graph_store, record.graph_hash)
            handlers = self.handlers.for_session(
                self.redis, self.key_prefix, record.session_id, record.graph_hash, graph
            )
            llm_services = self.llm_services.for_session(self.redis, self.key_prefix, record.session_id)
            tracer = create_tracer(self.tracer_config)
            if tracer is None and member:
                # A member emits no workflow events, so the passive no-op tracer holds nothing of it: share one.
                tracer = self._noop_tracer
            fence = (self.stream.stream_key, self.stream.group, delivery.entry_id, self.consumer)
            # A member's writes land with its completion; anything longer (a whole run) writes through, as others
            # may watch its progress.
            base = self._session_channel(record.session_id)
            channel = FencedRedisChannel.for_delivery(base, fence, buffered=member)
            ctx, _task = ExecutionContextFactory.create_from_record(
                record,
                self.queue.graph_store,
                tracer=tracer,
                handlers=handlers,
                hooks=self.hooks,
                graph_cache=self.graphs,
                channel=channel,
                graph=graph,
                llm_services=llm_services,
            )
        except GraphNotFoundError as exc:
            return self._reject(delivery, "graph_missing", str(exc))
        except BadSignatureError as exc:
            return self._reject(delivery, "bad_signature", f"graph, handler or LLM services blob: {exc.reason}")
        except GraphIntegrityError as exc:
            return self._reject(delivery, "graph_corrupt", str(exc))
        except GraflowRuntimeError as exc:
            return self._reject(delivery, "task_missing", str(exc))
        if member and fed_by_triggers(barrier_id or ""):
            triggers = self._group_meta(barrier_id or "").get("triggers")
            if triggers:
                ctx.scheduler.triggers[record.task_id] = list(triggers)
        if (
            tracer is not None
            and tracer is not self._noop_tracer
            and hasattr(tracer, "attach_to_trace")
            and record.trace_id
        ):
            tracer.attach_to_trace(record.trace_id, record.parent_span_id)

        started = time.perf_counter()
        ok, message, value = True, None, None
        try:
            value = WorkflowEngine().execute(ctx, start_task_id=record.task_id)
        except WorkerShutdown:
            logger.warning("Task %s interrupted by shutdown; it will be redelivered", record.task_id)
            return Outcome("abandoned", time.perf_counter() - started)
        except Exception as exc:
            if _caused_by(exc, LeaseLostError):
                logger.warning("Task %s lost its lease while running; its new owner finishes it", record.task_id)
                return Outcome("abandoned", time.perf_counter() - started)
            if _caused_by(exc, redis.ConnectionError, redis.TimeoutError):
                # Redis went away under the task: that is not the task's failure. Hand it back (or, if Redis is
                # still away, let its lease expire) so it runs again once Redis is back.
                logger.warning("Task %s lost Redis while running (%s); it will be redelivered", record.task_id, exc)
                try:
                    self.stream.release(self.consumer, [delivery.entry_id])
                except redis.RedisError:
                    pass
                return Outcome("abandoned", time.perf_counter() - started)
            ok, message, value = False, error_message(exc), exc
            logger.info("Task %s failed on worker %s: %s", record.task_id, self.worker_id, message)
        duration = time.perf_counter() - started
        if whole_run:
            try:
                self._store_run_result(ctx, barrier_id or "", ok, value, message)
            except LeaseLostError:
                return Outcome("abandoned", duration)
        finish = Finish(delivery.entry_id, record.task_id, writes=channel.take_writes())
        if barrier_id:
            finish.barrier_keys = completion_keys(self.key_prefix, barrier_id)
            finish.completion = completion_json(record.task_id, ok, message, duration, self.worker_id)
        return Ran(delivery, finish, ok, duration)

    def commit(self, items: Sequence[Ran]) -> list[Outcome]:
        """Write the results, completions and acknowledgements of tasks that ran, in one round trip.

        While Redis is unreachable it retries (with back-off) until the worker stops; a task whose lease was lost
        meanwhile writes nothing and is finished by its new owner.
        """
        backoff = 0.05
        while True:
            try:
                codes = self.stream.finish_many(self.consumer, [item.finish for item in items])
                break
            except redis.ResponseError as exc:
                if len(items) > 1:  # one bad item (say a barrier key of the wrong type) must not sink the batch
                    return [outcome for item in items for outcome in self.commit([item])]
                logger.error("Could not record task %s (%s); it will be redelivered", items[0].finish.task_id, exc)
                return [Outcome("abandoned", items[0].duration)]
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if self._stopping():
                    logger.error("Could not record %d task(s) before shutdown (%s); they will be redelivered",
                                 len(items), exc)  # fmt: skip
                    return [Outcome("abandoned", item.duration) for item in items]
                logger.warning("Redis unavailable while finishing %d task(s) (%s); retrying", len(items), exc)
                time.sleep(backoff)  # reconnect back-off
                backoff = min(backoff * 2, FINISH_RETRY_MAX_BACKOFF)
        out = []
        for item, code in zip(items, codes, strict=True):
            if code == NOT_OWNED:
                task_id = item.finish.task_id
                logger.warning("Task %s lost its lease before it finished; its new owner finishes it", task_id)
                out.append(Outcome("abandoned", item.duration))
            elif code == DUPLICATE:
                out.append(Outcome("duplicate", item.duration))
            else:
                out.append(Outcome("succeeded" if item.ok else "failed", item.duration))
        return out

    def _session_channel(self, session_id: str) -> RedisChannel:
        with self._channels_lock:
            channel = self._channels.get(session_id)
            if channel is not None:
                self._channels.move_to_end(session_id)
                return channel
        store = self.queue.graph_store
        channel = RedisChannel(
            session_id, redis_client=store.redis, key_prefix=store.key_prefix, default_ttl=defaults.RESULT_TTL_SECONDS
        )
        with self._channels_lock:
            self._channels[session_id] = channel
            while len(self._channels) > SESSION_CHANNEL_CACHE_SIZE:
                self._channels.popitem(last=False)
        return channel

    def _group_meta(self, barrier_id: str) -> dict[str, Any]:
        meta = self._meta.get(barrier_id)
        if meta is None:
            meta = read_meta(self.redis, self.key_prefix, barrier_id)
            if len(self._meta) >= GROUP_META_CACHE_SIZE:
                self._meta.clear()
            self._meta[barrier_id] = meta
        return meta

    def _already_completed(self, barrier_id: str, task_id: str) -> bool:
        return bool(self.redis.hexists(completion_keys(self.key_prefix, barrier_id)[0], task_id))

    def _store_run_result(self, ctx: Any, barrier_id: str, ok: bool, value: Any, message: str | None) -> None:
        key = run_result_key(barrier_id)
        try:
            ctx.channel.set(key, {"ok": ok, "value": value, "error": message})
        except LeaseLostError:
            raise
        except Exception as exc:  # an unpicklable return value or exception: send what can travel
            logger.warning("Result of run %s cannot be stored as is (%s); sending its text", barrier_id, exc)
            ctx.channel.set(key, {"ok": ok, "value": None, "error": message or repr(value)})

    def _reject(self, delivery: Delivery, reason: str, detail: str) -> Outcome:
        logger.error("Task %s dead-lettered (%s): %s", delivery.task_id, reason, detail)
        self.stream.dead_letter(
            delivery.entry_id, reason, detail=detail, consumer=self.worker_id, deliveries=delivery.deliveries
        )
        return Outcome("dead_lettered")

    def _ack(self, delivery: Delivery) -> bool:
        """Acknowledge ``delivery`` without recording anything, retrying while Redis is down (False: gave up)."""
        backoff = 0.05
        while True:
            try:
                self.stream.ack([delivery.entry_id])
                return True
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if self._stopping():
                    logger.error("Could not acknowledge task %s before shutdown (%s)", delivery.task_id, exc)
                    return False
                logger.warning("Redis unavailable while acknowledging task %s (%s); retrying", delivery.task_id, exc)
                time.sleep(backoff)  # reconnect back-off
                backoff = min(backoff * 2, FINISH_RETRY_MAX_BACKOFF)

    # -- dead letters -------------------------------------------------------------------------------------------------
    def on_dead_letter(self, task_id: str, group_id: str | None, reason: str, detail: str) -> None:
        """Fail the dead-lettered task's group at once, naming the reason, instead of leaving it waiting."""
        if not group_id:
            return
        record_completion(
            self.redis,
            self.key_prefix,
            group_id,
            task_id,
            False,
            f"Task '{task_id}' was dead-lettered ({reason}): {detail}",
            worker=self.worker_id,
        )


def _caused_by(exc: BaseException, *kinds: type[BaseException]) -> bool:
    """Whether ``exc`` or an error in its cause chain is one of ``kinds``."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, kinds):
            return True
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
        seen += 1
    return False


__all__ = ["FINISH_RETRY_MAX_BACKOFF", "Outcome", "Ran", "TaskRunner"]
