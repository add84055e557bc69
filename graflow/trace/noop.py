"""The default tracer: sends nothing, still offers a runtime graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graflow.trace.base import Tracer

if TYPE_CHECKING:
    import networkx as nx

    from graflow.core.context import ExecutionContext


class NoopTracer(Tracer):
    """A tracer that outputs nothing.

    It is *passive*: the engine does not call it per task (that would cost on every task of every run). It keeps
    the run's record of completed tasks and builds the runtime graph only when someone asks for it.
    """

    passive = True

    def __init__(self, enable_runtime_graph: bool = True) -> None:
        super().__init__(enable_runtime_graph=enable_runtime_graph)
        self._runs: list[list[str]] = []

    def on_workflow_start(self, workflow_name: str, context: ExecutionContext) -> None:  # type: ignore[override]
        self.trace_id = getattr(context, "trace_id", None)
        completed = getattr(context, "completed_tasks", None)
        if isinstance(completed, list):
            self._runs.append(completed)  # the context appends to this list as tasks complete

    def on_workflow_end(  # type: ignore[override]
        self, workflow_name: str, context: ExecutionContext, result: Any = None
    ) -> None:
        return None

    def get_execution_order(self) -> list[str]:
        order = list(self._execution_order)
        for run in self._runs:
            order.extend(run)
        return order

    def get_runtime_graph(self) -> nx.DiGraph | None:
        graph = self._runtime_graph
        if graph is None:
            return None
        for run in self._runs:
            previous: str | None = None
            for task_id in run:
                graph.add_node(task_id, status="completed")
                if previous is not None and not graph.has_edge(previous, task_id):
                    graph.add_edge(previous, task_id, relation="next")
                previous = task_id
        self._execution_order.extend(t for run in self._runs for t in run)
        self._runs.clear()
        return graph


__all__ = ["NoopTracer"]
