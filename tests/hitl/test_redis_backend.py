"""What only the Redis backend promises: Graflow 0.2's key layout, expiry, and notifications over pub/sub."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from graflow.hitl.backend.redis import RedisFeedbackBackend
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import COMPLETED, OPEN_STATUSES, new_feedback_id
from graflow.testing.contracts.feedback import make_request, make_response


@pytest.fixture
def default_layout(redis_client: Any) -> Any:
    """A backend with the default prefix; the keys of the ids it hands out are deleted afterwards."""
    backend = RedisFeedbackBackend(redis_client)
    ids: list[str] = []
    yield backend, ids
    for feedback_id in ids:
        redis_client.delete(backend.request_key(feedback_id), backend.response_key(feedback_id))
    backend.close()


def test_default_keys_and_channel_are_upstreams(default_layout: Any, redis_client: Any) -> None:
    backend, ids = default_layout
    request = make_request()
    ids.append(request.feedback_id)
    backend.store_request(request)
    backend.store_response(make_response(request.feedback_id))
    raw = redis_client.get(f"feedback:request:{request.feedback_id}")
    assert json.loads(raw)["feedback_type"] == "approval"
    assert json.loads(redis_client.get(f"feedback:response:{request.feedback_id}"))["approved"] is True
    assert backend.channel(request.feedback_id) == f"feedback:{request.feedback_id}"


def test_keys_expire_after_expiration_days(redis_client: Any, key_prefix: str) -> None:
    backend = RedisFeedbackBackend(redis_client, expiration_days=2, key_prefix=key_prefix)
    request = make_request()
    backend.store_request(request)
    backend.transition(request.feedback_id, OPEN_STATUSES, COMPLETED, response=make_response(request.feedback_id))
    for key in (backend.request_key(request.feedback_id), backend.response_key(request.feedback_id)):
        assert 2 * 86_400 - 60 < redis_client.ttl(key) <= 2 * 86_400


@pytest.mark.parametrize("days", [None, 0])
def test_no_expiration_keeps_keys(redis_client: Any, key_prefix: str, days: Any) -> None:
    backend = RedisFeedbackBackend(redis_client, expiration_days=days, key_prefix=key_prefix)
    request = make_request()
    backend.store_request(request)
    assert redis_client.ttl(backend.request_key(request.feedback_id)) == -1


def test_publish_reaches_a_plain_redis_subscriber(redis_client: Any, key_prefix: str) -> None:
    backend = RedisFeedbackBackend(redis_client, key_prefix=key_prefix)
    feedback_id = new_feedback_id()
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(backend.channel(feedback_id))
    try:
        assert pubsub.get_message(timeout=2) is None  # the confirmation, ignored
        backend.publish(feedback_id)
        message = pubsub.get_message(timeout=2)
        assert message is not None and message["type"] == "message"
    finally:
        pubsub.close()


def test_backend_made_from_connection_settings(redis_url: str, key_prefix: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    backend = RedisFeedbackBackend(
        host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=int(parts.path.strip("/") or 0),
        key_prefix=key_prefix,
    )  # fmt: skip
    request = make_request()
    backend.store_request(request)
    assert backend.get_request(request.feedback_id) is not None


def test_manager_by_name_with_a_url(redis_url: str, key_prefix: str) -> None:
    manager = FeedbackManager("redis", {"url": redis_url, "key_prefix": key_prefix, "expiration_days": 1})
    request = make_request()
    manager.store_request(request)
    assert isinstance(manager.backend, RedisFeedbackBackend)
    assert manager.get_request(request.feedback_id) is not None


def test_a_listener_that_cannot_subscribe_falls_back_to_polling(redis_client: Any, key_prefix: str) -> None:
    import redis

    class DeadPubSub:
        closed = False

        def subscribe(self, *channels: str) -> None:
            raise redis.ConnectionError("connection refused")

        def close(self) -> None:
            self.closed = True

    dead = DeadPubSub()
    backend = RedisFeedbackBackend(redis_client, key_prefix=key_prefix)
    backend._client = type("Client", (), {"pubsub": lambda self: dead})()
    assert backend.start_listener(new_feedback_id(), threading.Event()) is None
    assert dead.closed
