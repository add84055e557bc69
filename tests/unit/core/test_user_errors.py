"""Bad input gets an error that names the problem; odd but valid input works."""

from __future__ import annotations

import asyncio

import pytest

from graflow import RetryPolicy, parallel, task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.task import TaskWrapper
from graflow.exceptions import DuplicateTaskError, GraflowRuntimeError, GraphCompilationError


def test_async_tasks_are_awaited() -> None:
    with workflow("async") as wf:

        @task
        async def fetch() -> int:
            await asyncio.sleep(0)
            return 7

        @task
        async def double(fetch: int) -> int:
            return fetch * 2

        fetch >> double
        assert wf.execute() == 14


def test_async_task_runs_when_called_from_running_event_loop() -> None:
    with workflow("async-in-loop") as wf:

        @task
        async def value() -> str:
            return "ok"

    async def main() -> str:
        return wf.execute()  # type: ignore[no-any-return]

    assert asyncio.run(main()) == "ok"


def test_two_different_tasks_with_one_id_are_refused_when_wired() -> None:
    """G7: the second task would otherwise be dropped silently."""

    @task(id="step")
    def v1() -> str:
        return "v1"

    @task(id="step")
    def v2() -> str:
        return "v2"

    end = task("end")(lambda step: step)
    with workflow("same-id"):
        v1 >> end
        with pytest.raises(DuplicateTaskError, match="Duplicate task ID: step"):
            v2 >> end


def test_group_reached_from_its_own_member_fails_instead_of_recursing() -> None:
    with workflow("reentry") as wf:
        a = task("a")(lambda: 1)
        b = task("b")(lambda: 2)
        group = a | b
        a >> group
        with pytest.raises(GraflowRuntimeError) as err:
            wf.execute("a")
    assert "reached again from inside its own members" in str(err.value.member_errors["a"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("make", "error", "text"),
    [
        (lambda: task(retry_policy=3)(lambda: None), TypeError, "retry_policy must be a RetryPolicy"),  # type: ignore[call-overload]
        (lambda: task(max_cycles=-5)(lambda: None), ValueError, "max_cycles must be an int >= 0"),
        (lambda: task(max_retries=-1)(lambda: None), ValueError, "max_retries must be an int >= 0"),
        (lambda: task(id=123)(lambda: None), TypeError, "task id must be a non-empty string"),  # type: ignore[call-overload]
        (lambda: task(type("Job", (), {})), TypeError, "decorates functions, not classes"),
        (lambda: RetryPolicy(max_retries="2"), TypeError, "max_retries must be a number"),  # type: ignore[arg-type]
        (lambda: RetryPolicy(initial_interval=-1), ValueError, "initial_interval must be >= 0"),
        (lambda: parallel(task("p1")(lambda: 1), 3), TypeError, "argument 2 is int"),  # type: ignore[arg-type]
    ],
)
def test_bad_options_are_named(make, error, text) -> None:  # type: ignore[no-untyped-def]
    with workflow("bad"), pytest.raises(error, match=text):
        make()


def test_shrinking_backoff_and_zero_steps_are_accepted_like_graflow_0_2() -> None:
    assert RetryPolicy(backoff_factor=0.5, initial_interval=4).get_delay(2) == 1.0
    with workflow("zero") as wf:
        task("t")(lambda: 1)
        result, ctx = wf.execute(max_steps=0, ret_context=True)
    assert result is None and ctx.status == "max_steps_reached"


def test_group_options_fail_when_configured_not_when_run() -> None:
    with workflow("group-options"):
        group = task("g1")(lambda: 1) | task("g2")(lambda: 2)
        with pytest.raises(ValueError, match="needs arguments"):
            group.with_execution(policy="critical")
        with pytest.raises(ValueError, match="can never pass"):
            group.with_execution(policy={"type": "at_least_n", "min_success": 10})
        with pytest.raises(ValueError, match="Critical task ids not in group"):
            group.with_execution(policy={"type": "critical", "critical_task_ids": ["nope"]})
        with pytest.raises(ValueError, match="thread_count"):
            group.with_execution(backend_config={"thread_count": 0})


def test_context_needs_a_graph_and_says_how_to_get_one() -> None:
    with workflow("wrong-arg") as wf:
        task("t")(lambda: 1)
    with pytest.raises(TypeError, match=r"needs a TaskGraph, got WorkflowContext \(pass wf.graph\)"):
        ExecutionContext.create(wf)  # type: ignore[arg-type]


def test_start_node_errors_keep_upstream_text_and_add_candidates_as_a_note() -> None:
    with workflow("starts") as wf:
        task("p")(lambda: 1)
        task("q")(lambda: 2)
        with pytest.raises(GraphCompilationError) as err:
            wf.execute()
    assert str(err.value) == "Multiple start nodes found, please specify one."
    assert err.value.__notes__ == ["Candidates: p, q. Pass one to execute(), or connect the others."]


def test_unknown_start_suggests_close_names_and_accepts_task_objects() -> None:
    with workflow("names") as wf:
        extract = task("extract")(lambda: "x")
        with pytest.raises(GraflowRuntimeError, match="Did you mean: extract"):
            wf.execute("extrakt")
        assert wf.execute(extract) == "x"


def test_missing_llm_agent_names_the_task_and_the_agent() -> None:
    with workflow("agents") as wf:

        @task(inject_llm_agent="helper")
        def ask(llm_agent) -> None:  # type: ignore[no-untyped-def]
            pass

        with pytest.raises(GraflowRuntimeError, match="Task 'ask' requires LLMAgent 'helper'"):
            wf.execute()


def test_failure_names_the_task_it_came_from() -> None:
    with workflow("which") as wf:
        task("broken")(lambda: {}["k"])
        with pytest.raises(GraflowRuntimeError) as err:
            wf.execute()
    assert err.value.task_id == "broken"  # type: ignore[attr-defined]


def test_control_calls_outside_a_task_name_the_call() -> None:
    with workflow("outside") as wf:
        task("t")(lambda: 1)
    ctx = ExecutionContext.create(wf.graph)
    with pytest.raises(GraflowRuntimeError, match=r"terminate_workflow\(\) can only be called from inside a task"):
        ctx.terminate_workflow("x")
    assert isinstance(TaskWrapper("ok", lambda: 1, register_to_context=False), TaskWrapper)
