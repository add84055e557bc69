"""Dynamic control: next_task (D1), next_iteration (D8), terminate and cancel (spec 4)."""

from __future__ import annotations

import re

import pytest

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.task import TaskWrapper
from graflow.exceptions import CycleLimitExceededError, GraflowRuntimeError, GraflowWorkflowCanceledError
from graflow.trace.base import Tracer


def _router_workflow(calls: list[str]):
    wf = workflow("router")
    with wf:

        @task(inject_context=True)
        def router(ctx) -> None:
            @task
            def handler() -> None:
                calls.append("handler")

            ctx.next_task(handler)
            calls.append("router")

        @task
        def after() -> None:
            calls.append("after")

        router >> after
    return wf


def test_next_task_with_a_new_task_keeps_static_successors_inside_the_block() -> None:
    """D1: newness is decided by the run, so executing inside the with-block behaves like outside."""
    calls: list[str] = []
    wf = _router_workflow(calls)
    with wf:
        wf.execute()
    assert calls == ["router", "handler", "after"]


def test_next_task_with_a_new_task_keeps_static_successors_outside_the_block() -> None:
    calls: list[str] = []
    _router_workflow(calls).execute()
    assert calls == ["router", "handler", "after"]


def test_next_task_to_an_existing_node_skips_static_successors() -> None:
    calls: list[str] = []
    with workflow("auto-goto") as wf:

        @task(inject_context=True)
        def decide(ctx) -> None:
            calls.append("decide")
            ctx.next_task(fallback)

        @task
        def normal() -> None:
            calls.append("normal")

        @task
        def fallback() -> None:
            calls.append("fallback")

        decide >> normal
        wf.execute("decide")
    assert calls == ["decide", "fallback"]


def test_goto_true_skips_static_successors_for_new_tasks() -> None:
    calls: list[str] = []
    with workflow("goto") as wf:

        @task(inject_context=True)
        def jump(ctx) -> None:
            ctx.next_task(TaskWrapper("elsewhere", lambda: calls.append("elsewhere"), register_to_context=False),
                          goto=True)

        @task
        def skipped() -> None:
            calls.append("skipped")

        jump >> skipped
        wf.execute()
    assert calls == ["elsewhere"]


def test_goto_loop_repeats_a_node_until_done() -> None:
    with workflow("goto-loop") as wf:

        @task(inject_context=True)
        def counter(ctx) -> int:
            value = ctx.get_channel().atomic_add("n", 1)
            if value < 4:
                ctx.next_task(counter, goto=True)
            return value

        @task
        def done(counter: int) -> str:
            return f"done at {counter}"

        counter >> done
        result, ctx = wf.execute(ret_context=True)
    assert result == "done at 4"
    assert ctx.execution_log == ["counter"] * 4 + ["done"]
    assert ctx.completed_tasks == ["counter", "done"]  # each task once, as Graflow 0.2 lists them


def test_state_machine_driven_by_next_task() -> None:
    transitions = {"idle": "running", "running": "paused", "paused": "running2", "running2": "stopped"}
    with workflow("state-machine") as wf:

        @task(inject_context=True)
        def machine(ctx) -> str:
            channel = ctx.get_channel()
            state = channel.get("state", "idle")
            channel.append("history", state)
            if state == "stopped":
                return "final"
            channel.set("state", transitions[state])
            ctx.next_task(machine, goto=True)
            return state

        result, ctx = wf.execute(ret_context=True)
    assert result == "final"
    assert ctx.channel.get("history") == ["idle", "running", "paused", "running2", "stopped"]


def test_fan_out_built_at_run_time_is_joined_afterwards() -> None:
    with workflow("runtime-fanout") as wf:

        @task(inject_context=True)
        def split(ctx) -> None:
            workers = [TaskWrapper(f"part_{i}", (lambda i=i: i * i), register_to_context=False) for i in range(4)]
            group = ctx.graph.nx_graph()  # the run graph is reachable from the task
            assert "split" in group
            from graflow.core.task import ParallelGroup

            ctx.next_task(ParallelGroup(workers, name="parts") >> join_results, goto=True)

        @task(inject_context=True)
        def join_results(ctx) -> int:
            return sum(ctx.get_result(f"part_{i}") for i in range(4))

        result = wf.execute("split")
    assert result == 0 + 1 + 4 + 9


def test_next_iteration_ids_counts_and_results() -> None:
    """D8: results under the iteration id and the base id; ids look like <base>_cycle_<n>_<8hex>."""
    with workflow("iterate") as wf:

        @task(inject_context=True, max_cycles=5)
        def optimizer(ctx, data=None) -> int:
            value = (data or 0) + 10
            if ctx.can_iterate():
                ctx.next_iteration(value)
            return value

        result, ctx = wf.execute(ret_context=True)
    assert result == 50
    assert ctx.get_result("optimizer") == 50
    iterations = ctx.completed_tasks[1:]
    assert len(iterations) == 4
    assert all(re.fullmatch(r"optimizer_cycle_\d+_[0-9a-f]{8}", t) for t in iterations)
    assert [ctx.get_result(t) for t in iterations] == [20, 30, 40, 50]
    assert ctx.cycle_controller.get_cycle_count("optimizer") == 5


def test_next_iteration_passes_data_as_keyword_without_context() -> None:
    """D8: without inject_context the data arrives as the keyword argument `data`."""
    seen: list[object] = []

    with workflow("kw-data") as wf:

        @task(inject_context=True, max_cycles=3)
        def driver(ctx) -> None:
            ctx.next_task(consumer)

        @task
        def consumer(data: object = None) -> None:
            seen.append(data)

        wf.execute("driver")
    assert seen == [None]


def test_iterating_a_task_that_takes_no_data_fails_clearly() -> None:
    with workflow("no-data") as wf:

        @task(inject_context=True)
        def loop(ctx) -> None:
            ctx.next_iteration({"x": 1})

        with pytest.raises(GraflowRuntimeError, match="has no parameter to receive it; add a second parameter"):
            wf.execute()


def test_cycle_limit_raises_with_counts() -> None:
    with workflow("limit") as wf:

        @task(inject_context=True, max_cycles=3)
        def greedy(ctx, data=None) -> None:
            ctx.next_iteration()

        with pytest.raises(CycleLimitExceededError) as err:
            wf.execute()
    assert (err.value.task_id, err.value.cycle_count, err.value.max_cycles) == ("greedy", 3, 3)
    assert str(err.value) == "CycleLimitExceededError(task_id=greedy, cycle_count=3, max_cycles=3)"


def test_default_max_cycles_is_ten() -> None:
    with workflow("default-cycles") as wf:

        @task(inject_context=True)
        def loop(ctx, data=None) -> int:
            if ctx.can_iterate():
                ctx.next_iteration()
            return ctx.cycle_count

        assert wf.execute() == 10


def test_iteration_keeps_static_successors_of_the_first_run() -> None:
    calls: list[str] = []
    with workflow("iter-successor") as wf:

        @task(inject_context=True, max_cycles=3)
        def work(ctx, data=None) -> None:
            calls.append(f"work{ctx.cycle_count}")
            if ctx.can_iterate():
                ctx.next_iteration()

        @task
        def summarize() -> None:
            calls.append("summarize")

        work >> summarize
        wf.execute()
    assert calls.count("summarize") == 1
    assert sorted(c for c in calls if c.startswith("work")) == ["work1", "work2", "work3"]


def test_terminate_returns_the_task_result_and_skips_the_rest() -> None:
    calls: list[str] = []
    with workflow("terminate") as wf:

        @task(inject_context=True)
        def gate(ctx) -> str:
            ctx.terminate_workflow("enough")
            return "stopped here"

        @task
        def never() -> None:
            calls.append("never")

        gate >> never
        result, ctx = wf.execute(ret_context=True)
    assert result == "stopped here"
    assert calls == []
    assert ctx.completed_tasks == ["gate"] and ctx.status == "terminated" and ctx.ctrl_message == "enough"


def test_cancel_raises_and_does_not_complete_the_task() -> None:
    with workflow("cancel") as wf:

        @task(inject_context=True)
        def guard(ctx) -> None:
            ctx.cancel_workflow("bad input")

        ctx = wf.create_context()
        with pytest.raises(GraflowWorkflowCanceledError) as err:
            WorkflowEngine().execute(ctx)
    assert str(err.value) == "Workflow canceled by task 'guard': bad input"
    assert err.value.task_id == "guard"
    assert ctx.completed_tasks == [] and ctx.status == "canceled"


def test_tracer_hears_dynamic_tasks() -> None:
    events: list[tuple[str, str | None, bool]] = []

    class Recorder(Tracer):
        def on_dynamic_task_added(self, task_id, parent_task_id=None, is_iteration=False, metadata=None):  # type: ignore[no-untyped-def]
            events.append((task_id, parent_task_id, is_iteration))

    with workflow("dyn-trace", tracer=Recorder()) as wf:

        @task(inject_context=True, max_cycles=2)
        def step(ctx, data=None) -> None:
            if ctx.can_iterate():
                ctx.next_iteration()

        wf.execute()
    assert len(events) == 1 and events[0][1] == "step" and events[0][2] is True


def test_next_task_from_execution_context_requires_a_running_task() -> None:
    with workflow("no-task") as wf:
        task("x")(lambda: None)
    ctx = ExecutionContext.create(wf.graph)
    with pytest.raises(GraflowRuntimeError, match="No task is running"):
        ctx.next_task(TaskWrapper("y", lambda: None, register_to_context=False))


def test_iteration_without_data_works_for_tasks_without_a_data_parameter() -> None:
    with workflow("no-data-ok") as wf:

        @task(inject_context=True, max_cycles=3)
        def poll(ctx) -> int:
            if ctx.can_iterate():
                ctx.next_iteration()
            return ctx.cycle_count

        assert wf.execute() == 3


def test_iteration_data_is_not_also_filled_from_the_channel() -> None:
    """D8: the parameter that receives iteration data is left out of keyword resolution."""
    seen: list[object] = []
    with workflow("data-vs-channel") as wf:

        @task(inject_context=True, max_cycles=2)
        def step(ctx, payload=None) -> None:
            seen.append(payload)
            if ctx.can_iterate():
                ctx.next_iteration({"round": 2})

        wf.execute(initial_channel={"payload": "from-channel"})
    assert seen == ["from-channel", {"round": 2}]
