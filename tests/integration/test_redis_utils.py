"""Redis clients and pools (D21): one pool per endpoint per process, passwords, ACL users, TLS and unix sockets.

TLS and unix-socket tests start their own ``redis-server`` on loopback; the ACL test creates a temporary ACL user
on the shared test Redis and deletes it afterwards.
"""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

redis = pytest.importorskip("redis")

from graflow.security.transport import is_loopback
from graflow.utils.redis_utils import (
    binary_redis_client,
    create_redis_client,
    ensure_redis_connection_params,
    extract_redis_config,
    get_redis_pool,
    redis_from_url,
)

SERVER_START_TIMEOUT = 10.0


def service_unavailable(reason: str) -> None:
    """Skip, or fail under CI=true, like every Redis test of the suite."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _db_of(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path else 0


def _hostport(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


# Private servers ------------------------------------------------------------------------------------------------------
class _Server:
    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                if "ready to accept connections" in line.lower():
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(SERVER_START_TIMEOUT) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("redis-server did not start:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., _Server]]:
    executable = shutil.which("redis-server")
    if executable is None:
        service_unavailable("redis-server is not installed")
    servers: list[_Server] = []

    def start(*extra: str) -> _Server:
        args = [str(executable), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
        server = _Server([*args, *extra])
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def tls_server(start_server: Callable[..., _Server], tmp_path: Path) -> tuple[int, str]:
    """A TLS-only redis-server with a self-signed certificate for 127.0.0.1; returns (port, CA file)."""
    if shutil.which("openssl") is None:
        service_unavailable("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = find_free_port()
    try:
        start_server(
            "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
        )  # fmt: skip
    except RuntimeError as error:
        if "tls" in str(error).lower():
            service_unavailable(f"this redis-server is built without TLS: {error}")
        raise
    return port, str(cert)


@pytest.fixture
def acl_user(redis_client: Any) -> Iterator[tuple[str, str]]:
    """A temporary ACL user with a password on the test Redis, deleted afterwards."""
    name = f"graflow_test_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    redis_client.execute_command("ACL", "SETUSER", name, "on", f">{password}", "~*", "+@all")
    try:
        yield name, password
    finally:
        redis_client.execute_command("ACL", "DELUSER", name)


# Pools ---------------------------------------------------------------------------------------------------------------
def test_one_pool_per_url_and_options(redis_url: str) -> None:
    assert get_redis_pool(redis_url) is get_redis_pool(redis_url)
    assert get_redis_pool(redis_url, decode_responses=True) is get_redis_pool(redis_url, decode_responses=True)
    assert get_redis_pool(redis_url) is not get_redis_pool(redis_url, decode_responses=True)
    assert redis_from_url(redis_url).connection_pool is get_redis_pool(redis_url)


def test_concurrent_first_use_creates_one_pool(redis_url: str) -> None:
    # given a URL no one has asked for yet (a unique client name makes the options unique)
    opts = {"client_name": f"pool-race-{uuid.uuid4().hex}"}
    barrier = threading.Barrier(16)
    pools: list[Any] = []

    def grab() -> None:
        barrier.wait(10)
        pools.append(get_redis_pool(redis_url, **opts))

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(pools) == 16 and len({id(p) for p in pools}) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_gets_its_own_pool(redis_url: str) -> None:
    # given a pool in use in the parent
    parent_pool = get_redis_pool(redis_url)
    redis_from_url(redis_url).ping()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report whether it got a fresh pool that works
        try:
            child_pool = get_redis_pool(redis_url)
            fresh = child_pool is not parent_pool and child_pool is get_redis_pool(redis_url)
            ok = fresh and redis.Redis(connection_pool=child_pool).ping()
            os.write(write_fd, b"ok" if ok else b"reused")
        except BaseException as error:
            os.write(write_fd, repr(error).encode()[:200])
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == b"ok"
    assert get_redis_pool(redis_url) is parent_pool  # the parent keeps its own


# create_redis_client / extract / ensure -------------------------------------------------------------------------------
def test_create_redis_client_returns_a_given_client_as_is(redis_client: Any) -> None:
    assert create_redis_client({"redis_client": redis_client, "key_prefix": "x"}) is redis_client


def test_create_redis_client_from_host_parameters_decodes_by_default(redis_url: str, key_prefix: str) -> None:
    host, port = _hostport(redis_url)
    client = create_redis_client({"host": host, "port": port, "db": _db_of(redis_url), "key_prefix": "ignored"})
    client.set(f"{key_prefix}:k", "v")
    assert client.get(f"{key_prefix}:k") == "v"  # str: upstream always decoded responses


def test_create_redis_client_respects_decode_responses_false(redis_url: str, key_prefix: str) -> None:
    host, port = _hostport(redis_url)
    client = create_redis_client({"host": host, "port": port, "db": _db_of(redis_url), "decode_responses": False})
    client.set(f"{key_prefix}:k", "v")
    assert client.get(f"{key_prefix}:k") == b"v"


def test_create_redis_client_from_url(redis_url: str, key_prefix: str) -> None:
    client = create_redis_client({"url": redis_url, "socket_timeout": 3})
    client.set(f"{key_prefix}:k", "v")
    assert client.get(f"{key_prefix}:k") == "v"


def test_clients_with_the_same_parameters_share_one_pool(redis_url: str) -> None:
    host, port = _hostport(redis_url)
    config = {"host": host, "port": port, "db": _db_of(redis_url)}
    assert create_redis_client(dict(config)).connection_pool is create_redis_client(dict(config)).connection_pool
    other = create_redis_client({**config, "db": (_db_of(redis_url) + 1) % 16})
    assert other.connection_pool is not create_redis_client(dict(config)).connection_pool


def test_extracted_config_is_picklable_and_reconnects_to_the_same_database(redis_url: str, key_prefix: str) -> None:
    original = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=4)
    original.set(f"{key_prefix}:k", "same-db")
    config = pickle.loads(pickle.dumps(extract_redis_config(original)))
    assert config["decode_responses"] is True and config["socket_timeout"] == 4
    assert config["db"] == _db_of(redis_url)
    assert create_redis_client(config).get(f"{key_prefix}:k") == "same-db"
    original.close()


def test_ensure_redis_connection_params_replaces_the_client(redis_client: Any) -> None:
    config = {"redis_client": redis_client, "key_prefix": "p", "thread_count": 2}
    out = ensure_redis_connection_params(config)
    assert "redis_client" not in out and out["key_prefix"] == "p" and out["thread_count"] == 2
    assert out["host"] == redis_client.connection_pool.connection_kwargs["host"]
    assert "redis_client" in config  # the input is not changed
    pickle.dumps(out)
    assert create_redis_client(out).ping()


def test_ensure_redis_connection_params_copies_a_config_without_client() -> None:
    config = {"host": "localhost", "port": 6379}
    out = ensure_redis_connection_params(config)
    assert out == config and out is not config


# Credentials ---------------------------------------------------------------------------------------------------------
def test_acl_user_and_password_work_through_url_and_parameters(
    redis_url: str, acl_user: tuple[str, str], key_prefix: str
) -> None:
    name, password = acl_user
    host, port = _hostport(redis_url)
    db = _db_of(redis_url)
    by_url = redis_from_url(f"redis://{name}:{password}@{host}:{port}/{db}")
    assert by_url.execute_command("ACL", "WHOAMI") in (name, name.encode())
    by_params = create_redis_client({"host": host, "port": port, "db": db, "username": name, "password": password})
    assert by_params.execute_command("ACL", "WHOAMI") == name
    by_params.set(f"{key_prefix}:acl", "ok")
    # the extracted config keeps the credentials
    again = create_redis_client(extract_redis_config(by_params))
    assert again.execute_command("ACL", "WHOAMI") == name


def test_wrong_acl_password_is_refused(redis_url: str, acl_user: tuple[str, str]) -> None:
    name, _ = acl_user
    host, port = _hostport(redis_url)
    client = create_redis_client({"host": host, "port": port, "username": name, "password": "wrong"})
    with pytest.raises(redis.AuthenticationError):
        client.ping()


def test_password_protected_server(start_server: Callable[..., _Server]) -> None:
    port = find_free_port()
    start_server("--port", str(port), "--requirepass", "pa:ss@word")
    with pytest.raises(redis.AuthenticationError):
        create_redis_client({"host": "127.0.0.1", "port": port}).ping()
    assert create_redis_client({"host": "127.0.0.1", "port": port, "password": "pa:ss@word"}).ping()
    assert redis_from_url(f"redis://:pa%3Ass%40word@127.0.0.1:{port}/0").ping()


# TLS and unix sockets -------------------------------------------------------------------------------------------------
def test_tls_through_rediss_url(tls_server: tuple[int, str]) -> None:
    port, ca = tls_server
    client = redis_from_url(f"rediss://127.0.0.1:{port}/0", ssl_ca_certs=ca)
    assert client.ping()
    assert issubclass(client.connection_pool.connection_class, redis.SSLConnection)


def test_tls_refuses_an_unknown_certificate(tls_server: tuple[int, str]) -> None:
    port, _ = tls_server
    with pytest.raises(redis.ConnectionError):
        redis_from_url(f"rediss://127.0.0.1:{port}/0", socket_connect_timeout=5).ping()


def test_tls_through_parameters_survives_extract_and_binary_copy(tls_server: tuple[int, str]) -> None:
    port, ca = tls_server
    client = create_redis_client({"host": "127.0.0.1", "port": port, "ssl": True, "ssl_ca_certs": ca})
    client.set("k", "v")
    config = extract_redis_config(client)
    assert config["ssl"] is True and config["ssl_ca_certs"] == ca
    assert create_redis_client(pickle.loads(pickle.dumps(config))).get("k") == "v"
    binary = binary_redis_client(client)
    assert binary.get("k") == b"v"
    assert issubclass(binary.connection_pool.connection_class, redis.SSLConnection)


def test_unix_socket_client(start_server: Callable[..., _Server], tmp_path: Path) -> None:
    socket_path = str(tmp_path / "redis.sock")
    start_server("--port", "0", "--unixsocket", socket_path)
    client = create_redis_client({"unix_socket_path": socket_path})
    assert client.ping() and is_loopback(client)
    config = extract_redis_config(client)
    assert config["unix_socket_path"] == socket_path and "host" not in config
    assert create_redis_client(config).ping()
    assert binary_redis_client(client).ping()
    assert redis_from_url(f"unix://{socket_path}?db=0").ping()


# Binary copies --------------------------------------------------------------------------------------------------------
def test_binary_copy_of_a_decoding_client_returns_bytes_from_the_same_database(redis_url: str, key_prefix: str) -> None:
    decoding = redis.Redis.from_url(redis_url, decode_responses=True)
    decoding.set(f"{key_prefix}:k", "v")
    binary = binary_redis_client(decoding)
    assert binary.get(f"{key_prefix}:k") == b"v"
    assert binary_redis_client(decoding).connection_pool is binary.connection_pool  # one pool, reused
    decoding.close()


def test_binary_copy_of_a_bytes_client_is_the_client_itself(redis_client: Any) -> None:
    assert binary_redis_client(redis_client) is redis_client
