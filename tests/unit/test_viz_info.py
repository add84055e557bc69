"""Text summaries, build_graph, the optional renderers (matplotlib, pygraphviz) and import hygiene (D25)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from graflow.utils import graph as upstream_path
from graflow.viz.dot import create_agraph, draw_dot, draw_png
from graflow.viz.info import (
    build_graph,
    cycles_line,
    dependency_lines,
    layered_positions,
    show_graph_info,
    visualize_dependencies,
)
from graflow.viz.matplotlib_draw import draw_task_graph


class Step:
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id


class Group:
    is_parallel_group = True

    def __init__(self, task_id: str, members: list[Any]) -> None:
        self.task_id = task_id
        self.tasks = members


def a_then_b_or_c_then_d() -> nx.DiGraph:
    graph = nx.DiGraph()
    for name in "abcd":
        graph.add_node(name, task=Step(name))
    graph.add_node("ParallelGroup_1", task=Group("ParallelGroup_1", [Step("b"), Step("c")]))
    graph.add_edge("a", "ParallelGroup_1")
    graph.add_edge("ParallelGroup_1", "d")
    return graph


# -------------------------------------------------------------------------------------------------------- summaries


def test_show_graph_info_prints_nodes_edges_and_cycles(capsys: pytest.CaptureFixture[str]) -> None:
    show_graph_info(nx.DiGraph([("agent", "tool"), ("tool", "agent"), ("tool", "done")]))

    assert capsys.readouterr().out == (
        "=== Graph Information ===\n"
        "Nodes: ['agent', 'tool', 'done']\n"
        "Edges: [('agent', 'tool'), ('tool', 'agent'), ('tool', 'done')]\n"
        "Cycles detected: [['agent', 'tool']]\n"
    )


def test_show_graph_info_without_cycles(capsys: pytest.CaptureFixture[str]) -> None:
    show_graph_info(nx.DiGraph([("a", "b")]))

    assert capsys.readouterr().out.endswith("Edges: [('a', 'b')]\nNo cycles detected\n")


def test_visualize_dependencies_lists_successors_of_each_node(capsys: pytest.CaptureFixture[str]) -> None:
    visualize_dependencies(nx.DiGraph([("s", "p"), ("s", "q"), ("p", "m")]))

    assert capsys.readouterr().out == (
        "=== Dependencies ===\ns >> p >> q\np >> m\nq (no dependencies)\nm (no dependencies)\n"
    )


def test_cycles_are_listed_in_definition_order_whatever_the_hash_seed() -> None:
    code = (
        "import networkx as nx\n"
        "from graflow.viz.info import cycles_line\n"
        "g = nx.DiGraph([('w', 'x'), ('x', 'w'), ('x', 'y'), ('y', 'z'), ('z', 'x'), ('a', 'b'), ('b', 'a')])\n"
        "print(cycles_line(g))\n"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=root,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(6)
    }

    assert outputs == {"Cycles detected: [['w', 'x'], ['x', 'y', 'z'], ['a', 'b']]\n"}


def test_line_helpers_match_the_printed_lines() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "a")])

    assert cycles_line(graph) == "Cycles detected: [['a', 'b']]"
    assert dependency_lines(graph) == ["a >> b", "b >> a"]
    assert cycles_line(nx.DiGraph()) == "No cycles detected"


# ------------------------------------------------------------------------------------------------------ build_graph


def test_build_graph_keeps_what_is_reachable_including_group_members() -> None:
    # given a >> (b | c) >> d plus an unrelated x >> y
    source = a_then_b_or_c_then_d()
    source.add_edge("x", "y")

    sub = build_graph(source.nodes["a"]["task"], source)

    assert list(sub.nodes) == ["a", "b", "c", "d", "ParallelGroup_1"]
    assert list(sub.edges) == [("a", "ParallelGroup_1"), ("ParallelGroup_1", "d")]
    assert sub.nodes["b"]["task"] is source.nodes["b"]["task"]
    assert source.has_node("x")  # the source graph is untouched


def test_build_graph_from_the_middle_leaves_out_predecessors() -> None:
    source = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "b")])

    sub = build_graph("b", source)

    assert sorted(sub.nodes) == ["b", "c"]
    assert sorted(sub.edges) == [("b", "c"), ("c", "b")]


def test_build_graph_reads_a_workflow_like_object_and_an_unknown_start() -> None:
    class Holder:  # a TaskGraph-like wrapper
        def __init__(self, graph: nx.DiGraph) -> None:
            self._graph = graph

        def nx_graph(self) -> nx.DiGraph:
            return self._graph

    class Flow:
        def __init__(self, graph: nx.DiGraph) -> None:
            self.graph = Holder(graph)

    flow = Flow(nx.DiGraph([("a", "b")]))
    lonely = Step("elsewhere")

    assert list(build_graph(Step("a"), flow).edges) == [("a", "b")]
    only = build_graph(lonely, flow)
    assert list(only.nodes) == ["elsewhere"] and only.nodes["elsewhere"]["task"] is lonely


def test_build_graph_rejects_what_is_not_a_graph() -> None:
    with pytest.raises(TypeError, match="WorkflowContext, a TaskGraph or a networkx DiGraph"):
        build_graph("a", 42)


def test_build_graph_defaults_to_the_current_workflow() -> None:
    from graflow import task, workflow

    with workflow("viz_build") as wf:

        @task
        def first() -> None: ...

        @task
        def second() -> None: ...

        @task
        def other() -> None: ...

        first >> second

        sub = build_graph(first)

    assert list(sub.edges) == [("first", "second")]
    assert "other" not in sub
    assert "other" in wf.graph.nx_graph()


# ---------------------------------------------------------------------------------------------------------- imports


def test_importing_the_renderers_loads_no_optional_package() -> None:
    code = (
        "import sys, graflow.utils.graph, graflow.viz\n"
        "import networkx as nx\n"
        "graflow.utils.graph.draw_ascii(nx.DiGraph([('a', 'b')]))\n"
        "graflow.utils.graph.draw_mermaid(nx.DiGraph([('a', 'b')]))\n"
        "print(sorted(m for m in ('matplotlib', 'pygraphviz', 'grandalf') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)

    assert done.stdout.strip() == "[]"


def test_upstream_import_path_exposes_every_function() -> None:
    for name in (
        "draw_ascii", "draw_mermaid", "draw_mermaid_png", "draw_png", "draw_dot", "create_agraph",
        "show_graph_info", "visualize_dependencies", "draw_task_graph", "build_graph",
    ):  # fmt: skip
        assert callable(getattr(upstream_path, name))


# ------------------------------------------------------------------------------------------------------- pygraphviz


def block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import <module>`` fail as if the package were not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize("render", [create_agraph, draw_dot, draw_png])
def test_graphviz_renderers_without_pygraphviz_raise_upstreams_import_error(
    render: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    block(monkeypatch, "pygraphviz")

    with pytest.raises(ImportError, match=r"^Install pygraphviz to draw graphs: `pip install pygraphviz`\.$"):
        render(nx.DiGraph([("a", "b")]))


def test_dot_draws_a_group_as_a_cluster_with_edges_to_it() -> None:
    pytest.importorskip("pygraphviz")

    dot = draw_dot(a_then_b_or_c_then_d(), node_colors={"a": "red"}, node_labels={"d": "done <ok>"})

    assert "subgraph cluster_0" in dot
    assert "lhead=cluster_0" in dot and "ltail=cluster_0" in dot
    assert "fillcolor=red" in dot
    assert "done &lt;ok&gt;" in dot
    assert "ParallelGroup_1" not in create_agraph(a_then_b_or_c_then_d()).nodes()  # the group is the cluster


def test_png_through_graphviz(tmp_path: Path) -> None:
    pytest.importorskip("pygraphviz")

    image = draw_png(a_then_b_or_c_then_d())
    target = tmp_path / "graph.png"
    written = draw_png(a_then_b_or_c_then_d(), str(target))

    assert image is not None and image.startswith(b"\x89PNG")
    assert written is None and target.read_bytes().startswith(b"\x89PNG")


def test_dot_of_an_empty_graph_says_so() -> None:
    pytest.importorskip("pygraphviz")

    assert "Empty Graph" in draw_dot(nx.DiGraph())


# ------------------------------------------------------------------------------------------------------- matplotlib


def test_draw_task_graph_without_matplotlib_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    block(monkeypatch, "matplotlib", "matplotlib.pyplot")

    with pytest.raises(ImportError, match=r"pip install graflow\[viz\]"):
        draw_task_graph(nx.DiGraph([("a", "b")]))


def test_draw_task_graph_saves_a_figure(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    target = tmp_path / "graph.png"

    draw_task_graph(a_then_b_or_c_then_d(), "ETL", output_path=str(target))

    assert target.read_bytes().startswith(b"\x89PNG")


def test_layered_positions_put_successors_lower() -> None:
    positions = layered_positions(nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c")]))

    assert positions["a"][1] > positions["b"][1] > positions["c"][1]
    assert layered_positions(nx.DiGraph()) == {}
