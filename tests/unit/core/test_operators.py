"""The graph that >>, <<, |, chain and parallel build (spec 2.3, D4, D5)."""

from __future__ import annotations

import pytest

from graflow import chain, parallel, task, workflow
from graflow.core.task import ParallelGroup, SequentialTask
from graflow.exceptions import GraphCompilationError


def _tasks(*names: str):
    return [task(n)(lambda: None) for n in names]


def test_rshift_adds_an_edge_and_returns_a_sequence() -> None:
    with workflow("seq") as wf:
        a, b, c = _tasks("a", "b", "c")
        seq = a >> b >> c
    assert isinstance(seq, SequentialTask)
    assert seq.task_id == "a"
    assert [t.task_id for t in seq] == ["a", "b", "c"]
    assert len(seq) == 3 and seq[1] is b
    assert repr(seq) == "SequentialTask([a >> b >> c])"
    assert sorted(wf.graph.edges) == [("a", "b"), ("b", "c")]


def test_lshift_builds_the_reverse_chain() -> None:
    with workflow("lshift") as wf:
        a, b, c = _tasks("a", "b", "c")
        c << b << a
    assert sorted(wf.graph.edges) == [("a", "b"), ("b", "c")]


def test_sequence_on_the_right_connects_to_its_leftmost() -> None:
    with workflow("right") as wf:
        x, a, b = _tasks("x", "a", "b")
        x >> (a >> b)
    assert sorted(wf.graph.edges) == [("a", "b"), ("x", "a")]


def test_group_node_sits_between_predecessor_and_successor() -> None:
    with workflow("group") as wf:
        a, b, c, d = _tasks("a", "b", "c", "d")
        a >> (b | c) >> d
    assert sorted(wf.graph.nodes) == ["ParallelGroup_1", "a", "b", "c", "d"]
    assert sorted(wf.graph.edges) == [("ParallelGroup_1", "d"), ("a", "ParallelGroup_1")]


def test_start_detection_ignores_group_members() -> None:
    """D4: a >> (b | c) >> d auto-detects a."""
    with workflow("d4") as wf:
        a, b, c, d = _tasks("a", "b", "c", "d")
        a >> (b | c) >> d
    assert wf.graph.get_start_nodes() == ["a"]
    _, ctx = wf.execute(ret_context=True)
    assert ctx.completed_tasks[0] == "a" and ctx.completed_tasks[-1] == "d"


def test_ambiguous_or_missing_start_raises_upstream_messages() -> None:
    with workflow("two-starts") as wf:
        _tasks("a", "b")
        with pytest.raises(GraphCompilationError, match=r"Multiple start nodes found, please specify one\."):
            wf.execute()
    with workflow("loop") as wf:
        agent, tool = _tasks("agent", "tool")
        agent >> tool >> agent
        with pytest.raises(GraphCompilationError, match="No start node specified and no nodes with no predecessors"):
            wf.execute()


def test_appending_to_a_group_keeps_one_group() -> None:
    with workflow("append") as wf:
        a, b, c = _tasks("a", "b", "c")
        group = (a | b) | c
    assert isinstance(group, ParallelGroup)
    assert [t.task_id for t in group.tasks] == ["a", "b", "c"]
    assert [n for n in wf.graph.nodes if n.startswith("ParallelGroup")] == ["ParallelGroup_1"]


def test_prepending_to_a_group_makes_one_group_without_extra_edges() -> None:
    """D5: x | (y | z) is one group of three and x runs once."""
    calls: list[str] = []
    with workflow("d5") as wf:
        x, y, z = (task(n)(lambda n=n: calls.append(n)) for n in ("x", "y", "z"))
        group = x | (y | z)
        assert [t.task_id for t in group.tasks] == ["x", "y", "z"]
        assert list(wf.graph.edges) == []
        wf.execute()
    assert sorted(calls) == ["x", "y", "z"]


def test_two_free_groups_merge_and_the_counter_still_advances() -> None:
    with workflow("merge") as wf:
        a, b, c, d = _tasks("a", "b", "c", "d")
        merged = (a | b) | (c | d)
        assert [t.task_id for t in merged.tasks] == ["a", "b", "c", "d"]
        assert "ParallelGroup_2" not in wf.graph.nodes
        assert wf.get_next_group_name() == "ParallelGroup_4"


def test_sequence_in_a_group_uses_its_leftmost_and_keeps_the_branch_edge() -> None:
    with workflow("branch") as wf:
        a, b, c = _tasks("a", "b", "c")
        group = a | (b >> c)
    assert [t.task_id for t in group.tasks] == ["a", "b"]
    assert ("b", "c") in wf.graph.edges


def test_chain_and_parallel_helpers() -> None:
    with workflow("helpers") as wf:
        a, b, c = _tasks("a", "b", "c")
        seq = chain(a, b)
        group = parallel(b, c)
    assert isinstance(seq, SequentialTask) and ("a", "b") in wf.graph.edges
    assert isinstance(group, ParallelGroup)
    with pytest.raises(ValueError):
        parallel(a)
    with pytest.raises(ValueError):
        chain()


def test_set_group_name_renames_and_validates() -> None:
    with workflow("rename") as wf:
        a, b, c = _tasks("a", "b", "c")
        group = (a | b).set_group_name("fetchers")
        assert group.task_id == "fetchers" and "fetchers" in wf.graph.nodes
        with pytest.raises(ValueError):
            (c | task("d")(lambda: None)).set_group_name("fetchers")


def test_group_names_are_counted_per_workflow() -> None:
    for name in ("first", "second"):
        with workflow(name):
            a, b = _tasks("a", "b")
            assert (a | b).task_id == "ParallelGroup_1"


def test_tasks_defined_outside_register_on_first_use() -> None:
    a, b = (task(n)(lambda n=n: n) for n in ("pa", "pb"))
    with workflow("pending") as wf:
        a >> b
        assert wf.execute() == "pb"
