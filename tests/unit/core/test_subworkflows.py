"""D1: a ``with workflow(...)`` block opened inside a running task is a sub-workflow of its own."""

from __future__ import annotations

from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.graph import TaskGraph
from graflow.core.workflow import current_workflow_context
from graflow.exceptions import GraphCompilationError


def test_tasks_defined_in_a_sub_workflow_register_in_it_and_run() -> None:
    seen: list[str] = []
    with workflow("outer") as wf:

        @task
        def host() -> int:
            with workflow("inner") as inner:

                @task
                def first() -> int:
                    seen.append(current_workflow_context().name)
                    return 2

                @task
                def second(first: int) -> int:
                    return first * 10

                first >> second
                result = inner.execute("first")
            seen.append(current_workflow_context().name)
            assert sorted(inner.graph.nodes) == ["first", "second"]
            return int(result)

        @task
        def after(host: int) -> int:
            return host + 1

        host >> after
        assert wf.execute("host") == 21
    assert seen == ["inner", "outer"]
    assert sorted(wf.graph.nodes) == ["after", "host"]


def test_a_workflow_built_by_a_factory_is_current_while_a_task_runs_it() -> None:
    def build(n: int) -> Any:
        with workflow(f"built_{n}") as built:

            @task(id=f"value_{n}")
            def value() -> str:
                return current_workflow_context().name

        return built

    with workflow("master") as wf:

        @task
        def master() -> list[str]:
            return [build(n).execute(f"value_{n}") for n in (1, 2)]

        assert wf.execute() == ["built_1", "built_2"]
        assert current_workflow_context() is wf


def test_dsl_written_inside_a_sub_workflow_block_changes_only_the_sub_workflow() -> None:
    with workflow("outer") as wf:

        @task(inject_context=True)
        def host(ctx: Any) -> list[tuple[str, str]]:
            with workflow("inner") as inner:
                a = task("a")(lambda: 1)
                b = task("b")(lambda: 2)
                a >> b
            assert "a" not in ctx.graph  # the run's own graph did not get the sub-workflow's tasks
            return sorted(inner.graph.edges)

        assert wf.execute() == [("a", "b")]


def test_a_context_on_an_empty_graph_is_valid_until_it_runs() -> None:
    ctx = ExecutionContext.create(TaskGraph())
    assert ctx.start_node is None
    with pytest.raises(GraphCompilationError, match="No start node"):
        WorkflowEngine().execute(ctx)


def test_a_context_finds_its_start_node_when_the_graph_is_completed_after_creation() -> None:
    graph = TaskGraph()
    ctx = ExecutionContext.create(graph)
    graph.add_node(task("only")(lambda: "ran"), "only")
    assert WorkflowEngine().execute(ctx) == "ran"
    assert ctx.start_node == "only"


def test_a_networkx_graph_with_task_nodes_can_be_run() -> None:
    with workflow("nx") as wf:
        one = task("one")(lambda: 1)
        two = task("two")(lambda one: one + 1)
        one >> two
    ctx = ExecutionContext.create(wf.graph.nx_graph(), "one")
    assert WorkflowEngine().execute(ctx) == 2
