"""Run a whole workflow on the workers, not only its parallel groups.

``submit_workflow`` stores the graph, publishes the handlers, and enqueues one record for the start node under a
one-member barrier whose id starts with ``run:``. A worker runs the engine loop from that node exactly as a local
run would (successors, retries, cycles, dynamic tasks; groups configured for Redis are distributed again), stores
the run's return value in the Redis channel of the run's session, and completes the barrier. The caller gets a
:class:`WorkflowRun` handle whose :meth:`~WorkflowRun.result` waits for it and returns the value, or raises the
run's error.

A run that no worker takes (none running, or none on the same Redis and key prefix) would otherwise wait in
silence: after :data:`~graflow.defaults.SUBMIT_NO_WORKER_WARNING_SECONDS` the waiter logs one warning naming the
stream and the Redis, and a ``timeout`` ends the wait with a :class:`WorkflowRunTimeoutError` that says what is
still pending.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from graflow import defaults
from graflow.distributed.barrier import BarrierTimeoutError, GroupBarrier
from graflow.exceptions import GraflowError, GraflowRuntimeError
from graflow.utils.redis_utils import safe_redis_url

logger = logging.getLogger(__name__)

#: Barrier ids of whole-workflow runs start with this.
RUN_BARRIER_PREFIX = "run:"
#: Channel key (under the run's session) that receives the run's outcome.
RUN_RESULT_KEY = "__graflow_run__"


def is_run_barrier(barrier_id: str) -> bool:
    """Whether ``barrier_id`` belongs to a whole-workflow run."""
    return barrier_id.startswith(RUN_BARRIER_PREFIX)


def run_result_key(barrier_id: str) -> str:
    """Channel key of a run's outcome."""
    return f"{RUN_RESULT_KEY}.{barrier_id}"


class WorkflowRunTimeoutError(BarrierTimeoutError, TimeoutError):
    """A submitted workflow run did not finish within the caller's ``timeout``.

    It is a :class:`TimeoutError` and a :class:`~graflow.distributed.barrier.BarrierTimeoutError` (what waiting on
    a run raised before). The run is not cancelled: a worker that takes it later still runs it.

    Attributes:
        session_id: The run's session.
        pending: Ids of the tasks still pending (the run's start node until a worker finished the run).
        timeout: The wait, in seconds.
        stream_key: The stream the run was queued on (``{key_prefix}:tasks``).
        redis_url: The Redis the run was queued on, without password.
        taken: Whether a worker had taken the run from the stream; None when that could not be read.
    """

    def __init__(
        self,
        session_id: str,
        pending: list[str],
        timeout: float,
        *,
        barrier_id: str,
        stream_key: str,
        redis_url: str,
        taken: bool | None,
    ) -> None:
        self.session_id = session_id
        self.group_id = barrier_id
        self.missing = self.pending = list(pending)
        self.timeout = timeout
        self.stream_key = stream_key
        self.redis_url = redis_url
        self.taken = taken
        if taken is False:
            state = f"; no worker has taken it from stream {stream_key!r} on {redis_url} yet"
        elif taken:
            state = "; a worker has taken it and is still running it"
        else:
            state = ""
        listed = ", ".join(repr(task_id) for task_id in self.pending)
        # The message is this run's, not the generic group wording of BarrierTimeoutError.__init__.
        GraflowError.__init__(
            self,
            f"Workflow run {session_id} did not finish within {timeout:g}s: "
            f"{len(self.pending)} task(s) still pending: {listed}{state}",
        )


@dataclass
class WorkflowRun:
    """A workflow submitted to the workers.

    Attributes:
        session_id: The run's session; its channel is ``{prefix}:channel:{session_id}:*``.
        start_node: The node the run started from.
        barrier_id: Id of the run's one-member barrier.
        entry_id: The stream entry of the run's start record (tells whether a worker has taken it).
        stream_key: The stream the run was queued on (default: the workers' stream of ``key_prefix``).
        no_worker_warning_after: Seconds of waiting after which :meth:`result` logs one warning when no worker has
            taken the run yet; None turns the warning off.
    """

    session_id: str
    start_node: str
    barrier_id: str
    redis_client: Any
    key_prefix: str
    entry_id: str | None = None
    no_worker_warning_after: float | None = defaults.SUBMIT_NO_WORKER_WARNING_SECONDS
    stream_key: str = ""

    def __post_init__(self) -> None:
        if not self.stream_key:  # a handle built by hand: the stream RedisStreamQueue uses for key_prefix
            self.stream_key = f"{self.key_prefix}:tasks"

    def _barrier(self) -> Any:
        return GroupBarrier(self.redis_client, self.key_prefix, self.barrier_id)

    def done(self) -> bool:
        """Whether the run finished (successfully or not)."""
        return bool(self._barrier().completed_count() >= 1)

    def channel(self) -> Any:
        """The run's Redis channel (read the tasks' results from it)."""
        from graflow.channels.redis_channel import RedisChannel

        return RedisChannel(self.session_id, redis_client=self.redis_client, key_prefix=self.key_prefix)

    def taken(self) -> bool | None:
        """Whether a worker has taken the run from the stream (it may have finished since).

        Returns:
            True once the workers' consumer group has read past the run's entry, False while no worker has (also
            when no worker ever joined the stream), None when unknown (no entry id, or Redis did not answer).
        """
        from graflow.distributed.streams import GROUP_NAME

        if not self.entry_id or self.entry_id.startswith("delayed:"):
            return None
        try:
            groups = self.redis_client.xinfo_groups(self.stream_key)
        except redis.ResponseError:  # no such stream: nothing ever read from it
            return False
        except redis.RedisError:
            return None
        for group in groups:
            if _text(group.get("name")) == GROUP_NAME:
                return _entry_order(_text(group.get("last-delivered-id"))) >= _entry_order(self.entry_id)
        return False

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the run and return what ``WorkflowEngine.execute`` returned on the worker.

        While no worker has taken the run after :attr:`no_worker_warning_after` seconds of waiting, one warning
        names the stream and the Redis (without password) the run waits on.

        Args:
            timeout: Seconds to wait; None waits until the run finished or was dead-lettered.

        Raises:
            WorkflowRunTimeoutError: The run did not finish in time (a ``TimeoutError``); the message names the task
                still pending and whether a worker had taken it. The run is not cancelled.
            GraflowRuntimeError: The run failed; the worker's exception is the cause when it could travel.
        """
        completions = self._wait(timeout)
        done = completions[self.start_node]
        outcome = self.channel().get(run_result_key(self.barrier_id), None) or {}
        if done.get("success"):
            return outcome.get("value")
        error = outcome.get("value")
        message = done.get("error_message") or outcome.get("error") or "the run failed on a worker"
        if isinstance(error, GraflowRuntimeError):
            raise error
        raise GraflowRuntimeError(
            f"Workflow run {self.session_id} failed: {message}",
            cause=error if isinstance(error, BaseException) else None,
        )

    def _wait(self, timeout: float | None) -> dict[str, dict[str, Any]]:
        barrier = self._barrier()
        members = [self.start_node]
        warn_after = self.no_worker_warning_after
        started = time.monotonic()
        try:
            if warn_after is None or (timeout is not None and timeout <= warn_after):
                return dict(barrier.wait(members, timeout))
            try:
                return dict(barrier.wait(members, warn_after))
            except BarrierTimeoutError:
                if self.taken() is False:
                    self._warn_no_worker(warn_after)
            remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            return dict(barrier.wait(members, remaining))
        except BarrierTimeoutError as exc:
            assert timeout is not None  # only a bounded wait ends without the run
            raise WorkflowRunTimeoutError(
                self.session_id,
                exc.missing,
                timeout,
                barrier_id=self.barrier_id,
                stream_key=self.stream_key,
                redis_url=safe_redis_url(self.redis_client),
                taken=self.taken(),
            ) from exc

    def _warn_no_worker(self, waited: float) -> None:
        url = safe_redis_url(self.redis_client)
        logger.warning(
            "No worker has taken workflow run %s yet: its task %r has waited %.0fs on stream %r of Redis %s. Start "
            "a worker on the same Redis and key prefix: graflow worker --redis-url %s --redis-key-prefix %s",
            self.session_id,
            self.start_node,
            waited,
            self.stream_key,
            url,
            url,
            self.key_prefix,
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id (``<ms>-<seq>``) as a sortable pair."""
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


def submit_workflow(
    workflow_or_graph: Any,
    start_node: str | None = None,
    *,
    redis_client: Any = None,
    redis_url: str | None = None,
    key_prefix: str = defaults.REDIS_KEY_PREFIX,
    wait: bool = True,
    timeout: float | None = None,
    session_id: str | None = None,
    handlers: dict[str, Any] | None = None,
    signer: Any = None,
    no_worker_warning_after: float | None = defaults.SUBMIT_NO_WORKER_WARNING_SECONDS,
    llm_client: Any = None,
) -> Any:
    """Run a workflow on the workers listening on ``key_prefix``.

    Args:
        workflow_or_graph: A ``WorkflowContext`` (from ``with workflow(...)``) or a ``TaskGraph``.
        start_node: Where to start; auto-detected like a local run when None.
        redis_client: Client of the workers' Redis (or give ``redis_url``).
        redis_url: ``redis://``/``rediss://`` URL, used when no client is given (default ``GRAFLOW_REDIS_URL``).
        key_prefix: The workers' ``--redis-key-prefix``.
        wait: True returns the run's result; False returns a :class:`WorkflowRun` at once.
        timeout: With ``wait``, seconds to wait for the run to finish; None (the default) waits until it finished
            or was dead-lettered, however long no worker takes it. When the time is up, a
            :class:`WorkflowRunTimeoutError` is raised; the run stays queued and a worker that starts later still
            runs it. Without ``wait``, pass the timeout to :meth:`WorkflowRun.result` instead.
        session_id: The run's session id (default: a new one).
        handlers: Task handlers for the run, merged over the workflow's (D15).
        signer: Payload signer (default: ``GRAFLOW_SECRET_KEY``, else unsigned on loopback only).
        no_worker_warning_after: Seconds of waiting after which one warning is logged when no worker has taken the
            run yet, naming the stream (``{key_prefix}:tasks``) and the Redis without password (default
            :data:`~graflow.defaults.SUBMIT_NO_WORKER_WARNING_SECONDS`; None: no warning).
        llm_client: The run's LLM client (``inject_llm_client``, ``ctx.llm_client``). It travels as its model and
            default parameters and the worker rebuilds it; without it the worker's default client is used. The
            workflow's agents registered as factories (``wf.register_llm_agent(name, factory)``) travel too and
            are called with the worker's context (see :mod:`graflow.distributed.llm_services`).

    Returns:
        The run's result when ``wait`` is True, else a :class:`WorkflowRun`.

    Raises:
        ConfigError: Unsigned payloads on a non-loopback Redis (D20), or a malformed ``redis_url``.
        GraphCompilationError: No start node given and none could be detected.
        WorkflowRunTimeoutError: With ``wait``, ``timeout`` passed before the run finished (a ``TimeoutError``
            whose message names the task still pending and whether a worker had taken it).
        GraflowRuntimeError: With ``wait``, the run failed on the worker.
    """
    from graflow.core.context import resolve_start_node
    from graflow.distributed.handler_registry import publish_handlers
    from graflow.distributed.llm_services import publish_llm_services
    from graflow.distributed.queue import DistributedTaskQueue
    from graflow.distributed.records import SerializedTaskRecord
    from graflow.utils.redis_utils import redis_from_url

    if redis_client is None:
        from graflow.config import redis_url as default_url

        redis_client = redis_from_url(redis_url or default_url(defaults.REDIS_URL))
    graph = getattr(workflow_or_graph, "graph", workflow_or_graph)
    name = getattr(workflow_or_graph, "name", None)
    start = start_node or resolve_start_node(graph)
    own = getattr(workflow_or_graph, "handlers", None) or getattr(workflow_or_graph, "_handlers", None) or {}
    all_handlers = {**own, **(handlers or {})}

    queue = DistributedTaskQueue(redis_client, key_prefix=key_prefix, signer=signer)
    session = session_id or uuid.uuid4().hex
    graph_hash = queue.graph_store.save(graph)
    publish_handlers(redis_client, key_prefix, session, all_handlers, queue.signer)
    agents = getattr(workflow_or_graph, "_llm_agents", None) or {}
    publish_llm_services(redis_client, key_prefix, session, queue.signer, llm_client=llm_client, agents=agents)
    barrier_id = f"{RUN_BARRIER_PREFIX}{session}:{uuid.uuid4().hex[:8]}"
    GroupBarrier(redis_client, key_prefix, barrier_id).arm(1)
    entry_id = queue.enqueue_record(
        SerializedTaskRecord(
            task_id=start,
            session_id=session,
            graph_hash=graph_hash,
            trace_id=session,
            created_at=time.time(),
            group_id=barrier_id,
            workflow_name=name or f"workflow_{session[:8]}",
        )
    )
    run = WorkflowRun(
        session,
        start,
        barrier_id,
        redis_client,
        key_prefix,
        entry_id=entry_id,
        no_worker_warning_after=no_worker_warning_after,
        stream_key=queue.stream.stream_key,
    )
    return run.result(timeout) if wait else run


__all__ = [
    "RUN_BARRIER_PREFIX",
    "RUN_RESULT_KEY",
    "WorkflowRun",
    "WorkflowRunTimeoutError",
    "is_run_barrier",
    "run_result_key",
    "submit_workflow",
]
