"""The engine loop: results, channel seeding, keyword resolution, joins, max_steps, runs on own graph."""

from __future__ import annotations

import logging
import time

import pytest

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.graph import TaskGraph
from graflow.core.handler import TaskHandler
from graflow.core.task import TaskWrapper
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import GraflowRuntimeError


def test_execute_returns_the_last_result_and_stores_every_result() -> None:
    with workflow("results") as wf:

        @task
        def first() -> int:
            return 1

        @task
        def nothing() -> None:
            return None

        first >> nothing
        result, ctx = wf.execute(ret_context=True)
    assert result is None
    assert ctx.get_result("first") == 1
    assert ctx.channel.exists("nothing.__result__")  # None results are stored too
    assert ctx.status == "completed"
    assert ctx.completed_tasks == ["first", "nothing"]


def test_returned_mapping_feeds_parameters_of_the_next_task() -> None:
    """D11: fetch returning {"users": 1200} feeds validate(users) (upstream README quick-start)."""
    with workflow("readme") as wf:

        @task
        def fetch() -> dict[str, int]:
            return {"users": 1200}

        @task
        def validate(users: int) -> bool:
            return users > 1000

        fetch >> validate
        assert wf.execute() is True


def test_keyword_resolution_order() -> None:
    """D11 order: bound kwarg > <param>.__result__ > plain key > triggering result > default."""
    seen: dict[str, object] = {}
    with workflow("order") as wf:

        @task
        def source() -> dict[str, str]:
            return {"a": "from-trigger", "b": "from-trigger", "c": "from-trigger", "d": "from-trigger"}

        @task
        def sink(a: str, b: str, c: str, d: str, e: str = "default") -> None:
            seen.update(a=a, b=b, c=c, d=d, e=e)

        bound = sink(task_id="sink_bound", a="bound")
        source >> bound
        wf.execute("source", initial_channel={"b.__result__": "from-result-key", "c": "from-plain-key", "a": "ignored"})
    assert seen == {"a": "bound", "b": "from-result-key", "c": "from-plain-key", "d": "from-trigger", "e": "default"}


def test_execute_keywords_and_initial_channel_seed_the_channel() -> None:
    """D12: extra keyword arguments of execute() set channel keys."""
    with workflow("seed") as wf:

        @task
        def validate(record: dict[str, int], limit: int) -> bool:
            return record["n"] < limit

        assert wf.execute("validate", record={"n": 1}, initial_channel={"limit": 5}) is True


def test_resolution_can_be_turned_off() -> None:
    with workflow("off") as wf:

        @task(resolve_keyword_args=False)
        def needs(x: int = 7) -> int:
            return x

        assert wf.execute(initial_channel={"x": 1}) == 7


def test_running_a_workflow_twice_gives_the_same_result_and_keeps_the_definition() -> None:
    """D2: a run works on its own graph; dynamic nodes never leak into wf.graph."""
    with workflow("twice") as wf:

        @task(inject_context=True)
        def spawn(ctx) -> None:
            ctx.next_task(TaskWrapper("dynamic_child", lambda: "child", register_to_context=False))

        nodes_before = set(wf.graph.nodes)
        first, ctx1 = wf.execute(ret_context=True)
        second, ctx2 = wf.execute(ret_context=True)
    assert first == second == "child"
    assert set(wf.graph.nodes) == nodes_before
    assert "dynamic_child" in ctx1.graph.nodes and ctx1.session_id != ctx2.session_id


def test_fan_in_runs_once_after_all_branches() -> None:
    """D3: the diamond runs its merge node once, after both branches, however deep."""
    calls: list[str] = []
    with workflow("diamond") as wf:
        s, p, q, q2, m = (task(n)(lambda n=n: calls.append(n)) for n in ("s", "p", "q", "q2", "m"))
        s >> p >> m
        s >> q >> q2 >> m
        wf.execute()
    assert calls.count("m") == 1
    assert calls.index("m") > max(calls.index("p"), calls.index("q2"))


def test_two_independent_predecessors_join() -> None:
    calls: list[str] = []
    with workflow("join") as wf:
        root, a, b, c = (task(n)(lambda n=n: calls.append(n)) for n in ("root", "a", "b", "c"))
        root >> a >> c
        root >> b >> c
        wf.execute()
    assert calls == ["root", "a", "b", "c"]


def test_loops_still_run_through_joins() -> None:
    """D3: agent >> tool >> agent loops; nothing pending can reach agent when tool completes."""
    with workflow("agent-loop") as wf:

        @task(inject_context=True)
        def start(ctx) -> None:
            ctx.get_channel().set("turns", 0)

        @task(inject_context=True)
        def agent(ctx) -> int:
            turns = ctx.get_channel().atomic_add("turns", 1)
            if turns >= 3:
                ctx.terminate_workflow("done")
            return turns

        @task
        def tool() -> str:
            return "tool"

        start >> agent >> tool >> agent
        result, ctx = wf.execute("start", ret_context=True)
    assert result == 3
    assert ctx.execution_log == ["start", "agent", "tool", "agent", "tool", "agent"]
    assert ctx.status == "terminated"


def test_max_steps_stops_visibly(caplog: pytest.LogCaptureFixture) -> None:
    """D6: reaching max_steps logs a warning and sets status max_steps_reached."""
    with workflow("spin") as wf:

        @task(inject_context=True)
        def spin(ctx) -> int:
            ctx.next_task(spin)
            return ctx.cycle_count

        with caplog.at_level(logging.WARNING):
            result, ctx = wf.execute(max_steps=5, ret_context=True)
    assert result == 5
    assert ctx.status == "max_steps_reached"
    assert ctx.steps == 5
    assert "max_steps=5" in caplog.text


def test_failure_is_wrapped_with_the_original_as_cause() -> None:
    with workflow("boom") as wf:

        @task
        def explode() -> None:
            raise KeyError("missing")

        with pytest.raises(GraflowRuntimeError) as err:
            wf.execute()
    assert isinstance(err.value.cause, KeyError)
    assert err.value.__cause__ is err.value.cause
    assert err.value.task_id == "explode"
    # the message names the task once, then the original error's type and text
    assert str(err.value) == "Task 'explode' failed: KeyError: 'missing'"


def test_failed_task_stores_its_exception_and_marks_the_context() -> None:
    with workflow("failed") as wf:

        @task
        def explode() -> None:
            raise ValueError("bad")

        ctx = wf.create_context()
        with pytest.raises(GraflowRuntimeError):
            WorkflowEngine().execute(ctx)
    assert isinstance(ctx.get_result("explode"), ValueError)
    assert ctx.status == "failed" and isinstance(ctx.error, GraflowRuntimeError)


def test_unknown_start_node_names_the_available_nodes() -> None:
    with workflow("unknown") as wf:
        task("only")(lambda: None)
        with pytest.raises(GraflowRuntimeError, match=r"Node 'nope' not found in graph\. Available nodes: only"):
            wf.execute("nope")


class _Doubling(TaskHandler):
    def execute_task(self, task, context):  # type: ignore[no-untyped-def]
        value = task.run() * 2
        context.set_result(task.task_id, value)
        return value


def test_custom_handler_through_engine_registration() -> None:
    with workflow("handlers") as wf:

        @task(handler="double")
        def base() -> int:
            return 21

        engine = WorkflowEngine()
        engine.register_handler("double", _Doubling())
        assert engine.execute(ExecutionContext.create(wf.graph, "base")) == 42


def test_workflow_handler_registry_reaches_parallel_members() -> None:
    """D15: a handler registered on the workflow serves group members too."""
    with workflow("registry") as wf:
        a = task("a", handler="double")(lambda: 1)
        b = task("b", handler="double")(lambda: 2)
        a | b
        wf.register_handler("double", _Doubling())
        assert wf.execute() == {"a": 2, "b": 4}


def test_unknown_handler_fails_before_anything_runs() -> None:
    calls: list[str] = []
    with workflow("unknown-handler") as wf:
        first = task("first")(lambda: calls.append("first"))
        second = task("second", handler="gpu")(lambda: calls.append("second"))
        first >> second
        with pytest.raises(GraflowRuntimeError, match=r"Unknown handler type: gpu\. Supported: direct"):
            wf.execute()
    assert calls == []


def test_low_level_api_with_explicit_graph() -> None:
    graph = TaskGraph()
    a = TaskWrapper("a", lambda: 2, register_to_context=False)
    b = TaskWrapper("b", lambda a: a + 1, register_to_context=False)
    graph.add_node(a)
    graph.add_node(b)
    graph.add_edge("a", "b")
    ctx = ExecutionContext.create(graph)
    assert ctx.start_node == "a"
    assert WorkflowEngine().execute(ctx) == 3
    assert ctx.execute() is None  # nothing left to run


def test_nested_workflows_restore_the_outer_one() -> None:
    with workflow("outer") as outer:
        a = task("a")(lambda: "outer")
        with workflow("inner") as inner:
            task("b")(lambda: "inner")
        c = task("c")(lambda: "c")
        a >> c
    assert sorted(outer.graph.nodes) == ["a", "c"]
    assert list(inner.graph.nodes) == ["b"]
    assert inner.execute() == "inner"


def test_workflow_contexts_are_thread_isolated() -> None:
    import threading

    from graflow.core.workflow import get_current_workflow_context

    seen: list[object] = []
    with workflow("main-thread"):
        thread = threading.Thread(target=lambda: seen.append(get_current_workflow_context()))
        thread.start()
        thread.join()
    assert seen == [None]


def test_tasks_survive_pickling_with_their_flags() -> None:
    """Tasks travel in checkpoints and to workers: a round trip keeps the call behaviour."""
    from graflow.core.serialization import dumps, loads

    with workflow("pickled") as wf:

        @task(inject_context=True, max_retries=2)
        def step(ctx) -> str:
            return ctx.task_id

        clone = loads(dumps(step))
        graph = loads(dumps(wf.graph))
    assert clone.max_retries == 2 and clone.inject_context
    assert ExecutionContext.create(graph).execute() == "step"


def test_a_task_sees_when_its_attempt_started_and_how_long_it_has_run() -> None:
    # given a task that reads its start time and elapsed time before and after a short sleep
    seen: dict[str, float] = {}
    with workflow("clock") as wf:

        @task(inject_context=True)
        def timed(ctx: TaskExecutionContext) -> None:
            seen["start"] = ctx.start_time
            seen["first"] = ctx.elapsed_time()
            time.sleep(0.02)
            seen["second"] = ctx.elapsed_time()
            seen["start_again"] = ctx.start_time

        before = time.time()
        wf.execute()
        after = time.time()

    # then the start is a wall-clock time within the run, stable across reads, and elapsed time grows with the sleep
    assert before <= seen["start"] <= after
    assert seen["start_again"] == seen["start"]
    assert 0 <= seen["first"] < seen["second"]
    assert seen["second"] - seen["first"] >= 0.02


def test_setting_start_time_moves_elapsed_time_with_it() -> None:
    # given a task context whose start time is set ten seconds back
    tctx = TaskExecutionContext("t", ExecutionContext.create(TaskGraph(), "t"))
    tctx.start_time = time.time() - 10

    # then its elapsed time counts from there
    assert 10 <= tctx.elapsed_time() < 11


def test_a_pickled_task_context_keeps_its_wall_clock_start() -> None:
    # given a task context that started five seconds ago, pickled and loaded again
    import pickle

    tctx = TaskExecutionContext("t", ExecutionContext.create(TaskGraph(), "t"))
    tctx.start_time = time.time() - 5
    loaded = pickle.loads(pickle.dumps(tctx))

    # then the copy has the same start and counts its elapsed time from it
    assert loaded.start_time == tctx.start_time
    assert loaded.task_id == "t"
    assert 5 <= loaded.elapsed_time() < 6


def test_keyword_resolution_follows_wrapped_functions_and_declared_signatures() -> None:
    # given tasks whose own code takes no named parameters but whose signature (functools.wraps, __signature__) does
    import functools
    import inspect

    seen: dict[str, object] = {}

    def record(name: str) -> object:
        def decorate(func: object) -> object:
            @functools.wraps(func)  # type: ignore[arg-type]
            def wrapper(*args: object, **kwargs: object) -> object:
                seen[name] = kwargs.get("value", args[0] if args else None)
                return None

            return wrapper

        return decorate

    def declared(*args: object, **kwargs: object) -> None:
        seen["declared"] = kwargs.get("value")

    declared.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("value", inspect.Parameter.KEYWORD_ONLY)]
    )

    def plain(*args: object, **kwargs: object) -> None:
        seen["plain"] = (args, kwargs)

    with workflow("resolution") as wf:

        @record("wrapped")
        def wrapped(value: int) -> None: ...

        task("wrapped_task")(wrapped) >> task("declared_task")(declared) >> task("plain_task")(plain)
        wf.execute("wrapped_task", initial_channel={"value": 7})

    # then the wrapped and the declared signatures receive the channel value; the plain one is called bare
    assert seen == {"wrapped": 7, "declared": 7, "plain": ((), {})}


def test_a_finished_context_is_freed_without_the_cyclic_garbage_collector() -> None:
    # given a run whose context is only referenced by the test, with the cyclic collector switched off
    import gc
    import weakref

    graph = TaskGraph()
    graph.add_node(TaskWrapper("only", lambda: 1, register_to_context=False), "only")
    gc.disable()
    try:
        ctx = ExecutionContext.create(graph, "only")
        WorkflowEngine().execute(ctx)
        ref = weakref.ref(ctx)
        del ctx

        # then reference counting alone frees it (no context -> scheduler -> context cycle)
        assert ref() is None
    finally:
        gc.enable()


def test_a_cancel_requested_from_another_thread_stops_the_run_at_the_next_task() -> None:
    import threading

    from graflow.exceptions import GraflowWorkflowCanceledError

    started, release = threading.Event(), threading.Event()
    ran: list[str] = []
    with workflow("cancel-from-outside") as wf:

        @task
        def first() -> None:
            ran.append("first")
            started.set()
            release.wait(10)

        @task
        def second() -> None:
            ran.append("second")

        first >> second
        ctx = wf.create_context("first")
        errors: list[BaseException] = []

        def run() -> None:
            try:
                ctx.execute()
            except GraflowWorkflowCanceledError as exc:
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        assert started.wait(10)
        ctx.run.request_cancel("stopped by an operator")
        release.set()
        thread.join(10)
    assert ran == ["first"]  # the running task finished, nothing after it started
    assert ctx.status == "canceled" and "stopped by an operator" in str(errors[0])
