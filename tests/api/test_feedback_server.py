"""``python -m graflow.api`` serves the same app: the runs API on the default store, which it never creates."""

from __future__ import annotations

from pathlib import Path

import pytest

from graflow.api.main import create_app_from_args, parse_args
from graflow.runs import open_run_store
from graflow.testing.contracts.feedback import make_request
from graflow.testing.contracts.run_store import make_run
from tests.api.conftest import serving


def test_without_a_store_the_feedback_server_answers_and_creates_no_file(tmp_path: Path) -> None:
    app = create_app_from_args(parse_args(["--data-dir", str(tmp_path / "fb"), "--no-resume"]))
    question = make_request(session_id="s")
    app.state.feedback_manager.store_request(question)
    with serving(app) as client:
        response = client.get("/api/runs")
        assert response.status_code == 503 and "No run store: set GRAFLOW_RUN_STORE" in response.json()["detail"]
        assert client.post(f"/api/feedback/{question.feedback_id}/respond", json={"approved": True}).status_code == 200
        assert client.get("/api/workflows").json() == {"count": 0, "workflows": []}
    assert not (tmp_path / "graflow-home").exists()  # GRAFLOW_HOME of this test: no runs.db was made


def test_with_a_store_it_lists_runs_and_audits_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = open_run_store(url)
    store.create_run(make_run("recorded-by-graflow-run"))
    store.close()
    monkeypatch.setenv("GRAFLOW_RUN_STORE", url)
    app = create_app_from_args(parse_args(["--data-dir", str(tmp_path / "fb"), "--auth-token", "tok"]))
    question = make_request(session_id="s")
    app.state.feedback_manager.store_request(question)
    with serving(app) as client:
        headers = {"Authorization": "Bearer tok"}
        runs = client.get("/api/runs", headers=headers).json()["runs"]
        assert [run["run_id"] for run in runs] == ["recorded-by-graflow-run"]
        client.post(f"/api/feedback/{question.feedback_id}/respond", json={"approved": True}, headers=headers)
        [entry] = client.get("/api/audit", headers=headers).json()["entries"]
    assert entry["role"] == "operator" and entry["target"] == question.feedback_id and entry["status_code"] == 200
