"""Hooks (one base class, failures isolated) and the tracers of spec 11."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest

from graflow import task, workflow
from graflow.core.engine import running_contexts
from graflow.core.hooks import EngineHook, HookSet
from graflow.exceptions import GraflowRuntimeError
from graflow.trace import ConsoleTracer, NoopTracer, Tracer


class Recorder(EngineHook):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_workflow_start(self, *, workflow_name, context):  # type: ignore[no-untyped-def]
        self.events.append(f"wf-start:{workflow_name}")

    def on_task_start(self, *, task, context):  # type: ignore[no-untyped-def]
        self.events.append(f"start:{task.task_id}")

    def on_task_end(self, *, task, context, result=None, error=None):  # type: ignore[no-untyped-def]
        self.events.append(f"end:{task.task_id}:{result}:{type(error).__name__ if error else None}")

    def on_task_retry(self, *, task, context, attempt, delay, error):  # type: ignore[no-untyped-def]
        self.events.append(f"retry:{task.task_id}:{attempt}")

    def on_workflow_end(self, *, workflow_name, context, result=None):  # type: ignore[no-untyped-def]
        self.events.append(f"wf-end:{context.status}:{result}")


def test_hooks_receive_events_in_order() -> None:
    recorder = Recorder()
    with workflow("hooked", hooks=[recorder]) as wf:
        attempts = []

        @task(max_retries=1)
        def a() -> int:
            attempts.append(1)
            if len(attempts) == 1:
                raise ValueError("once")
            return 1

        b = task("b")(lambda a: a + 1)
        a >> b
        wf.execute()
    assert recorder.events == [
        "wf-start:hooked", "start:a", "end:a:None:ValueError", "retry:a:1", "start:a", "end:a:1:None",
        "start:b", "end:b:2:None", "wf-end:completed:2",
    ]


def test_timed_listeners_get_each_attempts_duration_before_its_end_event() -> None:
    # given a hook that listens to on_task_timed and on_task_end, and a task that fails once, then sleeps
    events: list[tuple[str, str, float | None, str | None]] = []

    class Timed(EngineHook):
        def on_task_timed(self, task, context, duration, error=None):  # type: ignore[no-untyped-def]
            events.append(("timed", task.task_id, duration, type(error).__name__ if error else None))

        def on_task_end(self, *, task, context, result=None, error=None):  # type: ignore[no-untyped-def]
            events.append(("end", task.task_id, None, type(error).__name__ if error else None))

    with workflow("timed", hooks=[Timed()]) as wf:
        attempts = []

        @task(max_retries=1)
        def slow() -> None:
            attempts.append(1)
            if len(attempts) == 1:
                raise ValueError("once")
            time.sleep(0.02)

        wf.execute()

    # then each attempt is reported once with its outcome, timed before its end event, the sleep included
    assert [(kind, tid, err) for kind, tid, _, err in events] == [
        ("timed", "slow", "ValueError"), ("end", "slow", "ValueError"), ("timed", "slow", None), ("end", "slow", None)]
    failed, succeeded = events[0][2], events[2][2]
    assert failed is not None and 0 <= failed < 0.02
    assert succeeded is not None and succeeded >= 0.02


def test_an_instance_can_opt_out_of_an_event_its_class_handles() -> None:
    # given a hook class that handles task starts, and an instance that sets the event to None
    class Starts(EngineHook):
        def __init__(self, listen: bool) -> None:
            self.seen: list[str] = []
            if not listen:
                self.on_task_start = None  # type: ignore[assignment,method-assign]

        def on_task_start(self, *, task, context):  # type: ignore[no-untyped-def]
            self.seen.append(task.task_id)

    listening, silent = Starts(True), Starts(False)
    hooks = HookSet([listening, silent])

    # then only the listening instance is dispatched to, and a run calls it alone
    assert hooks.on_task_start == (listening.on_task_start,)
    with workflow("optout", hooks=[listening, silent]) as wf:
        task("only")(lambda: None)
        wf.execute()
    assert listening.seen == ["only"] and silent.seen == []


def test_running_contexts_lists_a_run_while_it_goes_on_and_not_after() -> None:
    # given a task that looks at the engine's running contexts while it runs
    seen: list[tuple[str, int]] = []
    with workflow("live") as wf:

        @task
        def look() -> None:
            seen.extend((ctx.workflow_name, ctx.running_task_count) for ctx in running_contexts())

        wf.execute()

    # then its run was listed with one task running, and is gone once the run ended
    assert ("live", 1) in seen
    assert all(ctx.workflow_name != "live" for ctx in running_contexts())


def test_a_broken_hook_is_logged_and_never_breaks_a_run(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(EngineHook):
        def on_task_start(self, *, task, context):  # type: ignore[no-untyped-def]
            raise RuntimeError("hook bug")

    with workflow("broken-hook", hooks=[Broken()]) as wf:
        task("t")(lambda: "fine")
        with caplog.at_level(logging.ERROR):
            assert wf.execute() == "fine"
    assert "hook bug" in caplog.text


def test_hookset_only_dispatches_overridden_events() -> None:
    hooks = HookSet([Recorder()])
    assert hooks.on_task_start and not hooks.on_checkpoint
    passive = NoopTracer()
    assert not HookSet([passive]).on_task_start  # passive tracers skip per-task events


def test_noop_tracer_still_offers_a_runtime_graph() -> None:
    tracer = NoopTracer()
    with workflow("noop", tracer=tracer) as wf:
        a, b = task("a")(lambda: 1), task("b")(lambda: 2)
        a >> b
        wf.execute()
    graph = tracer.get_runtime_graph()
    assert list(graph.nodes) == ["noop", "a", "b"] and list(graph.edges) == [("noop", "a"), ("noop", "b")]
    assert tracer.get_execution_order() == ["noop", "a", "b"]


def test_console_tracer_output_format() -> None:
    out = io.StringIO()
    tracer = ConsoleTracer(enable_colors=False, stream=out)
    with workflow("console", tracer=tracer) as wf:

        @task(inject_context=True, max_cycles=2)
        def loop(ctx, data=None) -> None:
            if ctx.can_iterate():
                ctx.next_iteration()

        @task
        def fail() -> None:
            raise ValueError("bad")

        loop >> fail
        with pytest.raises(GraflowRuntimeError):
            wf.execute()
    lines = out.getvalue().splitlines()
    stamp = r"\[\d\d:\d\d:\d\d\.\d{3}\]"
    assert re.fullmatch(rf"→ {stamp} TRACE START: console \(trace_id: [0-9a-f]{{32}}\)", lines[0])
    assert re.fullmatch(rf"\s*→ {stamp} SPAN START: loop \(task_type: TaskWrapper, handler_type: direct\)", lines[1])
    assert any(re.fullmatch(rf"\s*⚡ {stamp} \+ ITERATION TASK: loop_cycle_1_[0-9a-f]{{8}} \(parent: loop\)", x)
               for x in lines)
    assert any(re.fullmatch(r"\s*\(task_type: TaskWrapper, is_new_task: True, goto: False\)", x) for x in lines)
    assert any(re.fullmatch(rf"\s*✓ {stamp} SPAN END: loop \(\d+ms\)", x) for x in lines)
    assert any(re.fullmatch(rf"\s*✗ {stamp} SPAN END: fail - ERROR: bad \(\d+ms\)", x) for x in lines)
    assert re.fullmatch(rf"✓ {stamp} TRACE END: console \(\d+ms\)", lines[-1])


def test_tracer_exports_runtime_graph_formats() -> None:
    tracer = Tracer()
    with workflow("export", tracer=tracer) as wf:
        a, b = task("a")(lambda: 1), task("b")(lambda: 2)
        a >> b
        wf.execute()
    exported = tracer.export_runtime_graph("dict")
    assert [n["id"] for n in exported["nodes"]] == ["export", "a", "b"]
    assert json.loads(tracer.export_runtime_graph("json"))["execution_order"] == ["export", "a", "b"]
    assert "<graphml" in tracer.export_runtime_graph("graphml")
    with pytest.raises(ValueError):
        tracer.export_runtime_graph("yaml")
    tracer.attach_to_trace("t" * 32, "parent-span")
    assert tracer.trace_id == "t" * 32 and tracer.get_current_span_id() == "parent-span"
    assert tracer.clone("x") is tracer
