"""Fixtures shared by the whole suite: a real Redis, per-test key prefixes, free ports, private redis-servers.

Redis policy: tests talk to the Redis named by ``GRAFLOW_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``).
When it does not answer they are skipped on a developer machine and fail under ``CI=true``, so CI can never go green
by skipping them. Every test that uses one of the Redis fixtures is marked ``redis`` automatically, so
``-m "not redis"`` deselects them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from graflow.config import test_redis_url as configured_test_redis_url

if TYPE_CHECKING:
    import redis

#: Fixtures that need a Redis server; tests using any of them get the ``redis`` marker.
REDIS_FIXTURES = frozenset({"redis_url", "redis_client", "key_prefix", "redis_server_factory"})

#: How long a private redis-server may take to say it is ready, in seconds.
REDIS_START_TIMEOUT = 10.0
#: How long a private redis-server may take to exit after SIGTERM before it is killed, in seconds.
REDIS_STOP_TIMEOUT = 5.0


def in_ci() -> bool:
    """Whether the suite runs in CI (``CI=true``), where missing services are failures, not skips."""
    return os.environ.get("CI", "").strip().lower() == "true"


def service_unavailable(reason: str) -> None:
    """Skip the current test, or fail it in CI, because a service it needs is missing."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that depends on a Redis fixture, directly or through another fixture, with ``redis``."""
    for item in items:
        if REDIS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)


def _import_redis() -> Any:
    try:
        import redis as redis_module
    except ImportError:
        service_unavailable("the 'redis' package is not installed (pip install -e '.[dev]')")
    return redis_module


# ----------------------------------------------------------------------------------------------------------------
# The shared Redis server


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test Redis (``GRAFLOW_TEST_REDIS_URL``); skips (fails in CI) when it does not answer PING."""
    url = configured_test_redis_url()
    redis_module = _import_redis()
    client = redis_module.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis_module.RedisError as exc:
        service_unavailable(f"no Redis answers at {url}: {exc}")
    finally:
        client.close()
    return url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the test Redis, closed after the test. Replies are bytes."""
    redis_module = _import_redis()
    client = redis_module.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix unique to this test; every key starting with it is deleted afterwards."""
    prefix = f"graflow-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        redis_client.delete(*keys)


# ----------------------------------------------------------------------------------------------------------------
# Ports and private redis-servers


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    """A free TCP port on the loopback interface."""
    return find_free_port()


class RedisServer:
    """A private ``redis-server`` on a loopback port that a test may stop, kill and start again.

    It keeps nothing on disk (no RDB, no AOF) and keeps its port across restarts, so clients can reconnect.
    """

    def __init__(self, executable: str, port: int, workdir: Path) -> None:
        self.executable = executable
        self.port = port
        self.workdir = workdir
        self.host = "127.0.0.1"
        self._process: subprocess.Popen[str] | None = None
        self._log: list[str] = []

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def log(self) -> str:
        """Everything the server printed since it was last started."""
        return "".join(self._log)

    def start(self) -> None:
        """Start the server and return once it accepts connections (raises RuntimeError if it does not)."""
        if self.running:
            return
        self._log = []
        process = subprocess.Popen(
            [
                self.executable,
                "--bind", self.host,
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
                "--daemonize", "no",
                "--logfile", "",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self._process = process
        ready = threading.Event()

        def read_output() -> None:
            # Redis prints this line once it listens; reading its output beats polling the port.
            assert process.stdout is not None
            for line in process.stdout:
                self._log.append(line)
                if "Ready to accept connections" in line:
                    ready.set()
            ready.set()  # output closed: the process exited; start() sees that below

        threading.Thread(target=read_output, name=f"redis-server-{self.port}-log", daemon=True).start()
        if not ready.wait(REDIS_START_TIMEOUT) or not self.running:
            self.kill()
            raise RuntimeError(f"redis-server on port {self.port} did not start:\n{self.log}")

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it does not exit in time."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(REDIS_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait()

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new client of this server; keyword arguments go to ``redis.Redis``."""
        redis_module = _import_redis()
        client: redis.Redis = redis_module.Redis(host=self.host, port=self.port, **kwargs)
        return client


@pytest.fixture
def redis_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], RedisServer]]:
    """Call it to start a private redis-server on a free loopback port; all are stopped after the test.

    Skips (fails in CI) when ``redis-server`` is not on PATH.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        service_unavailable("redis-server is not installed (apt-get install redis-server)")
    assert executable is not None
    servers: list[RedisServer] = []

    def start_server() -> RedisServer:
        server = RedisServer(executable, find_free_port(), tmp_path_factory.mktemp("redis-server"))
        servers.append(server)
        server.start()
        return server

    yield start_server
    for server in servers:
        server.kill()
