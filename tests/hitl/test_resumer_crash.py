"""Crash safety of the resumer, with real processes: a resumer killed (SIGKILL) at each step of a resumption, and
two resumer processes racing. Side effects are counted in a file, so "exactly once" is what the tasks saw.

Each test pauses a run in a child process (its tasks live in that child's ``__main__``, so the checkpoint carries
them by value), answers in this process, and resumes in children that stop themselves with SIGKILL at a chosen
step; a resumer in this process then finishes the job.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from graflow.hitl import resume_state as rs
from graflow.hitl.backend import create_feedback_backend
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.resumer import FeedbackResumer
from graflow.hitl.types import FeedbackRequest, FeedbackResponse

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0
#: Lease of every resumer here: what a takeover waits for after a kill.
LEASE = 1.0

PAUSE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from graflow import task, workflow
    from graflow.hitl.backend import create_feedback_backend
    from graflow.hitl.manager import FeedbackManager

    spec, EFFECTS, QUESTIONS = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])

    def note(line):
        with open(EFFECTS, "a") as out:
            out.write(line + "\\n")

    with workflow("crash") as wf:
        @task(inject_context=True)
        def ask(ctx):
            ok = ctx.request_approval("Deploy?", timeout=0.05)
            note(f"ask {ok}")
            if QUESTIONS > 1:
                note("named " + ctx.request_text_input("Release name?", timeout=0.05))
            return ok

        @task
        def after(ask):
            note("after")

        ask >> after
        ctx = wf.create_context("ask")
    ctx.feedback_manager = FeedbackManager(create_feedback_backend(spec.pop("backend"), spec))
    assert ctx.execute() is None and ctx.status == "paused"
    print(ctx.session_id)
    """
)

RESUMER_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from graflow.hitl.backend import create_feedback_backend
    from graflow.hitl.resumer import FeedbackResumer

    spec, name, kill_at, lease = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])

    def on_step(step, request):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    backend = create_feedback_backend(spec.pop("backend"), spec)
    resumer = FeedbackResumer(backend, name=name, lease=lease, on_step=on_step)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":  # the parent starts racers together
        sys.exit(3)
    finished = resumer.run_once(timeout=60)
    print(json.dumps([request.feedback_id for request in finished]))
    """
)


@pytest.fixture(params=["filesystem", "redis"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """How a child process reaches the store: the same folder, or the same Redis and key prefix."""
    if request.param == "filesystem":
        return {"backend": "filesystem", "data_dir": str(tmp_path / "feedback_data")}
    url = request.getfixturevalue("redis_url")
    return {"backend": "redis", "url": url, "key_prefix": f"{request.getfixturevalue('key_prefix')}:feedback"}


@pytest.fixture
def manager(spec: dict[str, Any]) -> FeedbackManager:
    config = dict(spec)
    return FeedbackManager(create_feedback_backend(config.pop("backend"), config))


def child(script: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], cwd=cwd, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def pause_a_run(spec: dict[str, Any], manager: FeedbackManager, tmp_path: Path, questions: int = 1) -> FeedbackRequest:
    proc = child(PAUSE_SCRIPT, json.dumps(spec), str(tmp_path / "effects.txt"), str(questions), cwd=tmp_path)
    out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    return paused_request(manager, out.strip())


def paused_request(manager: FeedbackManager, session_id: str) -> FeedbackRequest:
    return next(r for r in manager.list_requests(session_id) if "checkpoint_path" in r.metadata)


def answer(manager: FeedbackManager, request: FeedbackRequest, **fields: Any) -> None:
    response = FeedbackResponse(feedback_id=request.feedback_id, response_type=request.feedback_type, **fields)
    assert manager.provide_feedback(request.feedback_id, response)


def resume_in_child(spec: dict[str, Any], tmp_path: Path, *, kill_at: str, name: str = "victim") -> tuple[int, str]:
    proc = child(RESUMER_SCRIPT, json.dumps(spec), name, kill_at, str(LEASE), cwd=tmp_path)
    out, err = proc.communicate("go\n", timeout=WAIT)
    assert "Traceback" not in err, err
    return proc.returncode, out


def effects(tmp_path: Path) -> list[str]:
    path = tmp_path / "effects.txt"
    return path.read_text().splitlines() if path.exists() else []


def finish_with_survivor(manager: FeedbackManager, feedback_id: str) -> FeedbackRequest:
    """A resumer in this process; returns the record of the resumption once it is recorded."""
    steps: queue.Queue[tuple[str, FeedbackRequest]] = queue.Queue()
    survivor = FeedbackResumer(manager, name="survivor", lease=LEASE, poll_interval=0.05,
                               on_step=lambda step, request: steps.put((step, request)))  # fmt: skip
    survivor.start()
    try:
        deadline = time.monotonic() + WAIT
        while True:
            step, request = steps.get(timeout=max(0.0, deadline - time.monotonic()))
            if step == "recorded" and request.feedback_id == feedback_id:
                return request
    finally:
        survivor.stop()


@pytest.mark.parametrize("kill_at", ["claimed", "running"])
def test_a_resumer_killed_before_the_run_started_is_taken_over_and_the_run_resumes_exactly_once(
    spec: dict[str, Any], manager: FeedbackManager, tmp_path: Path, kill_at: str
) -> None:
    request = pause_a_run(spec, manager, tmp_path)
    answer(manager, request, approved=True)
    code, _ = resume_in_child(spec, tmp_path, kill_at=kill_at)
    assert code == -signal.SIGKILL
    held = manager.get_request(request.feedback_id)
    assert held is not None and held.metadata[rs.RESUME_STATE] == kill_at and held.metadata[rs.RESUMED_BY] == "victim"
    assert effects(tmp_path) == []  # the answer is stored, the run has not moved
    assert manager.get_response(request.feedback_id) is not None
    record = finish_with_survivor(manager, request.feedback_id)
    assert record.metadata[rs.TAKEN_OVER_FROM] == "victim" and record.metadata[rs.ATTEMPTS] == 2
    assert record.metadata[rs.RUN_STATUS] == "completed"
    assert effects(tmp_path) == ["ask True", "after"]


def test_a_resumer_killed_after_recording_the_end_leaves_nothing_to_do(
    spec: dict[str, Any], manager: FeedbackManager, tmp_path: Path
) -> None:
    request = pause_a_run(spec, manager, tmp_path)
    answer(manager, request, approved=True)
    code, _ = resume_in_child(spec, tmp_path, kill_at="recorded")
    assert code == -signal.SIGKILL
    assert FeedbackResumer(manager, lease=LEASE).run_once() == []
    stored = manager.get_request(request.feedback_id)
    assert stored is not None and stored.metadata[rs.RESUME_STATE] == rs.DONE
    assert effects(tmp_path) == ["ask True", "after"]


def test_a_run_that_paused_again_before_its_resumer_died_is_not_run_again(
    spec: dict[str, Any], manager: FeedbackManager, tmp_path: Path
) -> None:
    first = pause_a_run(spec, manager, tmp_path, questions=2)
    answer(manager, first, approved=True)
    code, _ = resume_in_child(spec, tmp_path, kill_at="executed")  # the run paused on its second question
    assert code == -signal.SIGKILL
    second = paused_request(manager, first.session_id)
    assert second.feedback_id != first.feedback_id
    record = finish_with_survivor(manager, first.feedback_id)
    assert record.metadata[rs.RUN_STATUS] == "paused"
    assert record.metadata[rs.NEXT_CHECKPOINT] == rs.paused_checkpoint(second)
    assert effects(tmp_path) == ["ask True"]  # not re-run, and no third question was asked
    assert len(manager.list_requests(first.session_id)) == 2


def test_a_resumer_killed_after_the_run_ended_but_before_recording_it_runs_the_rest_again(
    spec: dict[str, Any], manager: FeedbackManager, tmp_path: Path
) -> None:
    # The documented limit: the tasks after the checkpoint run at least once. A run that ended without a trace the
    # store can see cannot be told from one that never ran, so the takeover resumes it again.
    request = pause_a_run(spec, manager, tmp_path)
    answer(manager, request, approved=True)
    code, _ = resume_in_child(spec, tmp_path, kill_at="executed")
    assert code == -signal.SIGKILL
    assert effects(tmp_path) == ["ask True", "after"]
    record = finish_with_survivor(manager, request.feedback_id)
    assert record.metadata[rs.INTERRUPTED_AT] and record.metadata[rs.RUN_STATUS] == "completed"
    assert effects(tmp_path) == ["ask True", "after", "ask True", "after"]


def test_two_resumer_processes_racing_resume_the_run_once(
    spec: dict[str, Any], manager: FeedbackManager, tmp_path: Path
) -> None:
    request = pause_a_run(spec, manager, tmp_path)
    answer(manager, request, approved=True)
    racers = [
        child(RESUMER_SCRIPT, json.dumps(spec), name, "never", str(LEASE), cwd=tmp_path) for name in ("left", "right")
    ]
    for racer in racers:  # wait until both are up, then let them go together
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    results = [racer.communicate(timeout=WAIT) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], [err for _, err in results]
    resumed = [json.loads(out.splitlines()[-1]) for out, _ in results]
    assert sorted(resumed, key=len) == [[], [request.feedback_id]]
    assert effects(tmp_path) == ["ask True", "after"]
    stored = manager.get_request(request.feedback_id)
    assert stored is not None and stored.metadata[rs.ATTEMPTS] == 1
