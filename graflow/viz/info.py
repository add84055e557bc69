"""Plain-text summaries of a task graph, the reachable subgraph, and the matplotlib picture."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import networkx as nx

from graflow.core.graph import simple_cycles
from graflow.viz.groups import group_member_ids, is_parallel_group

MATPLOTLIB_HINT = "Install matplotlib to draw task graphs: `pip install graflow[viz]` (or `pip install matplotlib`)."


def cycles_line(graph: nx.DiGraph) -> str:
    """``"Cycles detected: [[...], ...]"`` or ``"No cycles detected"``, as upstream prints it (stable order)."""
    cycles = simple_cycles(graph)
    return f"Cycles detected: {cycles}" if cycles else "No cycles detected"


def dependency_lines(graph: nx.DiGraph) -> list[str]:
    """One line per node: ``"node >> s1 >> s2"`` (its successors) or ``"node (no dependencies)"``."""
    lines = []
    for node in graph.nodes():
        successors = list(graph.successors(node))
        if successors:
            lines.append(f"{node} >> {' >> '.join(str(s) for s in successors)}")
        else:
            lines.append(f"{node} (no dependencies)")
    return lines


def show_graph_info(graph: nx.DiGraph) -> None:
    """Print ``=== Graph Information ===``, the node list, the edge list and the cycles line."""
    print("=== Graph Information ===")
    print(f"Nodes: {list(graph.nodes())}")
    print(f"Edges: {list(graph.edges())}")
    print(cycles_line(graph))


def visualize_dependencies(graph: nx.DiGraph) -> None:
    """Print ``=== Dependencies ===`` and one dependency line per node (see :func:`dependency_lines`)."""
    print("=== Dependencies ===")
    for line in dependency_lines(graph):
        print(line)


def build_graph(start_executable: Any, context: Any = None) -> nx.DiGraph:
    """The part of a workflow's graph reachable from ``start_executable``, as a new networkx DiGraph.

    Reachable means: following edges forwards, and from a parallel group into its members. Node attributes (the
    ``task`` object) and edge attributes are copied; the workflow's graph is not changed.

    Args:
        start_executable: A task (anything with ``task_id``) or a node id.
        context: The workflow to read: a ``WorkflowContext`` (its ``graph``), a ``TaskGraph``, or a networkx
            DiGraph. Defaults to the current workflow context.

    Returns:
        The reachable subgraph. A start task that is not in the graph gives a one-node graph.
    """
    source = _nx_graph(context)
    start_id = getattr(start_executable, "task_id", start_executable)
    result: nx.DiGraph = nx.DiGraph()
    if start_id not in source:
        result.add_node(start_id, task=start_executable)
        return result
    seen: set[Hashable] = {start_id}
    stack = [start_id]
    while stack:
        node = stack.pop()
        task = source.nodes[node].get("task")
        nexts = list(source.successors(node))
        if is_parallel_group(task):
            nexts += [m for m in group_member_ids(task) if m in source]
        for nxt in nexts:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    # Keep the source's node order, which is the order tasks were defined in.
    kept = [n for n in source.nodes() if n in seen]
    result.add_nodes_from((n, source.nodes[n]) for n in kept)
    result.add_edges_from((u, v, d) for u, v, d in source.edges(kept, data=True) if v in seen)
    return result


def _nx_graph(context: Any) -> nx.DiGraph:
    if context is None:
        from graflow.core.workflow import current_workflow_context  # the engine imports viz, not the other way round

        context = current_workflow_context()
    if isinstance(context, nx.DiGraph):
        return context
    holder = getattr(context, "graph", context)
    if isinstance(holder, nx.DiGraph):
        return holder
    nx_graph = getattr(holder, "nx_graph", None)
    if callable(nx_graph):
        graph = nx_graph()
        if isinstance(graph, nx.DiGraph):
            return graph
    raise TypeError(
        f"build_graph needs a WorkflowContext, a TaskGraph or a networkx DiGraph, not {type(context).__name__}"
    )


def layered_positions(graph: nx.DiGraph) -> dict[Hashable, tuple[float, float]]:
    """``{node: (x, y)}`` from the layered layout, first layer at the top (y decreasing downwards)."""
    from graflow.viz.layout import layered_layout

    nodes = list(graph.nodes())
    if not nodes:
        return {}
    index = {node: i for i, node in enumerate(nodes)}
    layout = layered_layout([len(str(n)) + 4 for n in nodes], [(index[u], index[v]) for u, v in graph.edges()])
    return {node: (float(layout.center(i)), -4.0 * layout.layer[i]) for node, i in index.items()}
