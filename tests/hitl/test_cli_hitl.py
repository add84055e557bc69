"""``graflow hitl list|show|answer|cancel|resumer`` through the real entry point (``python -m graflow.cli.main``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from graflow import task, workflow
from graflow.hitl import resume_state as rs
from graflow.hitl.backend.filesystem import FilesystemFeedbackBackend
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import CANCELLED, COMPLETED, TIMEOUT, FeedbackRequest, FeedbackType

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0


def graflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "graflow.cli.main", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=WAIT)  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The command's only line on stderr (and no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def store(tmp_path: Path) -> FeedbackManager:
    return FeedbackManager(FilesystemFeedbackBackend(tmp_path / "feedback_data"))


def add(store: FeedbackManager, feedback_id: str, kind: str, *, options: list[str] | None = None,
        status: str = "pending", prompt: str = "Question?") -> FeedbackRequest:  # fmt: skip
    request = FeedbackRequest(
        feedback_id=feedback_id,
        task_id=f"task_{kind}",
        session_id="run-1",
        feedback_type=FeedbackType(kind),
        prompt=prompt,
        options=options,
        status=status,
    )
    store.store_request(request)
    return request


def test_list_show_answer_and_cancel(store: FeedbackManager, tmp_path: Path) -> None:
    add(store, "fb-approve", "approval", prompt="Deploy to production?")
    add(store, "fb-pick", "selection", options=["blue", "green"], status=TIMEOUT)
    add(store, "fb-old", "text", status=CANCELLED)

    listed = graflow("hitl", "list", cwd=tmp_path)
    assert listed.returncode == 0
    assert "fb-approve" in listed.stdout and "fb-pick" in listed.stdout and "fb-old" not in listed.stdout
    assert "Deploy to production?" in listed.stdout
    every = [json.loads(line) for line in graflow("hitl", "list", "--all", "--json", cwd=tmp_path).stdout.splitlines()]
    assert {row["feedback_id"] for row in every} == {"fb-approve", "fb-pick", "fb-old"}

    answered = graflow("hitl", "answer", "fb-pick", "--select", "green", "--by", "ana", cwd=tmp_path)
    assert answered.returncode == 0 and "Answered fb-pick: green" in answered.stdout
    response = store.get_response("fb-pick")
    assert response is not None and response.selected == "green" and response.responded_by == "ana"
    shown = graflow("hitl", "show", "fb-pick", cwd=tmp_path)
    assert shown.returncode == 0 and "completed" in shown.stdout and "green" in shown.stdout
    as_json = json.loads(graflow("hitl", "show", "fb-pick", "--json", cwd=tmp_path).stdout)
    assert as_json["request"]["status"] == COMPLETED and as_json["response"]["selected"] == "green"

    assert graflow("hitl", "answer", "fb-approve", "--reject", "--reason", "not today", cwd=tmp_path).returncode == 0
    rejected = store.get_response("fb-approve")
    assert rejected is not None and rejected.approved is False and rejected.reason == "not today"
    add(store, "fb-drop", "text")
    cancelled = graflow("hitl", "cancel", "fb-drop", cwd=tmp_path)
    assert cancelled.returncode == 0 and "Cancelled fb-drop" in cancelled.stdout
    dropped = store.get_request("fb-drop")
    assert dropped is not None and dropped.status == CANCELLED
    assert "No open feedback requests" in graflow("hitl", "list", cwd=tmp_path).stdout


@pytest.mark.parametrize(
    ("kind", "options", "answer", "fragment"),
    [
        ("approval", None, ["--text", "yes"], "asks for an approval; answer it with --approve or --reject, not --text"),
        ("selection", ["a", "b"], ["--select", "c"], "'c' is not an option of feedback fb-1; choose from 'a', 'b'"),
        ("multi_selection", ["a", "b"], ["--select-multiple", "a", "--select-multiple", "z"], "'z' is not an option"),
        ("selection", ["a", "b"], ["--select-multiple", "a"], "answer it with --select, not --select-multiple"),
        ("custom", None, ["--custom", "{oops"], "--custom: not valid JSON"),
        ("custom", None, ["--custom", "[1, 2]"], "--custom: expected a JSON object, got list"),
        ("text", None, ["--text", "x", "--reason", "r"], "--reason goes with --approve or --reject only"),
        ("text", None, [], "one of the arguments --approve --reject --text"),
        ("text", None, ["--approve", "--text", "x"], "not allowed with argument"),
    ],
)
def test_an_answer_that_does_not_fit_is_a_usage_error(
    store: FeedbackManager, tmp_path: Path, kind: str, options: list[str] | None, answer: list[str], fragment: str
) -> None:
    add(store, "fb-1", kind, options=options)
    result = graflow("hitl", "answer", "fb-1", *answer, cwd=tmp_path)
    assert result.returncode == 2
    assert fragment in one_line_error(result)
    stored = store.get_request("fb-1")
    assert stored is not None and stored.status == "pending" and store.get_response("fb-1") is None


@pytest.mark.parametrize(
    ("status", "command", "fragment"),
    [
        (None, ["answer", "fb-x", "--approve"], "no feedback request 'fb-x' in this store"),
        (None, ["show", "fb-x"], "no feedback request 'fb-x'"),
        (None, ["cancel", "fb-x"], "no feedback request 'fb-x'"),
        (COMPLETED, ["answer", "fb-x", "--approve"], "feedback fb-x was already answered"),
        (CANCELLED, ["answer", "fb-x", "--approve"], "feedback fb-x was cancelled; it accepts no answer"),
        (COMPLETED, ["cancel", "fb-x"], "already answered; it cannot be cancelled"),
    ],
)
def test_a_request_that_cannot_take_it_is_refused(
    store: FeedbackManager, tmp_path: Path, status: str | None, command: list[str], fragment: str
) -> None:
    if status is not None:
        add(store, "fb-x", "approval", status=status)
    result = graflow("hitl", *command, cwd=tmp_path)
    assert result.returncode == 1
    assert fragment in one_line_error(result)


def test_an_unreachable_or_malformed_redis_is_reported_in_one_line(tmp_path: Path, free_port: int) -> None:
    down = graflow("hitl", "list", "--backend", "redis", "--redis-url", f"redis://127.0.0.1:{free_port}/0",
                   cwd=tmp_path)  # fmt: skip
    assert down.returncode == 1 and "cannot connect to Redis" in one_line_error(down)
    bad = graflow("hitl", "list", "--backend", "redis", "--redis-url", "http://nowhere", cwd=tmp_path)
    assert bad.returncode == 2 and "--redis-url" in one_line_error(bad)


def test_hitl_alone_prints_its_help(tmp_path: Path) -> None:
    result = graflow("hitl", cwd=tmp_path)
    assert result.returncode == 2 and "answer" in result.stderr and "resumer" in result.stderr


def test_the_redis_store(redis_url: str, key_prefix: str, tmp_path: Path) -> None:
    from graflow.hitl.backend.redis import RedisFeedbackBackend
    from graflow.utils.redis_utils import redis_from_url

    prefix = f"{key_prefix}:feedback"
    manager = FeedbackManager(RedisFeedbackBackend(redis_from_url(redis_url), key_prefix=prefix))
    add(manager, "fb-r", "multi_selection", options=["x", "y", "z"])
    flags = ["--backend", "redis", "--redis-url", redis_url, "--key-prefix", prefix]
    assert "fb-r" in graflow("hitl", "list", *flags, cwd=tmp_path).stdout
    result = graflow("hitl", "answer", "fb-r", "--select-multiple", "x", "--select-multiple", "z", *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    response = manager.get_response("fb-r")
    assert response is not None and response.selected_multiple == ["x", "z"]


def pause_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FeedbackRequest:
    """A run paused on an approval, checkpointed under ``tmp_path``; its tasks note what they do in effects.txt."""
    effects = tmp_path / "effects.txt"
    monkeypatch.chdir(tmp_path)
    with workflow("cli-resume") as wf:

        @task(inject_context=True)
        def ask(ctx: Any) -> bool:
            ok = bool(ctx.request_approval("Deploy?", timeout=0.05))
            with open(effects, "a") as out:
                out.write(f"ask {ok}\n")
            return ok

        @task
        def after(ask: bool) -> None:
            with open(effects, "a") as out:
                out.write("after\n")

        ask >> after
        _, ctx = wf.execute("ask", ret_context=True)
    assert ctx.status == "paused"
    return ctx.feedback_manager.list_requests()[0]  # type: ignore[no-any-return]


def test_answer_then_resumer_once_finishes_the_paused_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    request = pause_a_run(tmp_path, monkeypatch)
    answered = graflow("hitl", "answer", request.feedback_id, "--approve", cwd=tmp_path)
    assert answered.returncode == 0 and "is paused; a resumer" in answered.stdout
    resumed = graflow("hitl", "resumer", "--once", "--log-level", "WARNING", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{request.feedback_id}: done (run completed)" in resumed.stdout
    assert (tmp_path / "effects.txt").read_text().splitlines() == ["ask True", "after"]
    again = graflow("hitl", "resumer", "--once", cwd=tmp_path)
    assert again.returncode == 0 and "No paused run waits" in again.stdout
    assert "resumed: completed" in graflow("hitl", "list", "--all", cwd=tmp_path).stdout


@pytest.mark.timeout(120)
def test_the_resumer_serves_until_sigterm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    request = pause_a_run(tmp_path, monkeypatch)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "graflow.cli.main", "hitl", "resumer", "--poll-interval", "0.1"],
        cwd=tmp_path, env=env, text=True, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert server.stderr is not None and "watching" in server.stderr.readline()
        assert graflow("hitl", "answer", request.feedback_id, "--approve", cwd=tmp_path).returncode == 0
        # the resumer logs each resumption's end; read its log until this one's
        for line in server.stderr:
            assert "Traceback" not in line
            if f"Feedback {request.feedback_id}: resumed run" in line:
                assert line.rstrip().endswith("ended completed")
                break
        else:
            raise AssertionError(f"the resumer exited with {server.wait()} before resuming the run")
        server.send_signal(signal.SIGTERM)
        assert server.wait(WAIT) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert (tmp_path / "effects.txt").read_text().splitlines() == ["ask True", "after"]
    stored = FeedbackManager(FilesystemFeedbackBackend(tmp_path / "feedback_data")).get_request(request.feedback_id)
    assert stored is not None and stored.metadata[rs.RESUME_STATE] == rs.DONE
