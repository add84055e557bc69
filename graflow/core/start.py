"""What a run starts from: the graph a context accepts, and the start node when none is named (D4)."""

from __future__ import annotations

from typing import Any

from graflow.core.graph import TaskGraph
from graflow.exceptions import GraphCompilationError


def _as_task_graph(graph: Any) -> TaskGraph:
    """``graph`` as a TaskGraph: a TaskGraph itself, or a networkx DiGraph whose nodes carry a ``task``."""
    if isinstance(graph, TaskGraph):
        return graph
    if hasattr(graph, "nodes") and hasattr(graph, "edges") and hasattr(graph, "is_directed"):
        converted = TaskGraph()
        for node_id, data in graph.nodes(data=True):
            task = data.get("task")
            if task is None:
                raise TypeError(f"Node '{node_id}' of the networkx graph has no 'task' attribute to run")
            converted.add_node(task, str(node_id))
        for u, v in graph.edges():
            converted.add_edge(str(u), str(v))
        return converted
    hint = " (pass wf.graph)" if isinstance(getattr(graph, "graph", None), TaskGraph) else ""
    raise TypeError(f"ExecutionContext needs a TaskGraph, got {type(graph).__name__}{hint}")


def resolve_start_node(graph: TaskGraph) -> str:
    """D4 start-node detection. Raises GraphCompilationError with upstream's messages."""
    candidates = graph.get_start_nodes()
    # D4 keeps upstream's messages; the details a user needs go into the error's notes (shown in tracebacks).
    if not candidates:
        error = GraphCompilationError("No start node specified and no nodes with no predecessors found.")
        error.add_note("The graph is empty." if len(graph) == 0
                       else "Every node has a predecessor (a loop): pass the start node to execute().")
        raise error
    if len(candidates) > 1:
        shown = ", ".join(candidates[:10]) + (f" (+{len(candidates) - 10} more)" if len(candidates) > 10 else "")
        error = GraphCompilationError("Multiple start nodes found, please specify one.")
        error.add_note(f"Candidates: {shown}. Pass one to execute(), or connect the others.")
        raise error
    return candidates[0]


__all__ = ["resolve_start_node"]
