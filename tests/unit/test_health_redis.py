"""Built-in Redis health checks against a real Redis (skipped without one, failing under CI=true)."""

from __future__ import annotations

from typing import Any

import pytest

from graflow.observability.health import HealthMonitor, consumer_group_check, redis_ping_check

redis = pytest.importorskip("redis")


def test_ping_check_passes_on_a_live_server(redis_client: Any) -> None:
    assert redis_ping_check(redis_client)() is True


def test_ping_check_raises_into_an_error_result_when_the_server_is_gone(redis_server_factory: Any) -> None:
    # given a private server that is then killed
    server = redis_server_factory()
    client = server.client(socket_connect_timeout=1, socket_timeout=1)
    monitor = HealthMonitor()
    monitor.register_check("redis", redis_ping_check(client), critical=True)
    assert monitor.get_health()["status"] == "healthy"
    server.kill()
    # then the critical check turns the process unhealthy with the error named
    report = monitor.get_health()
    assert report["status"] == "unhealthy"
    assert report["checks"]["redis"]["status"] == "error"
    assert report["checks"]["redis"]["error_type"] == "ConnectionError"
    assert report["checks"]["redis"]["error"]


def test_consumer_group_check_follows_group_and_consumer(redis_client: Any, key_prefix: str) -> None:
    stream = f"{key_prefix}:tasks"
    check = consumer_group_check(redis_client, stream, "workers")
    with_consumer = consumer_group_check(redis_client, stream, "workers", consumer="w1")
    # no stream yet
    healthy, detail = check()
    assert healthy is False and "unavailable" in detail
    # stream and group exist
    redis_client.xgroup_create(stream, "workers", id="0", mkstream=True)
    assert check()[0] is True
    assert with_consumer() == (False, "consumer 'w1' not in group 'workers'")
    # the consumer joins the group
    redis_client.xgroup_createconsumer(stream, "workers", "w1")
    assert with_consumer() == (True, "consumer 'w1' in group 'workers'")
    # another group is not this one
    assert consumer_group_check(redis_client, stream, "others")() == (False, f"group 'others' not on stream {stream!r}")


def test_consumer_group_check_works_with_decoded_replies(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        stream = f"{key_prefix}:decoded"
        client.xgroup_create(stream, "g", id="0", mkstream=True)
        assert consumer_group_check(client, stream, "g")()[0] is True
    finally:
        client.delete(f"{key_prefix}:decoded")
        client.close()
