"""Property tests: for random DAGs built with >> and |, every task runs exactly once, never before all of its
predecessors, and the run terminates."""

from __future__ import annotations

import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graflow import workflow
from graflow.core.task import ParallelGroup, TaskWrapper


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], list[list[int]]]:
    """Nodes 0..n-1, forward edges only (acyclic), and optional disjoint groups of edge-free nodes."""
    n = draw(st.integers(min_value=1, max_value=12))
    edges = sorted({(a, b) for a, b in draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                                                      max_size=25)) if a < b})
    touched = {a for a, _ in edges} | {b for _, b in edges}
    free = [i for i in range(n) if i not in touched]
    groups: list[list[int]] = []
    if len(free) >= 2 and draw(st.booleans()):
        size = draw(st.integers(2, len(free)))
        groups.append(free[:size])
    return n, edges, groups


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dags_run_every_task_once_after_its_predecessors(dag) -> None:  # type: ignore[no-untyped-def]
    n, edges, groups = dag
    runs: list[str] = []
    lock = threading.Lock()

    def make(i: int) -> TaskWrapper:
        def fn() -> None:
            with lock:
                runs.append(f"t{i}")
        return TaskWrapper(f"t{i}", fn)

    with workflow("prop") as wf:
        tasks = [make(i) for i in range(n)]
        for a, b in edges:
            tasks[a] >> tasks[b]
        group_nodes = [ParallelGroup([tasks[i] for i in g]) for g in groups]
        starts = wf.graph.get_start_nodes()
        # a single synthetic root makes the start unambiguous and fans out to every start candidate
        root = TaskWrapper("root", lambda: None)
        for s in starts:
            wf.graph.add_edge("root", s)
        _, ctx = wf.execute("root", ret_context=True, max_steps=10_000)
    assert ctx.status == "completed"
    assert sorted(runs) == sorted(f"t{i}" for i in range(n))  # exactly once each
    position = {name: k for k, name in enumerate(runs)}
    for a, b in edges:
        assert position[f"t{a}"] < position[f"t{b}"]
    assert root.task_id == "root" and len(group_nodes) == len(groups)
