"""``graflow server`` as a real process: uvicorn on a free port, a PostgreSQL run store, and a worker process on
Redis running a distributed run; plus what the command refuses at start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graflow.runs import open_run_store
from tests.api.conftest import DEADLINE, OPERATOR, VIEWER, auth, parse_sse
from tests.conftest import find_free_port

httpx = pytest.importorskip("httpx")
REPO_ROOT = Path(__file__).resolve().parents[2]

WORKFLOW_FILE = '''
from graflow import task, workflow

with workflow("etl") as etl:

    @task
    def extract(n: int) -> list[int]:
        return list(range(n))

    @task
    def load(extract: list[int]) -> int:
        return sum(extract)

    extract >> load
'''


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    for name in ("GRAFLOW_API_TOKEN", "GRAFLOW_API_TOKENS", "GRAFLOW_RUN_STORE"):
        env.pop(name, None)
    env.update(extra)
    return env


class ServerProcess:
    """``python -m graflow.cli.main server ...``; ready once uvicorn says so."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.log: list[str] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graflow.cli.main", "server", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line)
            if "Application startup complete" in line:
                self.ready.set()
        self.ready.set()  # the process ended: the caller sees that

    def wait_ready(self) -> None:
        assert self.ready.wait(DEADLINE) and self.process.poll() is None, "".join(self.log)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(DEADLINE)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def start(argv: list[str], **env: str) -> ServerProcess:
        process = ServerProcess(argv, child_env(**env), tmp_path)
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.mark.integration
def test_a_real_server_runs_a_distributed_workflow_on_a_worker_process(
    server_process: Any, tmp_path: Path, postgres_url: str, redis_url: str, key_prefix: str
) -> None:
    from graflow.worker.inprocess import spawn_worker

    flows_file = tmp_path / "flows.py"
    flows_file.write_text(WORKFLOW_FILE)
    port = find_free_port()
    server = server_process(
        ["--app", f"{flows_file}:etl", "--port", str(port), "--store", postgres_url, "--redis-url", redis_url,
         "--redis-key-prefix", key_prefix, "--feedback-dir", str(tmp_path / "feedback")],
        GRAFLOW_API_TOKENS=f"viewer:{VIEWER},operator:{OPERATOR}",
    )  # fmt: skip
    banner = "".join(server.log)
    assert "workflows: etl" in banner and "access: bearer tokens required (1 viewer, 1 operator)" in banner
    worker = spawn_worker(redis_url, key_prefix, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE) as http:
            assert http.get("/health").status_code == 200
            assert http.get("/api/runs").status_code == 401
            body = {"parameters": {"n": 5}, "execution": "distributed"}
            assert http.post("/api/workflows/etl/runs", json=body, headers=auth("viewer")).status_code == 403
            # when an operator starts a distributed run
            started = http.post("/api/workflows/etl/runs", json=body, headers=auth("operator"))
            assert started.status_code == 202, started.text
            run_id = started.json()["run_id"]
            # then a viewer can follow it to its end over SSE
            with http.stream("GET", f"/api/runs/{run_id}/events", headers=auth("viewer")) as stream:
                events = list(parse_sse(stream.iter_lines()))
            assert events[0].event == "run.started" and events[-1].event == "run.finished"
            assert events[-1].data["status"] == "completed"
            run = http.get(f"/api/runs/{run_id}", headers=auth("viewer")).json()
            assert run["status"] == "completed" and run["execution"] == "distributed" and run["result_preview"] == "10"
            assert run["spec"] == f"{flows_file}:etl"
            [listed] = http.get("/api/workers", headers=auth("viewer")).json()["workers"]
            assert listed["name"].startswith("worker_")
            # and a local run of the same server completes too
            local = http.post("/api/workflows/etl/runs", json={"parameters": {"n": 3}}, headers=auth("operator"))
            with http.stream("GET", f"/api/runs/{local.json()['run_id']}/events", headers=auth("viewer")) as stream:
                assert list(parse_sse(stream.iter_lines()))[-1].data["status"] == "completed"
    finally:
        worker.terminate()
        worker.wait(DEADLINE)
    # the runs and the audit log are in PostgreSQL
    store = open_run_store(postgres_url)
    try:
        assert store.get_run(run_id).status == "completed"
        audited = [(e.action, e.role, e.status_code) for e in store.list_audit().entries]
        assert audited == [("run.start", "operator", 202), ("run.start", "operator", 202),
                           ("POST /api/workflows/etl/runs", "viewer", 403)]
    finally:
        store.close()


def run_command(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=child_env(**env))


@pytest.mark.integration
def test_without_a_token_a_public_address_is_refused(tmp_path: Path) -> None:
    refused = run_command(["graflow.cli.main", "server", "--host", "0.0.0.0", "--store", "memory://"], tmp_path)
    assert refused.returncode == 2 and "Refusing to serve 0.0.0.0 without a token" in refused.stderr
    assert "--insecure" in refused.stderr
    legacy = run_command(["graflow.api", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "fb")], tmp_path)
    assert legacy.returncode == 1 and "GRAFLOW_INSECURE=1" in legacy.stderr


@pytest.mark.integration
def test_the_server_says_at_start_who_may_call_it(server_process: Any, tmp_path: Path) -> None:
    server = server_process(["--port", str(find_free_port()), "--store", f"sqlite:///{tmp_path / 'runs.db'}"])
    banner = "".join(server.log)
    assert "access: no token configured, so every caller may start, cancel and retry runs" in banner
    assert "workflows: none registered" in banner and "run store: SqlRunStore(" in banner


def test_workflow_specs_that_do_not_load_stop_the_command(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "_helpers.py").write_text("raise RuntimeError('helpers are not loaded')\n")
    (folder / "two.py").write_text(textwrap.dedent('''
        from graflow import workflow
        with workflow("a") as a:
            pass
        with workflow("b") as b:
            pass
    '''))
    result = run_command(["graflow.cli.main", "server", "--workflows-dir", str(folder), "--store", "memory://"],
                         tmp_path)
    assert result.returncode == 2 and "defines 2 workflows (a, b)" in result.stderr
