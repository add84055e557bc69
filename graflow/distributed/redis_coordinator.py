"""``RedisCoordinator``: run a parallel group's members on workers (spec section 8, D19).

Flow of :meth:`RedisCoordinator.execute_group`:

1. store the run's graph in the content-addressed ``GraphStore`` (once per version) and publish the run's handlers;
2. when the producer's channel is not the Redis channel the workers write to (a memory channel, or another
   prefix), copy its keys there first and copy the Redis keys back afterwards, so members see and produce the same
   data as on the local backends;
3. arm an idempotent barrier that counts distinct member completions, then enqueue one signed record per member;
4. wait on the barrier (``backend_config={"barrier_timeout": seconds}``; default None waits until every member
   completed or was dead-lettered, which fails it), then build a ``TaskResult`` per member for the group policy.

``record_task_completion`` keeps upstream's name and signature.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graflow import defaults
from graflow.coordination.coordinator import TaskCoordinator
from graflow.core.handler import TaskResult
from graflow.distributed.barrier import UNFED_SUFFIX, GroupBarrier, record_completion
from graflow.distributed.context_factory import gc_paused
from graflow.distributed.handler_registry import publish_handlers
from graflow.distributed.llm_services import publish_llm_services
from graflow.distributed.queue import DistributedTaskQueue
from graflow.distributed.records import SerializedTaskRecord
from graflow.exceptions import ConfigError, GraflowRuntimeError
from graflow.utils.redis_utils import create_redis_client

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.handlers.group_policy import GroupExecutionPolicy
    from graflow.core.task import Executable

logger = logging.getLogger(__name__)

#: Records sent to Redis per round trip when a group is dispatched.
DISPATCH_CHUNK = 1000
#: Default of ``backend_config["barrier_timeout"]``: None waits for every member. Nothing is lost meanwhile (D19):
#: a dead worker's member is reclaimed after its lease, and a member that is dead-lettered (too many deliveries,
#: bad signature, missing graph) fails the group at once with its reason.
DEFAULT_BARRIER_TIMEOUT: float | None = None


def record_task_completion(
    redis_client: Any,
    key_prefix: str,
    task_id: str,
    group_id: str,
    success: bool,
    error_message: str | None = None,
) -> None:
    """Record that member ``task_id`` of barrier ``group_id`` finished (idempotent: a repeat does not count)."""
    record_completion(redis_client, key_prefix, group_id, task_id, success, error_message)


def _positive_or_none(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds or None, got {value!r}")
    return float(value)


class RedisCoordinator(TaskCoordinator):
    """Dispatches a group's members to workers through a :class:`DistributedTaskQueue` and waits for them.

    Args:
        task_queue: The queue shared with the workers (same Redis, same ``key_prefix``).
        barrier_timeout: Seconds to wait for the members; None (default) waits until each one completed or was
            dead-lettered. On timeout a :class:`~graflow.distributed.barrier.BarrierTimeoutError` names the
            missing members.
        result_ttl: Lifetime of the barrier keys in seconds (D26).
    """

    def __init__(
        self,
        task_queue: DistributedTaskQueue,
        *,
        barrier_timeout: float | None = DEFAULT_BARRIER_TIMEOUT,
        result_ttl: int = defaults.RESULT_TTL_SECONDS,
    ) -> None:
        if not isinstance(task_queue, DistributedTaskQueue):
            raise ValueError(f"RedisCoordinator needs a DistributedTaskQueue, got {type(task_queue).__name__}")
        self.task_queue = task_queue
        self.barrier_timeout = _positive_or_none(barrier_timeout, "barrier_timeout")
        self.result_ttl = result_ttl

    @classmethod
    def from_config(cls, config: dict[str, Any], context: ExecutionContext | None = None) -> RedisCoordinator:
        """Build from a group's effective config (``redis_client`` or connection keys, ``key_prefix``,
        ``barrier_timeout``, ``lease_timeout``, ``max_deliveries``)."""
        client = create_redis_client(config)
        queue = DistributedTaskQueue(
            client,
            key_prefix=config.get("key_prefix") or defaults.REDIS_KEY_PREFIX,
            lease_timeout=config.get("lease_timeout"),
            max_deliveries=config.get("max_deliveries"),
        )
        return cls(queue, barrier_timeout=config.get("barrier_timeout", DEFAULT_BARRIER_TIMEOUT))

    # -- the group ----------------------------------------------------------------------------------------------------
    def execute_group(
        self,
        group_id: str,
        tasks: Sequence[Executable],
        execution_context: ExecutionContext,
        policy: GroupExecutionPolicy,
    ) -> dict[str, TaskResult]:
        """Run every member on the workers and return ``{member_id: TaskResult}``.

        Raises:
            BarrierTimeoutError: ``barrier_timeout`` passed before every member completed.
        """
        ctx = execution_context
        # Pickling the graph, building thousands of records and then of results allocate many objects at once:
        # the cyclic collector is paused for those steps (not for the wait, which may be long).
        with gc_paused():
            barrier, bridge = self._dispatch(group_id, tasks, ctx)
        member_ids = [t.task_id for t in tasks]
        completions = barrier.wait(member_ids, self.barrier_timeout)
        with gc_paused():
            results = self._collect(member_ids, completions, bridge.channel if bridge is not None else ctx.channel)
        barrier.cleanup()
        if bridge is not None:
            bridge.pull(ctx.channel)
        return results

    def _dispatch(
        self, group_id: str, tasks: Sequence[Executable], ctx: ExecutionContext
    ) -> tuple[GroupBarrier, _ChannelBridge | None]:
        queue = self.task_queue
        member_ids = [t.task_id for t in tasks]
        graph_hash = queue.graph_store.save(ctx.graph)
        ctx.graph_hash = graph_hash
        flush = getattr(ctx.channel, "flush", None)
        if flush is not None:  # a worker task's buffered writes: the members must see them
            flush()
        if ctx.handlers:
            publish_handlers(queue.redis_client, queue.key_prefix, ctx.session_id, ctx.handlers, queue.signer)
        services = getattr(ctx, "services", None)
        if services is not None and services.has_llm_client:  # members use the run's client, rebuilt on workers
            publish_llm_services(queue.redis_client, queue.key_prefix, ctx.session_id, queue.signer,
                                 llm_client=services.llm_client, replace=False)
        bridge = _ChannelBridge.needed(ctx, queue)
        if bridge is not None:
            bridge.push(ctx.channel)

        running = ctx.current_task_context
        # D11: members are fed by whatever triggered their group, as in a local branch.
        triggers = list(ctx.scheduler.triggers.get(running.task_id, ())) if running is not None else []
        # Members of a group nothing triggered skip reading its metadata (a round trip before they can start).
        barrier_id = f"{ctx.session_id}:{group_id}:{uuid.uuid4().hex[:8]}" + ("" if triggers else UNFED_SUFFIX)
        barrier = GroupBarrier(queue.redis_client, queue.key_prefix, barrier_id, ttl=self.result_ttl)
        barrier.arm(len(member_ids), {"group_id": group_id, "triggers": triggers})
        span = getattr(ctx.tracer, "get_current_span_id", lambda: None)()
        now = time.time()
        # Unique record ids (32 hex digits, like the default) without a uuid4 call per member.
        id_base = uuid.uuid4().hex[:16]
        records = [
            SerializedTaskRecord(
                task_id=member,
                session_id=ctx.session_id,
                graph_hash=graph_hash,
                trace_id=ctx.trace_id,
                created_at=now,
                group_id=barrier_id,
                parent_span_id=span,
                workflow_name=ctx.workflow_name,
                record_id=f"{id_base}{index:016x}",
            )
            for index, member in enumerate(member_ids)
        ]
        for start in range(0, len(records), DISPATCH_CHUNK):
            queue.stream.enqueue_many(records[start : start + DISPATCH_CHUNK], return_ids=False)
        logger.debug("Dispatched %d member(s) of group %s to %s", len(records), group_id, queue.queue_key)
        return barrier, bridge

    @staticmethod
    def _collect(member_ids: list[str], completions: dict[str, dict[str, Any]], channel: Any) -> dict[str, TaskResult]:
        values = _read_results(channel, member_ids)
        results: dict[str, TaskResult] = {}
        for member in member_ids:
            done = completions[member]
            value = values.get(member)
            if done.get("success"):
                results[member] = TaskResult(
                    member,
                    True,
                    duration=float(done.get("duration") or 0.0),
                    timestamp=float(done.get("timestamp") or 0.0),
                    value=value,
                )
            else:
                message = done.get("error_message") or "failed on a worker"
                error = value if isinstance(value, BaseException) else GraflowRuntimeError(message)
                results[member] = TaskResult(
                    member,
                    False,
                    error=error,
                    error_message=message,
                    duration=float(done.get("duration") or 0.0),
                    timestamp=float(done.get("timestamp") or 0.0),
                )
        return results


def _read_results(channel: Any, member_ids: list[str]) -> dict[str, Any]:
    """Members' stored results, read in batches when the channel can (one round trip per batch on Redis)."""
    keys = [m + ".__result__" for m in member_ids]
    get_many = getattr(channel, "get_many", None)
    if get_many is not None:
        found = get_many(keys)
        return {m: found.get(k) for m, k in zip(member_ids, keys, strict=True)}
    return {m: channel.get(k) for m, k in zip(member_ids, keys, strict=True)}


class _ChannelBridge:
    """Carries a non-Redis producer channel to the workers' Redis channel and back."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    @classmethod
    def needed(cls, ctx: ExecutionContext, queue: DistributedTaskQueue) -> _ChannelBridge | None:
        from graflow.channels.redis_channel import RedisChannel

        channel = ctx.channel
        if (
            isinstance(channel, RedisChannel)
            and channel.name == ctx.session_id
            and channel.key_prefix == queue.key_prefix
        ):
            return None  # the producer reads the very keys the workers write (upstream's setup)
        return cls(
            RedisChannel(
                ctx.session_id,
                redis_client=queue.redis_client,
                key_prefix=queue.key_prefix,
                default_ttl=defaults.RESULT_TTL_SECONDS,
            )
        )

    def push(self, source: Any) -> None:
        """Copy every key of the producer's channel to the workers' channel."""
        snapshot = source.snapshot()
        self.channel.clear()
        if snapshot:
            self.channel.set_many(snapshot)

    def pull(self, target: Any) -> None:
        """Copy every key the workers' channel holds back into the producer's channel, then drop them."""
        for key in self.channel.keys():  # noqa: SIM118 - a Channel, not a dict
            target.set(key, self.channel.get(key))
        self.channel.clear()


__all__ = ["DEFAULT_BARRIER_TIMEOUT", "RedisCoordinator", "record_task_completion"]
