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
        self._runs: list[tuple[str, list[str]]] = []

    def on_workflow_start(self, workflow_name: str, context: ExecutionContext) -> None:  # type: ignore[override]
        self.trace_id = getattr(context, "trace_id", None)
        completed = getattr(context, "execution_log", None)
        if isinstance(completed, list):
            self._runs.append((workflow_name, completed))  # the context appends to this list as tasks complete

    def on_workflow_end(  # type: ignore[override]
        self, workflow_name: str, context: ExecutionContext, result: Any = None
    ) -> None:
        return None

    def get_execution_order(self) -> list[str]:
        order = list(self._execution_order)
        for name, run in self._runs:
            order.append(name)
            order.extend(run)
        return order

    def get_runtime_graph(self) -> nx.DiGraph | None:
        graph = self._runtime_graph
        if graph is None:
            return None
        for name, run in self._runs:
            # the workflow is the root and every task a child of it, as an active tracer records them
            graph.add_node(name, status="completed", kind="workflow")
            for task_id in run:
                graph.add_node(task_id, status="completed")
                if not graph.has_edge(name, task_id):
                    graph.add_edge(name, task_id, relation="parent")
        self._execution_order.extend(self.get_execution_order()[len(self._execution_order):])
        self._runs.clear()
        return graph


__all__ = ["NoopTracer"]
