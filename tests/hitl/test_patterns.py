"""The human-in-the-loop patterns of Graflow 0.2's example programs, end to end, on the filesystem and Redis backends.

1. basic approval: a task waits while someone else (another thread, another manager on the same store) answers;
2. timeout, pause, answer, resume: the run pauses with a checkpoint (D23), is answered later, and resumed by hand;
3. channel integration: ``write_to_channel`` puts the answer and the full response where the next task reads them;
4. API feedback: a real ``python -m graflow.api`` process answers a waiting workflow over HTTP, and the answer
   reaches the workflow's channel (D24);
5. cancel: ``DELETE /api/feedback/{id}`` wakes the waiting task within a second with a clear error (D24).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from graflow import task, workflow
from graflow.core.checkpoint import CheckpointManager
from graflow.core.context import ExecutionContext
from graflow.exceptions import TaskFailedError
from graflow.hitl.exceptions import FeedbackCancelledError
from graflow.hitl.manager import RESPONSE_KEY_SUFFIX, FeedbackManager
from graflow.hitl.types import FeedbackRequest, FeedbackResponse

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Longest wait for something that normally happens within milliseconds (a request appearing, a thread ending).
DEADLINE = 15.0
#: How long the API server process may take to start.
SERVER_START_TIMEOUT = 30.0


# -- backends -----------------------------------------------------------------------------------------------------
@dataclass
class Backend:
    """Where a test's runs keep their feedback: the filesystem (``feedback_data/`` in the test's folder) or Redis."""

    name: str
    folder: Path
    redis_url: str | None = None
    redis_client: Any = None
    key_prefix: str | None = None
    managers: list[FeedbackManager] = field(default_factory=list)

    def context(self, wf: Any, start: str) -> ExecutionContext:
        """A run of ``wf``; on Redis its channel is Redis too, which selects the Redis feedback backend."""
        checkpoints = str(self.folder / "checkpoints")
        if self.name == "filesystem":
            return wf.create_context(start, checkpoint_dir=checkpoints)  # type: ignore[no-any-return]
        return ExecutionContext.create(
            wf.graph, start, channel_backend="redis", workflow_name=wf.name, checkpoint_dir=checkpoints,
            config={"redis_client": self.redis_client, "key_prefix": self.key_prefix},
        )  # fmt: skip

    def answering_manager(self) -> FeedbackManager:
        """Another manager on the run's store: the answering side, as another process would have it."""
        if self.name == "filesystem":
            manager = FeedbackManager("filesystem", {"data_dir": str(self.folder / "feedback_data")})
        else:
            manager = FeedbackManager("redis", {"redis_client": self.redis_client, "key_prefix": self.key_prefix})
        self.managers.append(manager)
        return manager


@pytest.fixture(params=["filesystem", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    monkeypatch.chdir(tmp_path)  # the default feedback folder, feedback_data/, is relative to the working directory
    if request.param == "filesystem":
        chosen = Backend("filesystem", tmp_path)
    else:
        chosen = Backend(
            "redis", tmp_path,
            redis_url=request.getfixturevalue("redis_url"),
            redis_client=request.getfixturevalue("redis_client"),
            key_prefix=request.getfixturevalue("key_prefix"),
        )  # fmt: skip
    yield chosen
    for manager in chosen.managers:
        manager.close()


# -- helpers ------------------------------------------------------------------------------------------------------
def wait_for_pending(manager: FeedbackManager, session_id: str, prompt: str | None = None) -> FeedbackRequest:
    """The first pending request of the run (with ``prompt`` when given), once it is stored; fails after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    pause = threading.Event()
    while time.monotonic() < deadline:
        for request in manager.list_pending_requests(session_id):
            if prompt is None or request.prompt == prompt:
                return request
        pause.wait(0.01)
    raise AssertionError(f"no pending request {prompt or ''!r} of session {session_id} within {DEADLINE}s")


def answer(manager: FeedbackManager, request: FeedbackRequest, **fields: Any) -> bool:
    response = FeedbackResponse(feedback_id=request.feedback_id, response_type=request.feedback_type, **fields)
    return manager.provide_feedback(request.feedback_id, response)


class Background(threading.Thread):
    """Runs ``work`` in a thread and keeps its result or error for :meth:`finish`."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as exc:  # handed to the test by finish()
            self.error = exc

    def finish(self) -> Any:
        self.join(DEADLINE)
        assert not self.is_alive(), "the background work did not finish"
        if self.error is not None:
            raise self.error
        return self.result


# -- 1. basic approval --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("approved", "outcome"), [(True, "deployed 1.4.2"), (False, "held 1.4.2")])
def test_an_approval_answered_from_another_thread_continues_the_run(
    backend: Backend, approved: bool, outcome: str
) -> None:
    # given a deployment that asks for approval and waits
    with workflow("basic_approval") as wf:

        @task
        def build() -> dict[str, str]:
            return {"version": "1.4.2"}

        @task(inject_context=True)
        def approve(ctx: Any, build: dict[str, str]) -> bool:
            return ctx.request_approval(f"Deploy {build['version']}?", metadata=build, timeout=DEADLINE)

        @task
        def deploy(build: dict[str, str], approve: bool) -> str:
            return f"{'deployed' if approve else 'held'} {build['version']}"

        build >> approve >> deploy
    ctx = backend.context(wf, "build")
    reviewer = backend.answering_manager()

    def review() -> FeedbackRequest:
        request = wait_for_pending(reviewer, ctx.session_id)
        assert answer(reviewer, request, approved=approved, reason="checked", responded_by="ops")
        return request

    # when a reviewer thread answers while the task waits
    person = Background(review)
    person.start()
    result = ctx.execute()
    asked = person.finish()

    # then the run continues with the answer, and the request is closed with it
    assert result == outcome and ctx.status == "completed"
    assert asked.task_id == "approve" and asked.prompt == "Deploy 1.4.2?" and asked.metadata == {"version": "1.4.2"}
    stored = reviewer.get_request(asked.feedback_id)
    assert stored is not None and stored.status == "completed"
    response = reviewer.get_response(asked.feedback_id)
    assert response is not None and response.approved is approved and response.responded_by == "ops"


# -- 2. timeout, pause, answer, resume ----------------------------------------------------------------------------
def count_run(ctx: Any, name: str) -> None:
    """Count the runs of a task in the channel (a checkpoint carries the channel; it copies Python closures)."""
    channel = ctx.get_channel()
    channel.set(f"runs.{name}", channel.get(f"runs.{name}", 0) + 1)


def _release_workflow() -> Any:
    with workflow("timeout_resume") as wf:

        @task(inject_context=True)
        def build(ctx: Any) -> str:
            count_run(ctx, "build")
            return "artifact-7"

        @task(inject_context=True)
        def approve(ctx: Any, build: str) -> bool:
            count_run(ctx, "approve")  # a paused task runs again on resume: it must be safe to repeat
            return ctx.request_approval(f"Release {build}?", timeout=0.2, channel_key="release_ok",
                                        write_to_channel=True)  # fmt: skip

        @task(inject_context=True)
        def release(ctx: Any, build: str, approve: bool) -> str:
            who = ctx.get_channel().get(f"release_ok{RESPONSE_KEY_SUFFIX}")["responded_by"]
            return f"{'released' if approve else 'kept'} {build} ({who})"

        build >> approve >> release
    return wf


def test_a_timeout_pauses_and_an_answer_then_resume_finishes_the_run(backend: Backend) -> None:
    ctx = backend.context(_release_workflow(), "build")

    # when nobody answers within the timeout
    result = ctx.execute()

    # then the run pauses: execute returns None, and the checkpoint is written and recorded in the request
    assert result is None and ctx.status == "paused"
    checkpoint = ctx.last_checkpoint_path
    assert checkpoint and Path(checkpoint).exists()
    assert Path(checkpoint).is_relative_to(backend.folder / "checkpoints")
    office = backend.answering_manager()
    [request] = office.list_requests(ctx.session_id)
    assert request.status == "timeout" and request.prompt == "Release artifact-7?"
    assert request.metadata["checkpoint_path"] == checkpoint
    assert request.metadata["checkpoint_reason"] == "feedback_timeout"
    assert request.metadata["checkpoint_id"] and request.metadata["workflow_name"] == "timeout_resume"
    assert office.list_pending_requests(ctx.session_id) == []  # timed out, yet still answerable

    # when someone answers later and the checkpoint is resumed
    assert answer(office, request, approved=True, responded_by="release-manager")
    resumed, meta = CheckpointManager.resume_from_checkpoint(checkpoint)
    assert meta.user_metadata["reason"] == "feedback_timeout"
    assert meta.user_metadata["feedback_id"] == request.feedback_id and meta.user_metadata["task_id"] == "approve"
    finished = resumed.execute()

    # then the asking task runs again, gets the stored answer at once and writes it to the channel (D24);
    # the task that completed before the pause does not run again
    assert finished == "released artifact-7 (release-manager)" and resumed.status == "completed"
    assert (resumed.get_channel().get("runs.build"), resumed.get_channel().get("runs.approve")) == (1, 2)
    assert resumed.get_channel().get("release_ok") is True
    assert office.list_requests(ctx.session_id)[0].status == "completed"


def test_resuming_before_anyone_answers_pauses_again_on_the_same_request(backend: Backend) -> None:
    ctx = backend.context(_release_workflow(), "build")
    assert ctx.execute() is None
    office = backend.answering_manager()
    [first] = office.list_requests(ctx.session_id)

    # when the run is resumed while the request is still unanswered
    again, _ = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path)  # type: ignore[arg-type]
    assert again.execute() is None

    # then it asks the same request again (no second request) and pauses with a checkpoint of its own
    # (same step count, so within the same second it has the first one's name and replaces it)
    assert again.status == "paused" and again.last_checkpoint_path and Path(again.last_checkpoint_path).exists()
    [same] = office.list_requests(ctx.session_id)
    assert same.feedback_id == first.feedback_id and same.status == "timeout"
    assert same.metadata["checkpoint_path"] == again.last_checkpoint_path
    # and an answer to it finishes the run from the newest checkpoint
    assert answer(office, same, approved=False, responded_by="qa")
    last, _ = CheckpointManager.resume_from_checkpoint(again.last_checkpoint_path)  # type: ignore[arg-type]
    assert last.execute() == "kept artifact-7 (qa)"


# -- 3. channel integration ----------------------------------------------------------------------------------------
def test_answers_written_to_the_channel_reach_the_next_task(backend: Backend) -> None:
    # given a task that asks four questions of different types, each written to its own channel key
    with workflow("channel_integration") as wf:

        @task(inject_context=True)
        def review(ctx: Any) -> None:
            ctx.request_text_input("Comment?", timeout=DEADLINE, channel_key="comment", write_to_channel=True)
            ctx.request_selection("Region?", options=["eu", "us"], timeout=DEADLINE, channel_key="region",
                                  write_to_channel=True)  # fmt: skip
            ctx.request_feedback("multi_selection", "Notify?", options=["dev", "ops", "qa"], timeout=DEADLINE,
                                 channel_key="notify", write_to_channel=True)  # fmt: skip
            ctx.request_feedback("custom", "Limits?", timeout=DEADLINE, channel_key="limits", write_to_channel=True)

        @task(inject_context=True)
        def apply(ctx: Any) -> dict[str, Any]:
            channel = ctx.get_channel()
            keys = ("comment", "region", "notify", "limits")
            return {key: (channel.get(key), channel.get(f"{key}{RESPONSE_KEY_SUFFIX}")) for key in keys}

        review >> apply
    ctx = backend.context(wf, "review")
    reviewer = backend.answering_manager()
    answers: list[tuple[str, dict[str, Any]]] = [
        ("Comment?", {"text": "ship it"}),
        ("Region?", {"selected": "eu"}),
        ("Notify?", {"selected_multiple": ["ops", "qa"]}),
        ("Limits?", {"custom_data": {"cpu": 2, "memory": "4Gi"}}),
    ]

    def respond_in_turn() -> None:
        for prompt, fields in answers:
            assert answer(reviewer, wait_for_pending(reviewer, ctx.session_id, prompt), responded_by="lead", **fields)

    # when each question is answered as it comes
    person = Background(respond_in_turn)
    person.start()
    seen = ctx.execute()
    person.finish()

    # then the next task reads each answer under its key and the full response under <key>.__feedback_response__
    assert {key: value for key, (value, _) in seen.items()} == {
        "comment": "ship it", "region": "eu", "notify": ["ops", "qa"], "limits": {"cpu": 2, "memory": "4Gi"},
    }  # fmt: skip
    for key, (_, full) in seen.items():
        assert full["responded_by"] == "lead" and full["feedback_id"] and full["responded_at"], key
    assert seen["comment"][1]["response_type"] == "text" and seen["limits"][1]["response_type"] == "custom"


# -- a real API server --------------------------------------------------------------------------------------------
class ApiServer:
    """``python -m graflow.api`` on a free port; ready once uvicorn reports startup on stderr.

    Args:
        argv: Flags besides ``--host``/``--port``.
        port: The port to bind.
        cwd: Working directory of the process.
    """

    def __init__(self, argv: list[str], port: int, cwd: Path) -> None:
        path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        env.pop("GRAFLOW_API_TOKEN", None)
        self.url = f"http://127.0.0.1:{port}"
        self.log: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graflow.api", "--host", "127.0.0.1", "--port", str(port), *argv],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            if "Application startup complete" in line:
                self._ready.set()
        self._ready.set()  # the process ended: wait_ready reports it

    def wait_ready(self) -> ApiServer:
        started = self._ready.wait(SERVER_START_TIMEOUT)
        assert started and self.process.poll() is None, "the API server did not start:\n" + "".join(self.log)
        return self

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def server_flags(backend: Backend) -> list[str]:
    """Flags that point a server at the store of ``backend``'s runs."""
    if backend.name == "filesystem":
        return ["--backend", "filesystem", "--data-dir", str(backend.folder / "feedback_data")]
    assert backend.redis_url is not None
    parts = urlsplit(backend.redis_url)
    return ["--backend", "redis", "--redis-host", parts.hostname or "127.0.0.1", "--redis-port",
            str(parts.port or 6379), "--redis-db", parts.path.strip("/") or "0"]  # fmt: skip


def api_context(backend: Backend, wf: Any, start: str) -> ExecutionContext:
    """A run of ``wf`` whose requests the API server sees.

    The server reads Redis keys under the default prefix ``feedback``, while a Redis run with its own
    ``key_prefix`` keeps feedback under that prefix, so the Redis run gets a manager on the default prefix.
    """
    ctx = backend.context(wf, start)
    if backend.name == "redis":
        ctx.feedback_manager = FeedbackManager("redis", {"redis_client": backend.redis_client},
                                               channel_manager=ctx.channel)  # fmt: skip
    return ctx


@pytest.fixture
def api_server(backend: Backend, free_port: int) -> Iterator[ApiServer]:
    server = ApiServer([*server_flags(backend), "--auth-token", "s3cret", "--log-level", "info"], free_port,
                       backend.folder)  # fmt: skip
    try:
        yield server.wait_ready()
    finally:
        server.stop()


@pytest.fixture
def http(api_server: ApiServer) -> Iterator[Any]:
    httpx = pytest.importorskip("httpx")
    with httpx.Client(base_url=api_server.url, headers={"Authorization": "Bearer s3cret"}, timeout=10) as client:
        yield client


@pytest.fixture
def forget_default_prefix_keys(backend: Backend) -> Iterator[list[str]]:
    """Ids of requests stored under the default Redis prefix; their keys are deleted after the test."""
    ids: list[str] = []
    yield ids
    if backend.name == "redis" and ids:
        backend.redis_client.delete(*[f"feedback:{kind}:{i}" for i in ids for kind in ("request", "response")])


def wait_for_pending_over_http(http: Any, session_id: str) -> dict[str, Any]:
    """The run's pending request as the API lists it, once it is there; fails after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    pause = threading.Event()
    while time.monotonic() < deadline:
        listed = http.get("/api/feedback", params={"session_id": session_id})
        assert listed.status_code == 200, listed.text
        if listed.json()["count"]:
            return listed.json()["requests"][0]  # type: ignore[no-any-return]
        pause.wait(0.02)
    raise AssertionError(f"the API listed no pending request of session {session_id} within {DEADLINE}s")


# -- 4. API feedback ----------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_an_answer_posted_to_the_api_server_reaches_the_waiting_workflow(
    backend: Backend, http: Any, forget_default_prefix_keys: list[str]
) -> None:
    # given a workflow waiting for approval, its answer to be written to the channel key "approval"
    with workflow("api_feedback") as wf:

        @task(inject_context=True)
        def gate(ctx: Any) -> bool:
            return ctx.request_approval("Publish the report?", metadata={"pages": 12}, timeout=DEADLINE,
                                        channel_key="approval", write_to_channel=True)  # fmt: skip

        @task(inject_context=True)
        def publish(ctx: Any) -> str:
            channel = ctx.get_channel()
            full = channel.get(f"approval{RESPONSE_KEY_SUFFIX}")
            return f"approved={channel.get('approval')} by {full['responded_by']}: {full['reason']}"

        gate >> publish
    ctx = api_context(backend, wf, "gate")
    run = Background(ctx.execute)
    run.start()

    # when someone finds the request through the API and answers it over HTTP
    listed = wait_for_pending_over_http(http, ctx.session_id)
    forget_default_prefix_keys.append(listed["feedback_id"])
    assert listed["prompt"] == "Publish the report?" and listed["metadata"] == {"pages": 12}
    assert listed["feedback_type"] == "approval" and listed["channel_key"] == "approval"
    reply = http.post(f"/api/feedback/{listed['feedback_id']}/respond",
                      json={"approved": True, "reason": "numbers checked", "responded_by": "alice"})  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.json()["response_type"] == "approval" and reply.json()["approved"] is True

    # then the waiting workflow continues with the answer, written to its channel by the waiting task (D24)
    assert run.finish() == "approved=True by alice: numbers checked"
    assert ctx.status == "completed" and ctx.get_channel().get("approval") is True
    detail = http.get(f"/api/feedback/{listed['feedback_id']}").json()
    assert detail["request"]["status"] == "completed" and detail["response"]["responded_by"] == "alice"
    assert http.get("/api/feedback", params={"session_id": ctx.session_id}).json()["count"] == 0
    # an answered request takes no second answer
    again = http.post(f"/api/feedback/{listed['feedback_id']}/respond", json={"approved": False})
    assert again.status_code == 400


# -- 5. cancel -----------------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_cancelling_through_the_api_wakes_the_waiting_task_with_a_clear_error(
    backend: Backend, http: Any, forget_default_prefix_keys: list[str]
) -> None:
    woke: dict[str, float] = {}

    with workflow("api_cancel") as wf:

        @task(inject_context=True)
        def gate(ctx: Any) -> str:
            try:
                return ctx.request_text_input("Release notes?", timeout=60)
            except FeedbackCancelledError:
                woke["at"] = time.monotonic()
                raise

        @task
        def never() -> None:
            raise AssertionError("a task after a cancelled request must not run")

        gate >> never
    ctx = api_context(backend, wf, "gate")
    run = Background(ctx.execute)
    run.start()
    listed = wait_for_pending_over_http(http, ctx.session_id)
    feedback_id = listed["feedback_id"]
    forget_default_prefix_keys.append(feedback_id)

    # when the request is cancelled over HTTP while the task waits (60 s timeout)
    cancelled = http.delete(f"/api/feedback/{feedback_id}")
    accepted = time.monotonic()  # the cancellation is stored once the server answers
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {"message": "Feedback request cancelled", "feedback_id": feedback_id}

    # then the task wakes within a second and the run fails naming the cancelled request
    with pytest.raises(TaskFailedError) as failed:
        run.finish()
    assert woke["at"] - accepted < 1.0, f"the task woke {woke['at'] - accepted:.2f}s after the cancellation"
    cause = failed.value.__cause__
    assert isinstance(cause, FeedbackCancelledError) and cause.feedback_id == feedback_id
    assert f"Feedback request {feedback_id} was cancelled" in str(failed.value)
    assert ctx.status == "failed"
    # and the request stays cancelled: no answer is taken any more
    assert http.get(f"/api/feedback/{feedback_id}").json()["request"]["status"] == "cancelled"
    assert http.post(f"/api/feedback/{feedback_id}/respond", json={"text": "too late"}).status_code == 400
