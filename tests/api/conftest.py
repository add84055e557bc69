"""Fixtures of the API tests: apps on private stores, callers of each role, an SSE reader, a uvicorn server in a
thread, and PostgreSQL (from the run store tests)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy", reason="the API tests need graflow[runs]")

from fastapi import FastAPI
from fastapi.testclient import TestClient

from graflow.api.server import ServerConfig, create_app
from tests.conftest import find_free_port
from tests.runs.conftest import postgres_server, postgres_url  # noqa: F401 - fixtures used by the tests here

VIEWER = "viewer-token-0123456789"
OPERATOR = "operator-token-0123456789"
#: How long a test waits for something another thread or process does.
DEADLINE = 30.0


def auth(role: str | None) -> dict[str, str]:
    """Headers of a caller with ``role`` (``viewer``, ``operator``; None: no token)."""
    token = {"viewer": VIEWER, "operator": OPERATOR}.get(role or "")
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No store or token from the environment; checkpoints and feedback land in this test's folder."""
    for name in ("GRAFLOW_RUN_STORE", "GRAFLOW_API_TOKEN", "GRAFLOW_API_TOKENS", "GRAFLOW_RUN_HEARTBEAT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRAFLOW_HOME", str(tmp_path / "graflow-home"))
    monkeypatch.chdir(tmp_path)
    yield
    from graflow.runs import close_recorders

    close_recorders(5.0)


@pytest.fixture
def with_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A viewer and an operator token in ``GRAFLOW_API_TOKENS``."""
    monkeypatch.setenv("GRAFLOW_API_TOKENS", f"viewer:{VIEWER},operator:{OPERATOR}")


@pytest.fixture
def store_url() -> str:
    """A private in-memory run store."""
    return f"memory://api-{uuid.uuid4().hex[:12]}"


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(store_url: str, tmp_path: Path) -> AppFactory:
    """Builds an app serving ``workflows`` on this test's store and feedback folder."""

    def make(workflows: Iterable[Any] = (), **options: Any) -> FastAPI:
        settings: dict[str, Any] = {"store": store_url, "feedback_config": {"data_dir": str(tmp_path / "feedback")}}
        settings.update(options)
        return create_app(ServerConfig(**settings), workflows)

    return make


@contextmanager
def serving(app: FastAPI) -> Iterator[TestClient]:
    """A test client with the app's lifespan running (its resumer and feedback watcher)."""
    with TestClient(app) as client:
        yield client


@dataclass
class Sse:
    """One server-sent event."""

    id: int
    event: str
    data: dict[str, Any]


def parse_sse(lines: Iterable[str]) -> Iterator[Sse]:
    """The events of an SSE stream, from its lines."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if "event" in fields:
                yield Sse(int(fields["id"]), fields["event"], json.loads(fields.get("data", "null")))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


def read_events(client: Any, run_id: str, *, headers: dict[str, str] | None = None, params: dict[str, Any] | None
                = None, stop: Callable[[Sse], bool] | None = None) -> list[Sse]:
    """Read a run's event stream until it ends (after ``run.finished``) or ``stop(event)`` is true."""
    events = []
    with client.stream("GET", f"/api/runs/{run_id}/events", headers=headers, params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in parse_sse(response.iter_lines()):
            events.append(event)
            if stop is not None and stop(event):
                break
    return events


def finish(client: Any, run_id: str, headers: dict[str, str] | None = None) -> Sse:
    """Wait for a run to end (its ``run.finished`` event) and return that event."""
    events = read_events(client, run_id, headers=headers)
    assert events and events[-1].event == "run.finished", [e.event for e in events]
    return events[-1]


class LiveServer:
    """An app served by uvicorn on a free loopback port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        self.port = find_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="api-test-server", daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + DEADLINE
        ready = threading.Event()
        while not self.server.started:  # uvicorn offers no event to wait on
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            ready.wait(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(DEADLINE)


@pytest.fixture
def live_server() -> Callable[[FastAPI], LiveServer]:
    """Serves an app over real HTTP for the duration of a ``with`` block."""
    return LiveServer
