"""@task in every form, TaskWrapper calling rules (D7) and bound instances."""

from __future__ import annotations

import re
from typing import Any

import pytest

from graflow import RetryPolicy, task, workflow
from graflow.core.task import Task, TaskWrapper, parallel
from graflow.exceptions import DuplicateTaskError


def test_bare_decorator_uses_function_name_and_keeps_metadata() -> None:
    @task
    def fetch_users() -> int:
        """Fetch."""
        return 1

    assert isinstance(fetch_users, TaskWrapper)
    assert fetch_users.task_id == "fetch_users"
    assert fetch_users.__name__ == "fetch_users"
    assert fetch_users.__doc__ == "Fetch."
    assert fetch_users.__annotations__ == {"return": "int"}


@pytest.mark.parametrize(
    "decorator",
    [task("custom"), task(id="custom"), task(task_id="custom"), task("custom", inject_context=False)],
    ids=["positional", "id", "task_id-alias", "positional+options"],
)
def test_every_id_form_sets_the_id(decorator) -> None:
    wrapped = decorator(lambda: 1)
    assert wrapped.task_id == "custom"


def test_empty_call_form_uses_function_name() -> None:
    @task()
    def plain() -> None:
        pass

    assert plain.task_id == "plain"


def test_conflicting_ids_are_rejected() -> None:
    with pytest.raises(TypeError, match="both id"):
        task(id="a", task_id="b")


def test_options_are_stored_as_flags() -> None:
    policy = RetryPolicy(max_retries=4)

    @task(inject_context=True, handler="special", resolve_keyword_args=False, max_cycles=7, retry_policy=policy,
          inject_llm_client=True, inject_llm_agent="helper")
    def flagged(ctx) -> None:
        pass

    assert flagged.inject_context is True
    assert flagged.handler_type == "special"
    assert flagged.resolve_keyword_args is False
    assert flagged.max_cycles == 7
    assert flagged.retry_policy is policy
    assert flagged.max_retries == 4  # the policy's budget wins
    assert flagged.inject_llm_client is True
    assert flagged.inject_llm_agent == "helper"


def test_run_outside_a_workflow_executes_with_keyword_priority() -> None:
    @task
    def calculate(x: int, y: int) -> int:
        return x + y

    assert calculate.run(x=5, y=3) == 8


def test_calling_with_keywords_outside_a_run_creates_bound_instance() -> None:
    """D7: outside a running task, keyword arguments make a bound instance with an auto id."""

    @task
    def add(x: int, y: int) -> int:
        return x + y

    bound = add(x=1, y=2)
    assert isinstance(bound, TaskWrapper)
    assert re.fullmatch(r"add_[0-9a-f]{8}", bound.task_id)
    assert bound.run() == 3
    named = add(task_id="add_named", x=10, y=1)
    assert named.task_id == "add_named"
    # still an instance factory after running: the decision depends on where, not on history (D7)
    assert isinstance(add(x=1, y=1), TaskWrapper)


def test_keywords_inside_a_running_task_create_a_bound_instance() -> None:
    """D7 (revised): keyword arguments bind wherever the call happens, so a task can queue bound instances."""

    @task(inject_context=True)
    def step(ctx: Any, parent_path: str) -> str:
        return f"{parent_path}/{ctx.task_id}"

    with workflow("inner-bind") as wf:

        @task(inject_context=True)
        def start(ctx: Any) -> None:
            ctx.next_task(parallel(step(task_id="s1", parent_path="p"), step(task_id="s2", parent_path="p")))
            ctx.next_task(step(task_id="s3", parent_path="q"))

        _, ctx = wf.execute("start", ret_context=True)

    assert [ctx.get_result(t) for t in ("s1", "s2", "s3")] == ["p/s1", "p/s2", "q/s3"]
    assert "s1" not in wf.graph  # D1: created while the run went on, so not part of the static definition


def test_positional_arguments_call_the_function() -> None:
    """D7 (revised): positional arguments call the function, inside a run or not."""

    @task
    def double(x: int) -> int:
        return x * 2

    assert double(21) == 42

    with workflow("inner-call") as wf:

        @task
        def outer() -> int:
            return double(21)

        assert wf.execute() == 42


def test_no_argument_call_runs_the_task() -> None:
    @task
    def answer() -> int:
        return 42

    assert answer() == 42


def test_bound_instances_run_in_a_workflow() -> None:
    @task
    def scale(value: int, factor: int) -> int:
        return value * factor

    with workflow("bound") as wf:
        first = scale(task_id="first", value=2, factor=3)
        second = scale(task_id="second", value=5, factor=10)
        first >> second
        _, ctx = wf.execute(ret_context=True)
    assert ctx.get_result("first") == 6
    assert ctx.get_result("second") == 50


def test_duplicate_id_inside_a_workflow_raises() -> None:
    with workflow("dup"):

        @task("same")
        def one() -> None:
            pass

        with pytest.raises(DuplicateTaskError) as err:

            @task("same")
            def two() -> None:
                pass

    assert str(err.value) == "Duplicate task ID: same"


def test_lambda_tasks_get_unique_ids() -> None:
    first = task(lambda: 1)
    second = task(lambda: 2)
    assert first.task_id != second.task_id
    assert first.run() == 1


def test_placeholder_task_does_nothing() -> None:
    assert Task("root", register_to_context=False).run() is None


def test_decorating_a_non_callable_fails_clearly() -> None:
    with pytest.raises(TypeError, match="function or a task id"):
        task(42)  # type: ignore[call-overload]
