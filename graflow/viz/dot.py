"""Graphviz output (DOT text, PNG) through pygraphviz, an optional dependency (``viz`` extra)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from graflow.viz.groups import container_view

PYGRAPHVIZ_HINT = "Install pygraphviz to draw graphs: `pip install pygraphviz`."
NODE_COLOR = "lightblue"
CLUSTER_STYLE = {
    "style": "filled",
    "fillcolor": "#f3e5f5",
    "color": "#4a148c",
    "penwidth": 2.5,
    "labeljust": "l",
    "labelloc": "t",
}
NODE_STYLE = {"style": "filled", "fontsize": 12, "fontname": "arial"}
EDGE_STYLE = {"fontsize": "10", "fontname": "arial"}


def _pygraphviz() -> Any:
    try:
        import pygraphviz
    except ImportError as exc:
        raise ImportError(PYGRAPHVIZ_HINT) from exc
    return pygraphviz


def create_agraph(
    graph: nx.DiGraph,
    node_labels: Mapping[Any, str] | None = None,
    node_colors: Mapping[Any, str] | None = None,
) -> Any:
    """Build a ``pygraphviz.AGraph`` of the task graph; parallel groups become clusters.

    Args:
        graph: A networkx DiGraph whose nodes may carry their task object as attribute ``task``.
        node_labels: Label per node (default: the node id).
        node_colors: Fill colour per node (default: light blue).

    Returns:
        The AGraph; edges to or from a group attach to its cluster (``lhead``/``ltail``).

    Raises:
        ImportError: pygraphviz is not installed.
    """
    pgv = _pygraphviz()
    if graph.number_of_nodes() == 0:
        empty = pgv.AGraph(directed=True)
        empty.add_node("Empty", label="Empty Graph", style="filled", fillcolor="lightgray")
        return empty
    labels, colors = node_labels or {}, node_colors or {}

    def node_attrs(node: Any) -> dict[str, Any]:
        label = labels.get(node, str(node))
        return {
            "label": f"<<B>{_html_escape(str(label))}</B>>",
            "fillcolor": colors.get(node, NODE_COLOR),
            **NODE_STYLE,
        }

    display, boxes = container_view(graph)
    agraph = pgv.AGraph(directed=True, nodesep=0.5, ranksep=1.2, compound=True)
    cluster_of: dict[Any, tuple[str, str]] = {}  # group id -> (cluster name, node that stands for the cluster)
    in_boxes: set[Any] = set()
    for index, box in enumerate(boxes):
        name = f"cluster_{index}"
        cluster = agraph.add_subgraph(name=name, label=box.label, **CLUSTER_STYLE)
        tasks = [t for t in box.tasks if t in display]
        for task in tasks:
            cluster.add_node(str(task), **node_attrs(task))
        if not tasks:  # an empty group still needs a node for its edges to attach to
            cluster.add_node(str(box.group_id), **node_attrs(box.group_id))
            tasks = [box.group_id]
        in_boxes.update(tasks)
        cluster_of[box.group_id] = (name, str(tasks[0]))
    for node in display.nodes():
        if node not in in_boxes and node not in cluster_of:
            agraph.add_node(str(node), **node_attrs(node))
    for u, v in display.edges():
        attrs = dict(EDGE_STYLE)
        tail, head = str(u), str(v)
        if u in cluster_of:
            attrs["ltail"], tail = cluster_of[u]
        if v in cluster_of:
            attrs["lhead"], head = cluster_of[v]
        agraph.add_edge(tail, head, **attrs)
    return agraph


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def draw_dot(
    graph: nx.DiGraph,
    node_labels: Mapping[Any, str] | None = None,
    node_colors: Mapping[Any, str] | None = None,
) -> str:
    """The task graph in Graphviz DOT format (see :func:`create_agraph`).

    Raises:
        ImportError: pygraphviz is not installed.
    """
    agraph = create_agraph(graph, node_labels=node_labels, node_colors=node_colors)
    try:
        return str(agraph.string())
    finally:
        agraph.close()


def draw_png(
    graph: nx.DiGraph,
    output_path: str | None = None,
    node_labels: Mapping[Any, str] | None = None,
    node_colors: Mapping[Any, str] | None = None,
) -> bytes | None:
    """Render the task graph to PNG with Graphviz ``dot``.

    Returns:
        The PNG bytes when ``output_path`` is None; otherwise the file is written and None is returned.

    Raises:
        ImportError: pygraphviz is not installed.
    """
    agraph = create_agraph(graph, node_labels=node_labels, node_colors=node_colors)
    try:
        data = agraph.draw(output_path, format="png", prog="dot")
        return bytes(data) if data is not None else None
    finally:
        agraph.close()
