"""draw_ascii: our own layered layout, no optional dependency (spec §14, D25)."""

from __future__ import annotations

import itertools
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graflow.viz.ascii import draw_ascii


class Step:
    """Stand-in for a task: only ``task_id`` matters to the renderers."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id


class Group:
    """Stand-in for a ParallelGroup."""

    is_parallel_group = True

    def __init__(self, task_id: str, members: list[Any]) -> None:
        self.task_id = task_id
        self.tasks = members


def graph_of(edges: list[tuple[str, str]], nodes: list[str] = ()) -> nx.DiGraph:  # type: ignore[assignment]
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    return graph


def a_then_b_or_c_then_d() -> nx.DiGraph:
    """The graph built by ``a >> (b | c) >> d``."""
    graph = nx.DiGraph()
    for name in "abcd":
        graph.add_node(name, task=Step(name))
    graph.add_node("ParallelGroup_1", task=Group("ParallelGroup_1", [Step("b"), Step("c")]))
    graph.add_edge("a", "ParallelGroup_1")
    graph.add_edge("ParallelGroup_1", "d")
    return graph


def box_positions(art: str, label: str) -> list[tuple[int, int, int]]:
    """(row of the label line, first column, last column) of every box around ``label``."""
    found = []
    for row, line in enumerate(art.split("\n")):
        for match in re.finditer(rf"[|║] {re.escape(label)} [|║]", line):
            found.append((row, match.start(), match.end() - 1))
    return found


def joined_by_stars(art: str, source: str, target: str) -> bool:
    """Whether a connected run of '*' leads from just below ``source``'s box to just above ``target``'s."""
    grid = art.split("\n")
    (s_row, s_lo, s_hi), (t_row, t_lo, t_hi) = box_positions(art, source)[0], box_positions(art, target)[0]

    def star(r: int, c: int) -> bool:
        return 0 <= r < len(grid) and 0 <= c < len(grid[r]) and grid[r][c] == "*"

    todo = [(s_row + 2, c) for c in range(s_lo, s_hi + 1) if star(s_row + 2, c)]
    goal = {(t_row - 2, c) for c in range(t_lo, t_hi + 1)}
    seen = set(todo)
    while todo:
        r, c = todo.pop()
        if (r, c) in goal:
            return True
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                nxt = (r + dr, c + dc)
                if nxt not in seen and star(*nxt):
                    seen.add(nxt)
                    todo.append(nxt)
    return False


# ---------------------------------------------------------------------------------------------------------------- exact


def test_empty_graph_is_the_words_empty_graph() -> None:
    assert draw_ascii(nx.DiGraph()) == "Empty graph"


def test_graph_without_edges_is_a_stack_of_equal_boxes() -> None:
    # given three unconnected nodes
    graph = graph_of([], nodes=["x", "yyy", "z"])

    # then they are stacked, sharing borders, names centred (upstream's format, trailing newline included)
    assert draw_ascii(graph) == "\n".join(
        ["+-----+", "|  x  |", "+-----+", "| yyy |", "+-----+", "|  z  |", "+-----+", ""]
    )


def test_chain_is_a_straight_column_of_boxes() -> None:
    graph = graph_of([("load", "transform"), ("transform", "save")])

    assert draw_ascii(graph) == "\n".join(
        [
            "  +------+",
            "  | load |",
            "  +------+",
            "     *",
            "     *",
            "     *",
            "+-----------+",
            "| transform |",
            "+-----------+",
            "      *",
            "      *",
            "      *",
            "   +------+",
            "   | save |",
            "   +------+",
        ]
    )


def test_diamond_fans_out_and_joins() -> None:
    graph = graph_of([("s", "p"), ("s", "q"), ("p", "m"), ("q", "m")])

    assert draw_ascii(graph) == "\n".join(
        [
            "    +---+",
            "    | s |",
            "    +---+",
            "      *",
            "    ** **",
            "  **     **",
            "+---+   +---+",
            "| p |   | q |",
            "+---+   +---+",
            "  *       *",
            "   **   **",
            "     ***",
            "    +---+",
            "    | m |",
            "    +---+",
        ]
    )


EXPECTED_GROUP = "\n".join(
    [
        "        +---+",
        "        | a |",
        "        +---+",
        "          *",
        "          *",
        "          *",
        " ╔═════════════════╗",
        " ║ ParallelGroup_1 ║",
        " ╚═════════════════╝",
        "      *       *",
        "      *       *",
        "      *       *",
        "    +---+   +---+",
        "    | b |   | c |",
        "    +---+   +---+",
        "      *       *",
        "      *       *",
        "      *       *",
        "╔═══════════════════╗",
        "║ ↣ ParallelGroup_1 ║",
        "╚═══════════════════╝",
        "          *",
        "          *",
        "          *",
        "        +---+",
        "        | d |",
        "        +---+",
    ]
)


def test_parallel_group_becomes_double_boxed_start_and_join_around_its_members() -> None:
    assert draw_ascii(a_then_b_or_c_then_d()) == EXPECTED_GROUP


def test_parallel_group_of_a_real_workflow_draws_the_same() -> None:
    # given a >> (b | c) >> d built with graflow itself
    from graflow import task, workflow

    with workflow("viz_group") as wf:

        @task
        def a() -> None: ...

        @task
        def b() -> None: ...

        @task
        def c() -> None: ...

        @task
        def d() -> None: ...

        a >> (b | c) >> d

        # then the picture is the one of the stand-in graph
        assert draw_ascii(wf.graph.nx_graph()) == EXPECTED_GROUP


def test_cycle_still_renders_with_its_back_edge_as_a_side_line() -> None:
    graph = graph_of([("a", "b"), ("b", "c"), ("c", "a")])

    assert draw_ascii(graph) == "\n".join(
        [
            "   +---+",
            "   | a |",
            "   +---+",
            "     *",
            "   ** **",
            "  *     *",
            "+---+   *",
            "| b |   *",
            "+---+   *",
            "  *     *",
            "   ** **",
            "     *",
            "   +---+",
            "   | c |",
            "   +---+",
        ]
    )


def test_two_node_loop_is_one_line() -> None:
    assert draw_ascii(graph_of([("agent", "tool"), ("tool", "agent")])) == "\n".join(
        ["+-------+", "| agent |", "+-------+", "    *", "    *", "    *", " +------+", " | tool |", " +------+"]
    )


# ---------------------------------------------------------------------------------------------------------- behaviour


def test_members_sit_between_the_start_and_the_join_of_their_group() -> None:
    art = draw_ascii(a_then_b_or_c_then_d())

    start_row = box_positions(art, "ParallelGroup_1")[0][0]
    join_row = box_positions(art, "↣ ParallelGroup_1")[0][0]
    for member in ("b", "c"):
        assert start_row < box_positions(art, member)[0][0] < join_row
        assert joined_by_stars(art, "ParallelGroup_1", member)
        assert joined_by_stars(art, member, "↣ ParallelGroup_1")


def test_group_members_missing_from_the_graph_are_still_drawn() -> None:
    # given a group whose members were never added as nodes
    graph = nx.DiGraph()
    graph.add_node("G", task=Group("G", [Step("m1"), Step("m2")]))

    art = draw_ascii(graph)

    assert len(box_positions(art, "m1")) == 1
    assert len(box_positions(art, "m2")) == 1


def test_a_branch_chained_after_a_member_hangs_below_it() -> None:
    # given a | (b >> c): member b has its own successor c
    graph = nx.DiGraph()
    for name in "abc":
        graph.add_node(name, task=Step(name))
    graph.add_edge("b", "c")
    graph.add_node("PG", task=Group("PG", [Step("a"), Step("b")]))

    art = draw_ascii(graph)

    assert joined_by_stars(art, "b", "c")
    assert joined_by_stars(art, "b", "↣ PG")


def test_nested_group_is_entered_at_its_start_and_left_at_its_join() -> None:
    graph = nx.DiGraph()
    for name in "xyz":
        graph.add_node(name, task=Step(name))
    graph.add_node("G2", task=Group("G2", [Step("y"), Step("z")]))
    graph.add_node("G1", task=Group("G1", [Step("x"), Step("G2")]))

    art = draw_ascii(graph)

    assert joined_by_stars(art, "G1", "G2")
    assert joined_by_stars(art, "↣ G2", "↣ G1")
    assert len(box_positions(art, "G2")) == 1  # the nested group is not drawn twice


def test_only_a_literal_true_flag_makes_a_group() -> None:
    # given a task object that answers anything truthy (like a mock) for is_parallel_group
    class Truthy:
        is_parallel_group = "yes"
        tasks = [Step("x")]

    graph = graph_of([("a", "odd")])
    graph.nodes["odd"]["task"] = Truthy()

    art = draw_ascii(graph)

    assert "╔" not in art
    assert "↣" not in art


def test_edge_from_a_group_node_to_its_own_member_is_not_drawn_from_the_join() -> None:
    # given a graph where something added group -> member edges (upstream's build_graph did)
    graph = a_then_b_or_c_then_d()
    graph.add_edge("ParallelGroup_1", "b")

    assert draw_ascii(graph) == EXPECTED_GROUP


def test_self_loop_is_skipped_but_its_node_is_drawn() -> None:
    art = draw_ascii(graph_of([("retry", "retry"), ("retry", "done")]))

    assert len(box_positions(art, "retry")) == 1
    assert joined_by_stars(art, "retry", "done")


def test_non_string_node_keys_and_newlines_in_names_are_drawn_on_one_line() -> None:
    art = draw_ascii(graph_of([(1, 2), (2, "two\nlines")]))  # type: ignore[list-item]

    assert box_positions(art, "1") and box_positions(art, "2") and box_positions(art, "two lines")


def test_isolated_node_beside_edges_is_still_boxed() -> None:
    art = draw_ascii(graph_of([("a", "b")], nodes=["lonely"]))

    assert len(box_positions(art, "lonely")) == 1


def test_lines_carry_no_trailing_spaces() -> None:
    art = draw_ascii(a_then_b_or_c_then_d())

    assert all(line == line.rstrip() for line in art.split("\n"))


def test_output_is_deterministic() -> None:
    edges = [(f"t{random.Random(i).randint(0, 20)}", f"t{random.Random(i + 99).randint(0, 20)}") for i in range(40)]

    assert draw_ascii(graph_of(edges)) == draw_ascii(graph_of(edges))


def test_output_does_not_depend_on_the_hash_seed() -> None:
    code = (
        "import networkx as nx\n"
        "from graflow.viz.ascii import draw_ascii\n"
        "g = nx.DiGraph([('w', 'x'), ('x', 'w'), ('x', 'y'), ('y', 'z'), ('z', 'x'), ('z', 'q'), ('w', 'q')])\n"
        "print(draw_ascii(g))\n"
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
        for seed in range(4)
    }

    assert len(outputs) == 1


def test_long_chain_draws_every_node_once() -> None:
    graph = nx.path_graph(10_000, create_using=nx.DiGraph)
    graph = nx.relabel_nodes(graph, {i: f"n{i}" for i in graph})

    art = draw_ascii(graph)

    labels = re.findall(r"\| (n\d+) \|", art)
    assert len(labels) == 10_000
    assert set(labels) == set(graph.nodes)


def test_dense_graph_with_long_paths_falls_back_to_a_listing_of_every_edge() -> None:
    # given a graph whose layered picture would need hundreds of thousands of bends
    graph = nx.gnp_random_graph(1_000, 0.004, seed=7, directed=True)
    graph = nx.relabel_nodes(graph, {i: f"n{i}" for i in graph})

    art = draw_ascii(graph)

    assert sorted(re.findall(r"\| (n\d+) \|", art)) == sorted(graph.nodes)
    listed: set[tuple[str, str]] = set()
    lines = art.split("\n")
    for row, line in enumerate(lines):
        if line.startswith("  *--> "):
            source = re.search(r"\| (n\d+) \|", lines[row - 2]).group(1)  # type: ignore[union-attr]
            listed.update((source, target) for target in line[len("  *--> ") :].split(", "))
    assert listed == set(graph.edges)


# ----------------------------------------------------------------------------------------------------------- property

names = st.sampled_from([f"task{i}" for i in range(10)])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(names, names), max_size=18), st.lists(names, max_size=4))
def test_every_node_appears_once_and_every_edge_is_joined(edges: list[tuple[str, str]], extra: list[str]) -> None:
    graph = graph_of(edges, nodes=extra)
    art = draw_ascii(graph)
    if not graph.nodes:
        assert art == "Empty graph"
        return

    for node in graph.nodes:
        assert len(box_positions(art, node)) == 1, (node, art)
    for u, v in graph.edges:
        if u != v:
            assert joined_by_stars(art, u, v) or joined_by_stars(art, v, u), (u, v, art)


@pytest.mark.parametrize("width", [1, 5, 40])
def test_boxes_in_a_row_never_overlap(width: int) -> None:
    # given a root with many children whose names have different lengths
    children = [f"c{i}" + "x" * (i * width % 13) for i in range(12)]
    art = draw_ascii(graph_of([("root", c) for c in children]))

    spans = sorted(box_positions(art, c)[0][1:] for c in children)
    rows = {box_positions(art, c)[0][0] for c in children}
    assert len(rows) == 1
    for (_, right), (left, _) in itertools.pairwise(spans):
        assert right < left
