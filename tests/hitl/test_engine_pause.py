"""A feedback request inside a workflow: waiting, pausing on timeout (D23), resuming, asking twice, groups."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.checkpoint import CheckpointManager
from graflow.core.hooks import EngineHook
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import FeedbackResponse


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # checkpoints/ and feedback_data/ go here
    return tmp_path


def answer(manager: FeedbackManager, feedback_id: str, **fields: Any) -> bool:
    request = manager.get_request(feedback_id)
    assert request is not None
    return manager.provide_feedback(
        feedback_id, FeedbackResponse(feedback_id=feedback_id, response_type=request.feedback_type, **fields))


class Ends(EngineHook):
    def __init__(self) -> None:
        self.statuses: list[str] = []

    def on_workflow_end(self, *, workflow_name: str, context: Any, result: Any = None) -> None:
        self.statuses.append(context.status)


def test_an_answer_given_while_the_task_waits_continues_the_run(in_tmp: Path) -> None:
    with workflow("wait") as wf:

        @task(inject_context=True)
        def ask(ctx: Any) -> str:
            return ctx.request_text_input("Name?", timeout=30)

        @task
        def greet(ask: str) -> str:
            return f"hello {ask}"

        ask >> greet
        ctx = wf.create_context("ask")
        manager = ctx.feedback_manager

        def responder() -> None:
            # the request appears once the task asks; answer it then
            while not manager.list_pending_requests():
                threading.Event().wait(0.01)
            assert answer(manager, manager.list_pending_requests()[0].feedback_id, text="Ada")

        thread = threading.Thread(target=responder)
        thread.start()
        assert ctx.execute() == "hello Ada"
        thread.join(5)
    assert ctx.status == "completed"
    assert ctx.feedback_ids == {}  # the task finished with its request


def test_a_timeout_pauses_the_run_and_an_answer_then_resume_finishes_it(in_tmp: Path) -> None:
    ends = Ends()
    with workflow("pause", hooks=[ends]) as wf:

        @task(inject_context=True)
        def approve(ctx: Any) -> str:
            ok = ctx.request_approval("Ship it?", timeout=0.2, channel_key="shipped", write_to_channel=True)
            return "shipped" if ok else "held"

        @task(inject_context=True)
        def report(ctx: Any, approve: str) -> str:
            response = ctx.get_channel().get("shipped.__feedback_response__")
            return f"{approve} by {response['responded_by']}"

        approve >> report
        result, ctx = wf.execute("approve", ret_context=True)
    # then execute returns None, the run is paused with a checkpoint, and hooks heard it end as paused
    assert result is None and ctx.status == "paused"
    assert ctx.last_checkpoint_path and Path(ctx.last_checkpoint_path).exists()
    assert ends.statuses == ["paused"]
    request = ctx.feedback_manager.list_requests()[0]
    assert request.status == "timeout"
    assert request.metadata["checkpoint_path"] == ctx.last_checkpoint_path
    assert request.metadata["checkpoint_reason"] == "feedback_timeout"
    # when someone answers and the checkpoint is resumed
    assert answer(ctx.feedback_manager, request.feedback_id, approved=True, responded_by="ops")
    resumed, meta = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path)
    assert meta.user_metadata["reason"] == "feedback_timeout"
    assert meta.user_metadata["feedback_id"] == request.feedback_id
    # then the task gets the answer at once and writes it to the channel itself (D24)
    assert resumed.execute() == "shipped by ops"
    assert resumed.get_channel().get("shipped") is True


def test_a_task_that_asks_twice_gets_two_answers_across_pauses(in_tmp: Path) -> None:
    with workflow("twice") as wf:

        @task(inject_context=True)
        def interview(ctx: Any) -> str:
            first = ctx.request_text_input("First name?", timeout=0.1)
            last = ctx.request_text_input("Last name?", timeout=0.1)
            return f"{first} {last}"

        _, ctx = wf.execute("interview", ret_context=True)
        assert ctx.status == "paused"
        manager = ctx.feedback_manager
        first = manager.list_requests()[0]
        assert answer(manager, first.feedback_id, text="Grace")
        again, _ = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path)
        assert again.execute() is None and again.status == "paused"  # the second question timed out
        second = next(r for r in manager.list_requests() if r.feedback_id != first.feedback_id)
        assert second.prompt == "Last name?"
        assert answer(manager, second.feedback_id, text="Hopper")
        last, _ = CheckpointManager.resume_from_checkpoint(again.last_checkpoint_path)
        assert last.execute() == "Grace Hopper"


def test_a_loop_back_to_an_answered_task_asks_anew(in_tmp: Path) -> None:
    with workflow("loop") as wf:

        @task(inject_context=True)
        def ask(ctx: Any, data: Any = None) -> str:
            text = ctx.request_text_input(f"round {ctx.cycle_count}?", timeout=30)
            if ctx.cycle_count < 2:
                ctx.next_iteration()
            return text

        ctx = wf.create_context("ask")
        manager = ctx.feedback_manager
        answers = iter(["one", "two"])

        def responder() -> None:
            for _ in range(2):
                while not manager.list_pending_requests():
                    threading.Event().wait(0.01)
                assert answer(manager, manager.list_pending_requests()[0].feedback_id, text=next(answers))

        thread = threading.Thread(target=responder)
        thread.start()
        assert ctx.execute() == "two"
        thread.join(5)
    assert len(manager.list_requests()) == 2


def test_a_parallel_member_that_times_out_pauses_the_whole_run_at_its_group(in_tmp: Path) -> None:
    with workflow("group") as wf:

        @task
        def quick() -> str:
            return "quick"

        @task(inject_context=True)
        def needs_ok(ctx: Any) -> bool:
            return ctx.request_approval("ok?", timeout=0.1)

        group = quick | needs_ok
        result, ctx = wf.execute(group.task_id, ret_context=True)
    assert result is None and ctx.status == "paused"
    request = ctx.feedback_manager.list_requests()[0]
    assert request.task_id == "needs_ok"
    assert answer(ctx.feedback_manager, request.feedback_id, approved=True)
    resumed, _ = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path)
    assert resumed.execute() == {"quick": "quick", "needs_ok": True}


def test_creating_a_context_writes_nothing_until_a_request_is_made(in_tmp: Path) -> None:
    with workflow("quiet") as wf:
        task("t")(lambda: 1)
        ctx = wf.create_context("t")
        assert ctx.feedback_manager is ctx.feedback_manager  # made once, on first use
        ctx.execute()
    assert sorted(os.listdir(in_tmp)) == []  # D26
