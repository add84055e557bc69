"""``python -m graflow.api``: every flag of spec 10.6 plus --auth-token and --no-resume, and a real server process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from graflow.api.main import create_app_from_args, parse_args
from graflow.channels.memory_channel import MemoryChannel
from graflow.hitl.backend.filesystem import FilesystemFeedbackBackend
from graflow.hitl.manager import RESPONSE_KEY_SUFFIX, FeedbackManager
from tests.hitl.helpers import Recorder, Responder

REPO_ROOT = Path(__file__).resolve().parents[2]
#: How long the server process may take to start.
START_TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def _no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFLOW_API_TOKEN", raising=False)


def test_defaults_of_every_flag() -> None:
    assert vars(parse_args([])) == {
        "backend": "filesystem", "data_dir": "feedback_data", "redis_host": "localhost", "redis_port": 6379,
        "redis_db": 0, "redis_expiration_days": 7, "host": "127.0.0.1", "port": 8000, "reload": False, "workers": 1,
        "log_level": "info", "title": "Graflow Feedback API", "enable_cors": False, "cors_origins": ["*"],
        "disable_web_ui": False, "auth_token": None, "no_resume": False,
    }  # fmt: skip


def test_every_flag_is_parsed() -> None:
    args = parse_args(
        [
            "--backend", "redis", "--data-dir", "d", "--redis-host", "r", "--redis-port", "7000", "--redis-db", "3",
            "--redis-expiration-days", "2", "--host", "0.0.0.0", "--port", "9000", "--reload", "--workers", "2",
            "--log-level", "debug", "--title", "T", "--enable-cors", "--cors-origins", "https://a", "https://b",
            "--disable-web-ui", "--auth-token", "tok", "--no-resume",
        ]
    )  # fmt: skip
    assert vars(args) == {
        "backend": "redis", "data_dir": "d", "redis_host": "r", "redis_port": 7000, "redis_db": 3,
        "redis_expiration_days": 2, "host": "0.0.0.0", "port": 9000, "reload": True, "workers": 2,
        "log_level": "debug", "title": "T", "enable_cors": True, "cors_origins": ["https://a", "https://b"],
        "disable_web_ui": True, "auth_token": "tok", "no_resume": True,
    }  # fmt: skip


def test_bad_flags_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--backend", "sqlite"], ["--log-level", "loud"], ["--port", "eighty"]):
        with pytest.raises(SystemExit) as info:
            parse_args(argv)
        assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_app_from_flags(tmp_path: Path) -> None:
    data_dir = tmp_path / "fb"
    app = create_app_from_args(parse_args(["--data-dir", str(data_dir), "--title", "Desk"]))
    backend = app.state.feedback_manager.backend
    assert isinstance(backend, FilesystemFeedbackBackend) and backend.data_dir == data_dir
    assert app.state.resume is True
    client = TestClient(app)
    assert client.get("/").json()["name"] == "Desk"
    # CORS is off unless asked for (the factory's default is on)
    assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "https://x"}).headers
    assert client.get("/ui/feedback/").status_code == 200


def test_flags_for_cors_web_ui_token_and_resume(tmp_path: Path) -> None:
    argv = ["--data-dir", str(tmp_path), "--enable-cors", "--cors-origins", "https://x", "--disable-web-ui",
            "--auth-token", "tok", "--no-resume"]  # fmt: skip
    app = create_app_from_args(parse_args(argv))
    client = TestClient(app)
    assert client.get("/health", headers={"Origin": "https://x"}).headers["access-control-allow-origin"] == "https://x"
    assert client.get("/api/feedback").status_code == 401
    assert client.get("/ui/feedback/", headers={"Authorization": "Bearer tok"}).status_code == 404
    assert app.state.resume is False


def test_the_token_flag_defaults_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_API_TOKEN", "from-env")
    client = TestClient(create_app_from_args(parse_args(["--data-dir", str(tmp_path)])))
    assert client.get("/api/feedback").status_code == 401
    assert client.get("/api/feedback", headers={"Authorization": "Bearer from-env"}).status_code == 200


def test_a_redis_backend_that_does_not_answer_exits_with_a_message(
    free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        create_app_from_args(
            parse_args(["--backend", "redis", "--redis-host", "127.0.0.1", "--redis-port", str(free_port)])
        )
    assert info.value.code == 1
    assert f"cannot connect to Redis at 127.0.0.1:{free_port}" in capsys.readouterr().err


def test_a_redis_backend_from_flags(redis_url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    host, port, db = parts.hostname or "127.0.0.1", str(parts.port or 6379), parts.path.strip("/")
    argv = ["--backend", "redis", "--redis-host", host, "--redis-port", port, "--redis-db", db,
            "--redis-expiration-days", "3"]  # fmt: skip
    app = create_app_from_args(parse_args(argv))
    backend = app.state.feedback_manager.backend
    assert type(backend).__name__ == "RedisFeedbackBackend" and backend.expiration_days == 3


@pytest.mark.parametrize("module", ["graflow.api", "graflow.api.main"])
def test_both_module_entry_points_run(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    assert result.returncode == 0 and "--auth-token" in result.stdout and "--redis-expiration-days" in result.stdout


# -- a real server process ------------------------------------------------------------------------------------------
class Server:
    """``python -m graflow.api`` on a free port; ready once uvicorn says so on stderr."""

    def __init__(self, argv: list[str], port: int) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        env.pop("GRAFLOW_API_TOKEN", None)
        self.url = f"http://127.0.0.1:{port}"
        self.log: list[str] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graflow.api", "--host", "127.0.0.1", "--port", str(port), *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            if "Application startup complete" in line:
                self.ready.set()
        self.ready.set()  # the process exited; the caller sees that

    def wait_ready(self) -> None:
        assert self.ready.wait(START_TIMEOUT) and self.process.poll() is None, "".join(self.log)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)  # the process is gone: its stderr reaches the end
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[Server] = []

    def start(argv: list[str], port: int) -> Server:
        server = Server(argv, port)
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.mark.integration
def test_a_real_server_answers_a_waiting_task(server_factory: Any, free_port: int, tmp_path: Path) -> None:
    httpx = pytest.importorskip("httpx")
    data_dir = tmp_path / "feedback_data"
    server = server_factory(["--data-dir", str(data_dir), "--auth-token", "tok"], free_port)
    auth = {"Authorization": "Bearer tok"}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/health").json()["backend"] == "FilesystemFeedbackBackend"
        assert http.get("/api/feedback").status_code == 401
        # given a task of this process waiting on the server's folder
        waiting, channel, recorder = (
            FeedbackManager("filesystem", {"data_dir": str(data_dir)}),
            MemoryChannel("r"),
            Recorder(),
        )

        def answer(request: Any) -> Any:
            assert http.get("/api/feedback", headers=auth).json()["count"] == 1
            return http.post(f"/api/feedback/{request.feedback_id}/respond", headers=auth, json={"approved": True})

        person = Responder(recorder, answer)
        person.start()
        # when someone answers over HTTP, then the task gets the answer and writes it to its channel
        response = waiting.request_feedback(
            "deploy", "s", "approval", "Deploy?", timeout=30, handler=recorder, channel=channel,
            channel_key="ok", write_to_channel=True,
        )  # fmt: skip
        assert person.finish().status_code == 200
        assert response.approved is True and channel.get("ok") is True
        assert channel.get(f"ok{RESPONSE_KEY_SUFFIX}")["approved"] is True
        assert (
            http.get(f"/api/feedback/{response.feedback_id}", headers=auth).json()["request"]["status"] == "completed"
        )
