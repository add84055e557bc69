"""Build the execution context a worker runs a task record in.

The context is an ordinary :class:`~graflow.core.context.ExecutionContext`: same engine, same handlers, but its
channel is the Redis channel of the producer's session, so results land where the producer reads them. The graph
comes from the content-addressed :class:`~graflow.distributed.graph_store.GraphStore`; workers keep recently used
graph objects in memory because unpickling a large graph per task would dominate the cost of small tasks. Sharing a
graph object between tasks is safe: a run copies its graph before its first change (D2).

A cached graph lives as long as it stays in the cache, so in a worker process (``graflow worker``) the cyclic
garbage collector is told not to look at it: after a load the collector's tracked objects are frozen
(``gc.freeze``). Otherwise every collection that follows
walks the whole new graph again (three passes, one per generation, each as long as the unpickling), and a large
graph makes every full collection slower for as long as it is kept; for a graph of 20,000 small tasks that cost a
worker more CPU than the tasks. Reference counting still frees frozen objects; evicting a graph (or clearing the
cache) unfreezes everything, so what has become cyclic garbage meanwhile is collected by the next full collection.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from graflow import defaults
from graflow.exceptions import GraflowRuntimeError

if TYPE_CHECKING:
    from graflow.channels.base import Channel
    from graflow.core.context import ExecutionContext
    from graflow.core.graph import TaskGraph
    from graflow.core.task import Executable
    from graflow.distributed.graph_store import GraphStore
    from graflow.distributed.llm_services import PublishedLLMServices
    from graflow.distributed.records import SerializedTaskRecord

#: How many graph objects a worker keeps.
GRAPH_OBJECT_CACHE_SIZE = 32
#: How often a worker refreshes the TTL of a graph it keeps using, in seconds.
GRAPH_TOUCH_INTERVAL = 300.0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects at once.

    Unpickling (or pickling) a graph of thousands of tasks allocates so many objects that the collector runs over
    and over, each pass walking everything allocated so far: it took half the time of loading a 20,000-task graph.
    Reference counting still frees what can be freed; the collector runs again afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class GraphCache:
    """An LRU of graph objects per graph hash, in front of a :class:`GraphStore`.

    A graph missing from the cache is loaded once even when several tasks of it start together: the others wait
    for that load instead of each unpickling their own copy (a large graph costs seconds).

    Args:
        size: Graph objects kept.
        freeze: Freeze the collector's tracked objects after each load and unfreeze them on eviction (see the
            module doc). It acts on the whole process, so it is for processes that are workers and nothing else:
            ``graflow worker`` / ``python -m graflow.worker.main`` turn it on; a worker embedded in another
            application (``TaskWorker`` made by hand, in-process workers) leaves it off, and loaded graphs stay
            under the collector's watch.
    """

    def __init__(self, size: int = GRAPH_OBJECT_CACHE_SIZE, *, freeze: bool = False) -> None:
        self.size = size
        self.freeze = freeze
        self._graphs: OrderedDict[tuple[int, str], tuple[TaskGraph, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[int, str], threading.Lock] = {}

    def load(self, graph_store: GraphStore, graph_hash: str) -> TaskGraph:
        """The graph stored under ``graph_hash`` (raises ``GraphNotFoundError`` when Redis has none)."""
        key = (id(graph_store), graph_hash)
        now = time.monotonic()
        with self._lock:
            hit = self._graphs.get(key)
            if hit is not None:
                self._graphs.move_to_end(key)
            else:
                loading = self._loading.setdefault(key, threading.Lock())
        if hit is not None:
            graph, touched = hit
            if now - touched > GRAPH_TOUCH_INTERVAL:
                graph_store.touch(graph_hash)  # keep the blob alive while a run still uses it (D26)
                with self._lock:
                    self._graphs[key] = (graph, now)
            return graph
        with loading:
            with self._lock:
                hit = self._graphs.get(key)
            if hit is not None:  # another task loaded it while this one waited
                return hit[0]
            try:
                if self.freeze:
                    gc.collect(1)  # young garbage goes now rather than being frozen with the graph
                with gc_paused():
                    loaded: TaskGraph = graph_store.load(graph_hash)
                    if self.freeze:
                        gc.freeze()  # kept for many tasks: out of the collector's sight (see the module doc)
                with self._lock:
                    self._graphs[key] = (loaded, now)
                    evicted = len(self._graphs) > self.size
                    while len(self._graphs) > self.size:
                        self._graphs.popitem(last=False)
                if evicted and self.freeze:
                    gc.unfreeze()  # the evicted graph (and any cyclic garbage frozen with it) can be collected
            finally:
                with self._lock:
                    self._loading.pop(key, None)
        return loaded

    def clear(self) -> None:
        """Forget every cached graph."""
        with self._lock:
            self._graphs.clear()
        if self.freeze:
            gc.unfreeze()


_default_cache = GraphCache()


class ExecutionContextFactory:
    """Creates worker-side contexts from task records (upstream name and signature)."""

    @staticmethod
    def create_from_record(
        record: SerializedTaskRecord,
        graph_store: GraphStore,
        *,
        tracer: Any = None,
        handlers: dict[str, Any] | None = None,
        hooks: list[Any] | None = None,
        graph_cache: GraphCache | None = None,
        result_ttl: float | None = defaults.RESULT_TTL_SECONDS,
        fence: tuple[str, str, str, str] | None = None,
        channel: Channel | None = None,
        graph: TaskGraph | None = None,
        llm_services: PublishedLLMServices | None = None,
    ) -> tuple[ExecutionContext, Executable]:
        """A context for ``record`` and the task to run in it.

        Args:
            record: The verified task record.
            graph_store: Store holding the record's graph; its Redis client and prefix also serve the channel.
            tracer: The worker's tracer (default: the no-op tracer).
            handlers: Task handlers by name (D15), merged into the run's registry.
            hooks: Extra engine hooks.
            graph_cache: Cache of graph objects (default: one per process).
            result_ttl: Lifetime in seconds of channel keys the task writes (D26); None keeps them.
            fence: ``(stream_key, group, entry_id, consumer)`` of the delivery: the channel then refuses writes
                once the delivery lost its lease (:class:`~graflow.distributed.fenced_channel.FencedRedisChannel`).
            channel: The channel to run with, ready-made (a worker reuses one per session); overrides ``fence``.
            graph: The record's graph when the caller loaded it already.
            llm_services: The LLM client and agent factories the record's session published: the context gets the
                client, and an agent from each factory, called with the context.

        Raises:
            GraphNotFoundError: The graph blob is missing (never stored, or expired).
            BadSignatureError: The graph blob's signature does not verify.
            GraflowRuntimeError: The task is not a node of the graph.
        """
        from graflow.core.context import ExecutionContext

        if graph is None:
            graph = (graph_cache or _default_cache).load(graph_store, record.graph_hash)
        if record.task_id not in graph:
            raise GraflowRuntimeError(
                f"Task '{record.task_id}' is not a node of graph {record.graph_hash[:12]}; the producer and the "
                "record disagree"
            )
        config: dict[str, Any] = {"redis_client": graph_store.redis, "key_prefix": graph_store.key_prefix}
        if result_ttl is not None:
            config["default_ttl"] = result_ttl
        if channel is None and fence is not None:
            from graflow.distributed.fenced_channel import FencedRedisChannel

            channel = FencedRedisChannel(record.session_id, fence=fence, **config)
        ctx = ExecutionContext(
            graph,
            start_node=record.task_id,
            channel_backend="redis",
            config=config,
            session_id=record.session_id,
            trace_id=record.trace_id,
            tracer=tracer,
            workflow_name=record.workflow_name,
            handlers=handlers,
            hooks=hooks,
            channel=channel,
        )
        ctx.graph_hash = record.graph_hash
        # A group member is one task of the producer's run: the run's start and end are the producer's to report.
        # A whole workflow submitted to the workers is a run of its own.
        ctx.workflow_events = record.group_id is None
        if llm_services is not None:
            llm_services.install(ctx)
        return ctx, graph.get_node(record.task_id)


__all__ = ["GRAPH_OBJECT_CACHE_SIZE", "ExecutionContextFactory", "GraphCache", "gc_paused"]
