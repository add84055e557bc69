"""Output references: a task's result, or a path into it, bound to another task's parameter at build time."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.results import OutputRef
from graflow.exceptions import GraphCompilationError, TaskFailedError


def test_a_path_into_an_upstream_result_is_resolved_when_the_task_runs() -> None:
    with workflow("refs") as wf:

        @task
        def ask() -> dict[str, Any]:
            return {"output": "hi", "metadata": {"messages": ["m1", "m2"]}}

        @task
        def follow_up(history: list[str], question: str) -> str:
            return f"{question} after {len(history)} messages"

        second = follow_up(task_id="second", history=ask.outputs["metadata"]["messages"], question="why?")
        ask >> second
        assert wf.execute("ask") == "why? after 2 messages"


def test_a_whole_result_can_be_bound() -> None:
    with workflow("whole") as wf:
        source = task("source")(lambda: [1, 2, 3])

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        source >> total(task_id="total_bound", values=source.outputs)
        assert wf.execute("source") == 6


def test_a_reference_to_a_task_that_is_not_upstream_fails_before_the_run() -> None:
    ran: list[str] = []
    with workflow("not-upstream") as wf:

        @task
        def a() -> int:
            ran.append("a")
            return 1

        @task
        def b() -> int:
            ran.append("b")
            return 2

        @task
        def use(x: int) -> int:
            return x

        a >> use(task_id="use_b", x=b.outputs) >> b
        with pytest.raises(GraphCompilationError, match=r"Task 'use_b' takes b\.outputs, but 'b' is not upstream"):
            wf.execute("a")
    assert ran == []  # nothing ran


def test_a_missing_key_names_the_reference() -> None:
    with workflow("missing") as wf:
        src = task("src")(lambda: {"a": 1})

        @task
        def use(x: int) -> int:
            return x

        src >> use(task_id="use_missing", x=src.outputs["b"])
        with pytest.raises(TaskFailedError, match=r"src\.outputs\['b'\].*no item 'b'"):
            wf.execute("src")


def test_references_pickle_as_they_travel_to_workers() -> None:
    ref = OutputRef("ask")["metadata"]["messages"]
    assert pickle.loads(pickle.dumps(ref)) == ref
    assert repr(ref) == "ask.outputs['metadata']['messages']"
