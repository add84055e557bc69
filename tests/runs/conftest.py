"""Fixtures of the run store tests: SQLite files, a PostgreSQL schema per test, recorders that are closed after.

PostgreSQL policy (like Redis in ``tests/conftest.py``): tests talk to ``GRAFLOW_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); each test gets a schema of its own, dropped afterwards. When the
server does not answer they are skipped on a developer machine and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

# The contract's plain asserts get pytest's detailed messages when registered before the module is imported.
pytest.register_assert_rewrite("graflow.testing.contracts.run_store")

from tests.conftest import service_unavailable

pytest.importorskip("sqlalchemy", reason="the run store tests need graflow[runs]")

#: How long a test waits for something another thread or process does.
DEADLINE = 20.0
POSTGRES_URL = os.environ.get("GRAFLOW_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        pause.wait(0.02)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of the test PostgreSQL; skips (fails in CI) when it does not answer."""
    try:
        import psycopg
    except ImportError:
        service_unavailable("psycopg is not installed (pip install -e '.[dev]')")
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        service_unavailable(f"no PostgreSQL answers at {POSTGRES_URL}: {exc}")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """URL of the test PostgreSQL whose tables live in a schema of this test's own (dropped afterwards)."""
    import psycopg

    schema = f"graflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def recorders() -> Iterator[list[Any]]:
    """Append recorders here; they are closed after the test."""
    made: list[Any] = []
    yield made
    for recorder in made:
        recorder.close(5.0)


@pytest.fixture(autouse=True)
def _no_store_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests choose their store themselves; shared recorders made by one test are closed after it."""
    monkeypatch.delenv("GRAFLOW_RUN_STORE", raising=False)
    monkeypatch.delenv("GRAFLOW_RUN_HEARTBEAT_SECONDS", raising=False)
    yield
    from graflow.runs import close_recorders

    close_recorders(5.0)
