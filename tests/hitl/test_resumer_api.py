"""The API server resumes paused runs while it is up (python -m graflow.api), unless --no-resume is given."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from graflow import task, workflow
from graflow.api.app import create_feedback_api
from graflow.api.main import create_app_from_args, parse_args
from graflow.hitl import resume_state as rs
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.resumer import FeedbackResumer
from graflow.hitl.types import FeedbackRequest

WAIT = 30.0


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRAFLOW_API_TOKEN", raising=False)


def pause_a_run(data_dir: Path, effects: Path) -> FeedbackRequest:
    with workflow("api-resume") as wf:

        @task(inject_context=True)
        def ask(ctx: Any) -> str:
            name = ctx.request_text_input("Release name?", timeout=0.05, channel_key="name", write_to_channel=True)
            with open(effects, "a") as out:
                out.write(f"ask {name}\n")
            return name

        @task(inject_context=True)
        def after(ctx: Any, ask: str) -> None:
            with open(effects, "a") as out:
                out.write(f"after {ctx.get_channel().get('name')}\n")

        ask >> after
        ctx = wf.create_context("ask")
    manager = FeedbackManager("filesystem", {"data_dir": str(data_dir)})
    ctx.feedback_manager = manager
    assert ctx.execute() is None and ctx.status == "paused"
    return manager.list_requests()[0]


def test_the_server_resumes_by_default_and_not_with_no_resume(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "fb")
    with TestClient(create_app_from_args(parse_args(["--data-dir", data_dir]))) as client:
        resumer = client.app.state.resumer  # type: ignore[attr-defined]
        assert isinstance(resumer, FeedbackResumer) and resumer.manager is client.app.state.feedback_manager  # type: ignore[attr-defined]
    assert client.app.state.resumer is None  # type: ignore[attr-defined]  # stopped with the app
    with TestClient(create_app_from_args(parse_args(["--data-dir", data_dir, "--no-resume"]))) as client:
        assert client.app.state.resumer is None  # type: ignore[attr-defined]


def test_an_answer_through_the_api_resumes_the_run_in_the_server(tmp_path: Path) -> None:
    effects = tmp_path / "effects.txt"
    request = pause_a_run(tmp_path / "fb", effects)
    steps: queue.Queue[tuple[str, FeedbackRequest]] = queue.Queue()
    app = create_feedback_api(
        feedback_config={"data_dir": str(tmp_path / "fb")},
        resume=True,
        resumer_options={"poll_interval": 3600, "on_step": lambda step, req: steps.put((step, req))},
    )
    with TestClient(app) as client:
        reply = client.post(f"/api/feedback/{request.feedback_id}/respond", json={"text": "v3", "responded_by": "ops"})
        assert reply.status_code == 200
        # the in-process notification wakes the resumer (its next full read is an hour away)
        while (seen := steps.get(timeout=WAIT))[0] != "recorded":
            pass
    record = seen[1]
    assert record.metadata[rs.RESUME_STATE] == rs.DONE and record.metadata[rs.RUN_STATUS] == "completed"
    assert effects.read_text().splitlines() == ["ask v3", "after v3"]  # the answer reached the channel too (D24)
