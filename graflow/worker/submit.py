"""Run a whole workflow on the workers, not only its parallel groups.

``submit_workflow`` stores the graph, publishes the handlers, and enqueues one record for the start node under a
one-member barrier whose id starts with ``run:``. A worker runs the engine loop from that node exactly as a local
run would (successors, retries, cycles, dynamic tasks; groups configured for Redis are distributed again), stores
the run's return value in the Redis channel of the run's session, and completes the barrier. The caller gets a
:class:`WorkflowRun` handle whose :meth:`~WorkflowRun.result` waits for it and returns the value, or raises the
run's error.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from graflow import defaults
from graflow.exceptions import GraflowRuntimeError

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


@dataclass
class WorkflowRun:
    """A workflow submitted to the workers.

    Attributes:
        session_id: The run's session; its channel is ``{prefix}:channel:{session_id}:*``.
        start_node: The node the run started from.
        barrier_id: Id of the run's one-member barrier.
    """

    session_id: str
    start_node: str
    barrier_id: str
    redis_client: Any
    key_prefix: str

    def _barrier(self) -> Any:
        from graflow.coordination.barrier import GroupBarrier

        return GroupBarrier(self.redis_client, self.key_prefix, self.barrier_id)

    def done(self) -> bool:
        """Whether the run finished (successfully or not)."""
        return bool(self._barrier().completed_count() >= 1)

    def channel(self) -> Any:
        """The run's Redis channel (read the tasks' results from it)."""
        from graflow.channels.redis_channel import RedisChannel

        return RedisChannel(self.session_id, redis_client=self.redis_client, key_prefix=self.key_prefix)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the run and return what ``WorkflowEngine.execute`` returned on the worker.

        Args:
            timeout: Seconds to wait; None waits until the run finished or was dead-lettered.

        Raises:
            BarrierTimeoutError: The run did not finish in time.
            GraflowRuntimeError: The run failed; the worker's exception is the cause when it could travel.
        """
        completions = self._barrier().wait([self.start_node], timeout)
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
) -> Any:
    """Run a workflow on the workers listening on ``key_prefix``.

    Args:
        workflow_or_graph: A ``WorkflowContext`` (from ``with workflow(...)``) or a ``TaskGraph``.
        start_node: Where to start; auto-detected like a local run when None.
        redis_client: Client of the workers' Redis (or give ``redis_url``).
        redis_url: ``redis://``/``rediss://`` URL, used when no client is given (default ``GRAFLOW_REDIS_URL``).
        key_prefix: The workers' ``--redis-key-prefix``.
        wait: True returns the run's result; False returns a :class:`WorkflowRun` at once.
        timeout: With ``wait``, seconds to wait (None: until the run finished or was dead-lettered).
        session_id: The run's session id (default: a new one).
        handlers: Task handlers for the run, merged over the workflow's (D15).
        signer: Payload signer (default: ``GRAFLOW_SECRET_KEY``, else unsigned on loopback only).

    Returns:
        The run's result when ``wait`` is True, else a :class:`WorkflowRun`.

    Raises:
        ConfigError: Unsigned payloads on a non-loopback Redis (D20).
        GraphCompilationError: No start node given and none could be detected.
    """
    from graflow.coordination.barrier import GroupBarrier
    from graflow.coordination.records import SerializedTaskRecord
    from graflow.core.context import resolve_start_node
    from graflow.queue.distributed import DistributedTaskQueue
    from graflow.utils.redis_utils import redis_from_url
    from graflow.worker.handler_registry import publish_handlers

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
    barrier_id = f"{RUN_BARRIER_PREFIX}{session}:{uuid.uuid4().hex[:8]}"
    GroupBarrier(redis_client, key_prefix, barrier_id).arm(1)
    queue.enqueue_record(
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
    run = WorkflowRun(session, start, barrier_id, redis_client, key_prefix)
    return run.result(timeout) if wait else run


__all__ = [
    "RUN_BARRIER_PREFIX",
    "RUN_RESULT_KEY",
    "WorkflowRun",
    "is_run_barrier",
    "run_result_key",
    "submit_workflow",
]
