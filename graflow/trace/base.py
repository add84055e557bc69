"""The tracer base class (spec section 11).

A tracer is an engine hook that turns workflow and task events into traces and spans, and keeps a runtime graph
of what ran. Subclasses send the spans somewhere by overriding the ``_output_*`` methods.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from graflow.core.hooks import EngineHook

if TYPE_CHECKING:
    import networkx as nx

    from graflow.core.context import ExecutionContext


def _task_type(task: Any) -> str:
    return type(task).__name__


class Tracer(EngineHook):
    """Base tracer: records spans in a runtime graph and calls the output hooks.

    Args:
        enable_runtime_graph: Keep a networkx graph of the spans that ran (``get_runtime_graph``).
    """

    def __init__(self, enable_runtime_graph: bool = True) -> None:
        self.enable_runtime_graph = enable_runtime_graph
        self._runtime_graph_obj: nx.DiGraph | None = None  # created on first use: networkx is imported lazily
        self._execution_order: list[str] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._span_starts: dict[str, float] = {}
        self._trace_name: str | None = None
        self._trace_start: float | None = None
        self.trace_id: str | None = None
        self.parent_span_id: str | None = None

    @property
    def _runtime_graph(self) -> nx.DiGraph | None:
        if not self.enable_runtime_graph:
            return None
        if self._runtime_graph_obj is None:
            import networkx as nx

            self._runtime_graph_obj = nx.DiGraph()
        return self._runtime_graph_obj

    # -- span stack (per thread: parallel members run in threads) ---------------------------------------------------
    def _stack(self) -> list[str]:
        stack: list[str] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = []
            self._local.stack = stack
        return stack

    def get_current_span_id(self) -> str | None:
        """The id (name) of the innermost open span on this thread."""
        stack = self._stack()
        return stack[-1] if stack else self.parent_span_id

    # -- engine hooks (positional-or-keyword, upstream names) -------------------------------------------------------
    def on_workflow_start(self, workflow_name: str, context: ExecutionContext) -> None:  # type: ignore[override]
        """Start a trace for a root run."""
        self.trace_start(workflow_name, trace_id=getattr(context, "trace_id", None))

    def on_workflow_end(  # type: ignore[override]
        self, workflow_name: str, context: ExecutionContext, result: Any = None
    ) -> None:
        """End the root run's trace."""
        self.trace_end(workflow_name, output=result)

    def on_task_queued(self, task: Any, context: ExecutionContext) -> None:  # type: ignore[override]
        """A task was queued (no span)."""

    def on_task_start(self, task: Any, context: ExecutionContext) -> None:  # type: ignore[override]
        """Open a span for the task."""
        metadata = {"task_type": _task_type(task), "handler_type": getattr(task, "handler_type", "direct")}
        self.span_start(task.task_id, parent_name=self.get_current_span_id(), metadata=metadata)

    def on_task_end(  # type: ignore[override]
        self, task: Any, context: ExecutionContext, result: Any = None, error: BaseException | None = None
    ) -> None:
        """Close the task's span."""
        metadata = {"error": str(error)} if error is not None else None
        self.span_end(task.task_id, output=result, metadata=metadata)

    def on_dynamic_task_added(  # type: ignore[override]
        self,
        task_id: str,
        parent_task_id: str | None = None,
        is_iteration: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record a task added at run time as an event."""
        meta = {"parent_task_id": parent_task_id, "is_iteration": is_iteration, **(metadata or {})}
        self.event("iteration_task_added" if is_iteration else "dynamic_task_added", parent_span=parent_task_id,
                   metadata={"task_id": task_id, **meta})
        if self._runtime_graph is not None:
            with self._lock:
                self._runtime_graph.add_node(task_id, status="queued", is_iteration=is_iteration)
                if parent_task_id is not None:
                    self._runtime_graph.add_edge(parent_task_id, task_id, relation="dynamic")

    def on_parallel_group_start(  # type: ignore[override]
        self, group_id: str, member_ids: list[str], context: ExecutionContext
    ) -> None:
        """Record the group start as an event."""
        self.event("parallel_group_start", parent_span=group_id, metadata={"group_id": group_id,
                                                                           "member_ids": list(member_ids)})

    def on_parallel_group_end(  # type: ignore[override]
        self, group_id: str, member_ids: list[str], context: ExecutionContext, results: dict[str, Any] | None = None
    ) -> None:
        """Record the group end as an event."""
        failed = [k for k, r in (results or {}).items() if not getattr(r, "success", True)]
        self.event("parallel_group_end", parent_span=group_id,
                   metadata={"group_id": group_id, "member_ids": list(member_ids), "failed": failed})

    # -- primitives -------------------------------------------------------------------------------------------------
    def trace_start(self, name: str, trace_id: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        """Begin a trace (one per root workflow run)."""
        self.trace_id = trace_id or self.trace_id or uuid.uuid4().hex
        self._trace_name = name
        with self._lock:
            self._execution_order.append(name)  # the workflow is the root of the runtime graph
            graph = self._runtime_graph
            if graph is not None:
                graph.add_node(name, status="running", kind="workflow", start_time=time.time())
        self._trace_start = time.perf_counter()
        self._output_trace_start(name, self.trace_id, metadata)

    def trace_end(self, name: str, output: Any = None, metadata: dict[str, Any] | None = None) -> None:
        """End the current trace."""
        start = self._trace_start
        duration_ms = (time.perf_counter() - start) * 1000 if start is not None else 0.0
        graph = self._runtime_graph if self.enable_runtime_graph else None
        if graph is not None and name in graph:
            graph.nodes[name]["status"] = "completed"
            graph.nodes[name]["duration_ms"] = duration_ms
        self._output_trace_end(name, output, {**(metadata or {}), "duration_ms": duration_ms})

    def span_start(self, name: str, parent_name: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        """Open a span named ``name`` under ``parent_name`` (default: the current span)."""
        parent = parent_name if parent_name is not None else self.get_current_span_id()
        if parent is None:
            parent = self._trace_name
        self._stack().append(name)
        with self._lock:
            self._execution_order.append(name)
            graph = self._runtime_graph
            if graph is not None:
                graph.add_node(name, status="running", start_time=time.time(), **(metadata or {}))
                if parent is not None and parent != name:
                    graph.add_edge(parent, name, relation="parent")
            self._span_starts[name] = time.perf_counter()  # after the bookkeeping: it is not the task's time
        self._output_span_start(name, parent, metadata)

    def span_end(self, name: str, output: Any = None, metadata: dict[str, Any] | None = None) -> None:
        """Close the span named ``name``."""
        stack = self._stack()
        if name in stack:
            del stack[len(stack) - 1 - stack[::-1].index(name)]
        with self._lock:
            start = self._span_starts.pop(name, None)
            duration_ms = (time.perf_counter() - start) * 1000 if start is not None else 0.0
            if self._runtime_graph is not None and name in self._runtime_graph:
                node = self._runtime_graph.nodes[name]
                node["status"] = "failed" if metadata and metadata.get("error") else "completed"
                node["duration_ms"] = duration_ms
        self._output_span_end(name, output, {**(metadata or {}), "duration_ms": duration_ms})

    def event(self, name: str, parent_span: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        """Record a point-in-time event."""
        self._output_event(name, parent_span, metadata)

    # -- distribution and branches ----------------------------------------------------------------------------------
    def attach_to_trace(self, trace_id: str, parent_span_id: str | None = None) -> None:
        """Continue an existing trace (a worker running a producer's task)."""
        self.trace_id = trace_id
        self.parent_span_id = parent_span_id
        self._output_attach_to_trace(trace_id, parent_span_id)

    def clone(self, trace_id: str) -> Tracer:
        """A tracer for a branch of the same trace. The base class shares itself: it is thread-safe."""
        return self

    def flush(self) -> None:
        """Send buffered spans."""

    def shutdown(self) -> None:
        """Flush and release resources."""
        self.flush()

    # -- inspection -------------------------------------------------------------------------------------------------
    def get_runtime_graph(self) -> nx.DiGraph | None:
        """The graph of spans that ran (None when disabled)."""
        return self._runtime_graph

    def get_execution_order(self) -> list[str]:
        """Span names in the order they started."""
        return list(self._execution_order)

    def export_runtime_graph(self, format: str = "dict") -> Any:  # noqa: A002 - upstream name
        """The runtime graph as ``dict``, ``json`` text or ``graphml`` text."""
        graph = self.get_runtime_graph()
        if graph is None:
            return None
        if format == "dict":
            return {
                "nodes": [{"id": n, **graph.nodes[n]} for n in graph.nodes],
                "edges": [{"source": u, "target": v, **d} for u, v, d in graph.edges(data=True)],
                "execution_order": self.get_execution_order(),
            }
        if format == "json":
            return json.dumps(self.export_runtime_graph("dict"), default=str, indent=2)
        if format == "graphml":
            import networkx as nx

            clean = nx.DiGraph()
            for n, d in graph.nodes(data=True):
                clean.add_node(n, **{k: str(v) for k, v in d.items()})
            for u, v, d in graph.edges(data=True):
                clean.add_edge(u, v, **{k: str(x) for k, x in d.items()})
            return "\n".join(nx.generate_graphml(clean))
        raise ValueError(f"Unsupported export format: {format!r} (use 'dict', 'json' or 'graphml')")

    # -- output hooks for subclasses --------------------------------------------------------------------------------
    def _output_trace_start(self, name: str, trace_id: str | None, metadata: dict[str, Any] | None) -> None:
        pass

    def _output_trace_end(self, name: str, output: Any, metadata: dict[str, Any] | None) -> None:
        pass

    def _output_span_start(self, name: str, parent_name: str | None, metadata: dict[str, Any] | None) -> None:
        pass

    def _output_span_end(self, name: str, output: Any, metadata: dict[str, Any] | None) -> None:
        pass

    def _output_event(self, name: str, parent_span: str | None, metadata: dict[str, Any] | None) -> None:
        pass

    def _output_attach_to_trace(self, trace_id: str, parent_span_id: str | None) -> None:
        pass


__all__ = ["Tracer"]
