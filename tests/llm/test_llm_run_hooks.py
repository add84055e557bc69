"""Model calls reach the engine hooks of the run that made them (``on_llm_call``), and nothing else."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.hooks import EVENTS, EngineHook, HookSet
from graflow.llm import events
from graflow.llm.events import LLMCallEvent


class Recorder(EngineHook):
    """Keeps every ``on_llm_call`` it receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[LLMCallEvent, Any, str | None]] = []
        self._lock = threading.Lock()

    def on_llm_call(self, *, event: Any, context: Any, task_id: str | None = None) -> None:
        with self._lock:
            self.calls.append((event, context, task_id))


def _event(model: str = "m") -> LLMCallEvent:
    return LLMCallEvent(model=model, operation=events.OP_COMPLETION, duration=0.1, prompt_tokens=3,
                        completion_tokens=2, total_tokens=5)


def test_on_llm_call_is_an_engine_event_a_hook_set_fans_out() -> None:
    hook = Recorder()
    hooks = HookSet([hook])
    assert "on_llm_call" in EVENTS
    assert hooks.on_llm_call == (hook.on_llm_call,)
    assert HookSet([EngineHook()]).on_llm_call == ()


def test_a_call_inside_a_task_reaches_the_runs_hooks_with_the_task_id() -> None:
    # given a run whose hook listens to model calls and whose task reports one
    hook = Recorder()
    sent = _event()
    with workflow("calls", hooks=[hook]) as wf:

        @task
        def ask() -> bool:
            listening = events.has_listeners()
            events.emit(sent)
            return listening

        # when it runs
        listening, ctx = wf.execute(ret_context=True)
    # then the hook got the event, the run's context and the task's id
    assert listening is True
    assert [(event, task_id) for event, _, task_id in hook.calls] == [(sent, "ask")]
    assert hook.calls[0][1] is ctx


def test_calls_outside_a_run_reach_no_hook_and_build_no_event() -> None:
    hook = Recorder()
    with workflow("idle", hooks=[hook]) as wf:

        @task
        def noop() -> None:
            return None

    wf.execute()
    assert not events.has_listeners()
    events.emit(_event())
    assert hook.calls == []


def test_a_run_without_a_listening_hook_costs_no_event() -> None:
    with workflow("quiet") as wf:

        @task
        def ask() -> bool:
            return events.has_listeners()

    assert wf.execute() is False


def test_clearing_the_listeners_keeps_the_bridge_to_the_run() -> None:
    hook = Recorder()
    events.clear_listeners()
    with workflow("bridge", hooks=[hook]) as wf:

        @task
        def ask() -> None:
            events.emit(_event())

    wf.execute()
    assert len(hook.calls) == 1


def test_a_failing_hook_neither_breaks_the_call_nor_the_other_hooks(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(EngineHook):
        def on_llm_call(self, *, event: Any, context: Any, task_id: str | None = None) -> None:
            raise RuntimeError("hook bug")

    good = Recorder()
    with workflow("robust", hooks=[Broken(), good]) as wf:

        @task
        def ask() -> str:
            events.emit(_event())
            return "done"

    assert wf.execute() == "done"
    assert len(good.calls) == 1 and "hook bug" in caplog.text


def test_parallel_members_report_their_own_task_ids() -> None:
    # given two members that each make a call, on the threads of the parallel group
    hook = Recorder()
    with workflow("fan_out", hooks=[hook]) as wf:

        @task
        def left() -> None:
            events.emit(_event("left-model"))

        @task
        def right() -> None:
            events.emit(_event("right-model"))

        _ = left | right

    wf.execute()
    assert sorted((event.model, task_id) for event, _, task_id in hook.calls) == [
        ("left-model", "left"), ("right-model", "right")]


def test_a_client_call_in_a_task_reports_provider_and_usage(fake_llm: Any, llm_client: Any) -> None:
    # given a task that calls the fake model through a client
    fake_llm.script("four words in reply")
    hook = Recorder()
    with workflow("client", hooks=[hook]) as wf:

        @task
        def ask() -> str:
            return str(llm_client.completion_text([{"role": "user", "content": "two words"}]))

    # when it runs, then the hook sees the call with its provider and token counts
    assert wf.execute() == "four words in reply"
    (event, _, task_id), = hook.calls
    assert (task_id, event.model, event.provider) == ("ask", "openai/test-model", "openai")
    assert (event.prompt_tokens, event.completion_tokens, event.success) == (2, 4, True)
    assert event.attributes == {}


def test_calls_that_litellm_exports_to_langfuse_are_marked(
    fake_llm: Any, monkeypatch: pytest.MonkeyPatch, llm_events: list[LLMCallEvent]
) -> None:
    # given a traced client while LiteLLM's Langfuse callback is on (as with LANGFUSE_* keys set)
    from graflow.llm import LLMClient
    from graflow.llm import client as client_module

    monkeypatch.setattr(client_module, "langfuse_enabled", lambda: True)
    traced = LLMClient("openai/test-model", enable_tracing=True, api_base=fake_llm.base_url, api_key="test")
    untraced = LLMClient("openai/test-model", enable_tracing=False, api_base=fake_llm.base_url, api_key="test")
    fake_llm.script("a", "b")
    # when both call the model
    traced.completion_text([{"role": "user", "content": "x"}])
    untraced.completion_text([{"role": "user", "content": "y"}])
    # then only the traced call says Langfuse has it already (LangFuseTracer skips it)
    assert [event.attributes.get(events.ATTR_LANGFUSE_EXPORTED, False) for event in llm_events] == [True, False]
