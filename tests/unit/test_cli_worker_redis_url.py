"""A worker given a malformed Redis URL says so in one line on stderr and exits with code 2, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from graflow.exceptions import ConfigError, GraflowError
from graflow.utils.redis_utils import RedisURLError, redis_from_url, safe_redis_url, validate_redis_url

MALFORMED_URLS = [
    "127.0.0.1:6379",  # no scheme
    "reddis://x",  # unknown scheme
    "redis://host:notaport",  # port is not a number
    "redis://host:99999/0",  # port out of range
    "redis://host:6379/abc",  # database is not a number
    "http://localhost:6379/0",  # a URL, but not a Redis one
]
ENTRY_POINTS = {
    "graflow worker": ["-m", "graflow.cli.main", "worker"],
    "python -m graflow.worker.main": ["-m", "graflow.worker.main"],
}


def run_python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("GRAFLOW_")}
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    child_env.update(env or {})
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, env=child_env)


def assert_one_line_naming(proc: subprocess.CompletedProcess[str], url: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert repr(url) in lines[0]
    for scheme in ("redis://", "rediss://", "unix://"):
        assert scheme in lines[0]


@pytest.mark.parametrize("entry", list(ENTRY_POINTS), ids=list(ENTRY_POINTS))
@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_redis_url_is_one_line_on_stderr_and_exit_code_2(entry: str, url: str) -> None:
    # given a worker command line with a malformed --redis-url
    # when the worker starts
    proc = run_python(*ENTRY_POINTS[entry], "--redis-url", url)
    # then it exits with the configuration error code and one line that names the URL and the accepted schemes
    assert_one_line_naming(proc, url)
    assert proc.stdout == ""


def test_a_malformed_url_from_the_environment_is_reported_the_same_way() -> None:
    proc = run_python("-m", "graflow.cli.main", "worker", env={"GRAFLOW_REDIS_URL": "localhost:6379"})
    assert_one_line_naming(proc, "localhost:6379")


def test_the_password_of_a_malformed_url_is_masked() -> None:
    proc = run_python("-m", "graflow.worker.main", "--redis-url", "redis://user:s3cret@host:notaport/0")
    assert proc.returncode == 2
    assert "s3cret" not in proc.stderr
    assert "'redis://user:***@host:notaport/0'" in proc.stderr


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_validation_raises_a_config_error_that_is_also_a_value_error(url: str) -> None:
    with pytest.raises(RedisURLError) as raised:
        validate_redis_url(url)
    assert isinstance(raised.value, ConfigError) and isinstance(raised.value, GraflowError)
    assert isinstance(raised.value, ValueError)  # what redis-py raises for the same URLs
    assert raised.value.url == url


def test_client_creation_refuses_a_malformed_url_before_connecting() -> None:
    with pytest.raises(RedisURLError, match="no scheme"):
        redis_from_url("127.0.0.1:6379")


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost",
        "redis://localhost:6379/0",
        "REDIS://localhost:6379/0",
        "rediss://user:pw@example.com:6380/2",
        "redis://[::1]:6379/1",
        "unix:///run/redis.sock?db=3",
        "redis://localhost:6379/0?socket_timeout=2",
    ],
)
def test_well_formed_urls_pass_unchanged(url: str) -> None:
    assert validate_redis_url(url) == url


def test_safe_redis_url_drops_the_password_of_urls_and_clients() -> None:
    import redis

    assert safe_redis_url("redis://user:s3cret@host:6379/2") == "redis://user@host:6379/2"
    assert safe_redis_url("rediss://:s3cret@host/0") == "rediss://host/0"
    assert safe_redis_url("redis://host:6379/0") == "redis://host:6379/0"
    client = redis.Redis(host="10.0.0.5", port=6380, db=4, username="app", password="s3cret")
    assert safe_redis_url(client) == "redis://app@10.0.0.5:6380/4"
    assert safe_redis_url(redis.Redis(unix_socket_path="/run/redis.sock", db=1)) == "unix:///run/redis.sock?db=1"
    assert safe_redis_url(redis.Redis(host="h", ssl=True)) == "rediss://h:6379/0"
