"""``wf.graph`` (a TaskGraph) reads like the ``networkx.DiGraph`` it wrapped in Graflow 0.2 (spec 2.5).

0.2 programs read ``wf.graph.nodes`` as a networkx NodeView (``keys()``, ``items()``, ``nodes[n]["task"]``), reached
for the wrapped graph as ``wf.graph._graph``, and asked ``wf.graph.nx_graph()`` for a networkx graph.
"""

from __future__ import annotations

import networkx as nx

from graflow import task, workflow
from graflow.core.digraph import DiGraph
from graflow.core.graph import TaskGraph
from graflow.core.task import ParallelGroup, TaskWrapper


def build_diamond() -> tuple[TaskGraph, dict[str, TaskWrapper]]:
    """``load >> (count | longest) >> report`` plus ``load >> audit``, built with the DSL as the README does.

    Every task is a node; the group is a node of its own, and its members have no edges.
    """
    with workflow("diamond") as wf:

        @task
        def load() -> str:
            return "a bb ccc"

        @task
        def count() -> int:
            return 3

        @task
        def longest() -> str:
            return "ccc"

        @task
        def report() -> None:
            return None

        @task
        def audit() -> None:
            return None

        load >> (count | longest) >> report
        load >> audit
    return wf.graph, {t.task_id: t for t in (load, count, longest, report, audit)}


def test_nodes_is_a_networkx_style_mapping_of_task_ids_to_attributes() -> None:
    # given a graph built with @task, >> and |
    graph, tasks = build_diamond()
    nodes = graph.nodes
    group = next(n for n in nodes if n.startswith("ParallelGroup_"))
    expected = ["load", "count", "longest", "report", "audit", group]
    # then nodes reads as networkx's NodeView does
    assert list(nodes.keys()) == list(nodes) == list(graph.nodes()) == expected
    assert nodes["load"]["task"] is tasks["load"]
    assert isinstance(nodes[group]["task"], ParallelGroup)
    assert [t for t, _ in nodes.items()] == expected and nodes.items() == dict(nodes.items()).items()
    assert [attrs["task"].task_id for attrs in nodes.values()] == expected
    assert list(nodes(data=True)) == [(n, {"task": graph.get_node(n)}) for n in expected]
    assert list(nodes(data="task")) == [(n, graph.get_node(n)) for n in expected]
    assert list(nodes.data("missing", default=0)) == [(n, 0) for n in expected]
    assert "load" in nodes and "missing" not in nodes and len(nodes) == 6
    assert nodes == graph.nx_graph().nodes
    assert str(nodes) == str(expected) and repr(nodes) == f"NodeView({tuple(expected)!r})"


def test_edges_degrees_and_neighbours_read_like_networkx() -> None:
    graph, _ = build_diamond()
    reference = graph.nx_graph()
    group = next(n for n in graph.nodes if n.startswith("ParallelGroup_"))
    assert list(graph.edges) == list(reference.edges) == [("load", group), ("load", "audit"), (group, "report")]
    assert list(graph.edges(data=True)) == list(reference.edges(data=True))
    assert list(graph.edges("load")) == [("load", group), ("load", "audit")]
    assert graph.edges["load", "audit"] == {} and ("load", "audit") in graph.edges and len(graph.edges) == 3
    assert list(graph.in_edges("report")) == [(group, "report")] == list(graph.out_edges(group))
    assert graph.in_degree("load") == 0 and graph.in_degree["report"] == 1 and graph.out_degree("load") == 2
    assert dict(graph.in_degree()) == dict(reference.in_degree()) and list(graph.out_degree) == list(
        reference.out_degree
    )
    assert dict(graph.degree) == {"load": 2, "count": 0, "longest": 0, "report": 1, "audit": 1, group: 2}
    assert graph.successors("load") == [group, "audit"] and graph.predecessors("report") == [group]
    assert list(graph.neighbors("load")) == [group, "audit"]
    assert graph.has_edge("load", "audit") and not graph.has_edge("audit", "load")
    assert graph.has_node("count") and not graph.has_node("missing")
    assert graph.number_of_nodes() == 6 and graph.number_of_edges() == 3 and graph.number_of_edges("load", group) == 1
    assert dict(graph.adj["load"]) == {group: {}, "audit": {}} and list(graph.pred["report"]) == [group]
    assert list(graph.succ) == list(graph.nodes)


def test_the_wrapped_graph_is_reachable_as_underscore_graph_with_the_networkx_api() -> None:
    graph, tasks = build_diamond()
    inner = graph._graph
    assert isinstance(inner, DiGraph) and inner is graph.digraph
    assert list(inner.nodes()) == list(graph.nodes)
    assert inner.nodes["audit"]["task"] is tasks["audit"]
    assert list(inner.nodes.keys()) == list(graph.nodes.keys())
    assert list(inner.successors("load")) == graph.successors("load")
    assert inner.in_degree("report") == 1 and dict(inner.out_degree())["load"] == 2
    assert inner.has_node("load") and not inner.has_node("missing")
    assert str(inner) == "DiGraph with 6 nodes and 3 edges"


def test_nx_graph_is_a_networkx_digraph_with_the_same_nodes_edges_and_tasks() -> None:
    graph, tasks = build_diamond()
    reference = graph.nx_graph()
    assert isinstance(reference, nx.DiGraph)
    assert list(reference.nodes) == list(graph.nodes)
    assert reference.nodes["load"]["task"] is tasks["load"]
    assert list(reference.edges) == list(graph.edges)
    assert next(iter(nx.topological_sort(reference))) == "load"


def test_networkx_algorithms_accept_the_wrapped_graph() -> None:
    # 0.2 programs passed wf.graph._graph (then a networkx.DiGraph) straight to networkx functions
    graph, _ = build_diamond()
    group = next(n for n in graph.nodes if n.startswith("ParallelGroup_"))
    assert nx.descendants(graph._graph, "load") == {group, "report", "audit"}
    assert nx.is_directed_acyclic_graph(graph._graph)
    order = list(nx.topological_sort(graph._graph))
    assert order.index("load") < order.index(group) < order.index("report")


def test_views_follow_later_changes_and_renames() -> None:
    # given views taken before the graph changes
    graph, _ = build_diamond()
    nodes, edges, in_degree = graph.nodes, graph.edges, graph.in_degree
    group = next(n for n in nodes if n.startswith("ParallelGroup_"))
    # when a node is renamed and another added
    graph.rename_node(group, "stats")
    graph.add_node(TaskWrapper("extra", lambda: None, register_to_context=False))
    graph.add_edge("audit", "extra")
    # then the old views show the current graph; the renamed node keeps its place
    assert list(nodes) == ["load", "count", "longest", "report", "audit", "stats", "extra"]
    assert list(edges) == [("load", "audit"), ("load", "stats"), ("audit", "extra"), ("stats", "report")]
    assert in_degree("extra") == 1 and in_degree("stats") == 1
    assert graph.nx_graph().has_edge("load", "stats")


def test_start_node_detection_still_skips_group_members() -> None:
    graph, _ = build_diamond()
    assert graph.get_start_nodes() == ["load"]
