"""Feedback requests and responses in Redis, with pub/sub notifications.

Keys (``<prefix>`` is ``feedback`` unless configured): ``<prefix>:request:<id>`` and ``<prefix>:response:<id>`` hold
the JSON records and expire ``expiration_days`` after their last write; ``publish`` sends to the pub/sub channel
``<prefix>:<id>``. Clients with and without ``decode_responses`` work alike. Status transitions are optimistic
transactions (``WATCH``/``MULTI``), so they are atomic across processes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import redis

from graflow.hitl.backend.base import ChangeCallback, Changes, FeedbackBackend, apply_changes, matches, newest_first
from graflow.hitl.types import PENDING, FeedbackRequest, FeedbackResponse, is_valid_feedback_id, validate_feedback_id
from graflow.utils.redis_utils import create_redis_client, extract_redis_config

logger = logging.getLogger(__name__)

_Record = TypeVar("_Record", FeedbackRequest, FeedbackResponse)

#: Default key prefix: Graflow 0.2's key layout.
DEFAULT_KEY_PREFIX = "feedback"
#: How long a listener may wait for Redis to confirm its subscription, in seconds.
SUBSCRIBE_TIMEOUT = 5.0
#: How often a listener thread checks whether it was stopped, in seconds.
LISTENER_TICK = 0.2
_SCAN_BATCH = 500
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class RedisFeedbackBackend(FeedbackBackend):
    """Stores feedback in Redis and wakes waiters through pub/sub.

    Args:
        redis_client: Client to use; otherwise one is made from ``host``, ``port``, ``db`` and ``connection``.
        host: Redis host.
        port: Redis port.
        db: Redis database number.
        expiration_days: Keys expire this many days after their last write; None or <= 0 keeps them.
        key_prefix: First part of every key and pub/sub channel.
        **connection: More connection settings for a new client (``password``, ``username``, ``ssl`` ...).
    """

    poll_interval = 0.25
    notified_poll_interval = 1.0

    def __init__(
        self,
        redis_client: redis.Redis | None = None,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        expiration_days: float | None = 7,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        **connection: Any,
    ) -> None:
        if redis_client is None:
            redis_client = create_redis_client({"host": host, "port": port, "db": db, **connection})
        self._client = redis_client
        self.key_prefix = key_prefix
        self.expiration_days = expiration_days
        self._ttl = int(expiration_days * 86_400) if expiration_days and expiration_days > 0 else None
        self._listeners: dict[tuple[str, threading.Event], threading.Event] = {}
        self._watchers: dict[ChangeCallback, threading.Event] = {}
        self._listeners_lock = threading.Lock()

    @property
    def client(self) -> redis.Redis:
        """The Redis client."""
        return self._client

    # -- keys --------------------------------------------------------------------------------------------------------
    def request_key(self, feedback_id: str) -> str:
        """Key of the request ``feedback_id``."""
        return f"{self.key_prefix}:request:{feedback_id}"

    def response_key(self, feedback_id: str) -> str:
        """Key of the response ``feedback_id``."""
        return f"{self.key_prefix}:response:{feedback_id}"

    def channel(self, feedback_id: str) -> str:
        """Pub/sub channel of ``feedback_id``."""
        return f"{self.key_prefix}:{feedback_id}"

    # -- storage --------------------------------------------------------------------------------------------------
    def store_request(self, request: FeedbackRequest) -> None:
        """``SET`` the request JSON with the backend's expiry."""
        self._client.set(self.request_key(validate_feedback_id(request.feedback_id)), request.to_json(), ex=self._ttl)

    def get_request(self, feedback_id: str) -> FeedbackRequest | None:
        """The request, or None."""
        if not is_valid_feedback_id(feedback_id):
            return None
        return _parse(self._client.get(self.request_key(feedback_id)), FeedbackRequest.from_json)

    def store_response(self, response: FeedbackResponse) -> None:
        """``SET`` the response JSON with the backend's expiry."""
        key = self.response_key(validate_feedback_id(response.feedback_id))
        self._client.set(key, response.to_json(), ex=self._ttl)

    def get_response(self, feedback_id: str) -> FeedbackResponse | None:
        """The response, or None."""
        if not is_valid_feedback_id(feedback_id):
            return None
        return _parse(self._client.get(self.response_key(feedback_id)), FeedbackResponse.from_json)

    def list_pending_requests(self, session_id: str | None = None) -> list[FeedbackRequest]:
        """Pending requests, newest first (``SCAN`` over the request keys, never ``KEYS``)."""
        return newest_first([r for r in self._all_requests() if matches(r, session_id, PENDING)])

    def list_requests(self, session_id: str | None = None, n_recent: int = 100) -> list[FeedbackRequest]:
        """Requests of every status, newest first, at most ``n_recent``."""
        return newest_first([r for r in self._all_requests() if matches(r, session_id)], n_recent)

    def transition(
        self,
        feedback_id: str,
        allowed: Collection[str],
        status: str | None,
        *,
        response: FeedbackResponse | None = None,
        changes: Changes = None,
    ) -> FeedbackRequest | None:
        """Atomic across processes: an optimistic transaction on the request key, retried on conflict."""
        if not is_valid_feedback_id(feedback_id):
            return None
        key = self.request_key(feedback_id)
        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    request = _parse(pipe.get(key), FeedbackRequest.from_json)
                    updated = None
                    if request is not None and request.status in allowed:
                        updated = apply_changes(request, status, changes)
                    if updated is None:
                        pipe.unwatch()
                        return None
                    pipe.multi()
                    if response is not None:
                        pipe.set(self.response_key(feedback_id), response.to_json(), ex=self._ttl)
                    pipe.set(key, updated.to_json(), ex=self._ttl)
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue  # the request changed between the read and the write: decide again

    # -- notifications --------------------------------------------------------------------------------------------
    def publish(self, feedback_id: str) -> None:
        """``PUBLISH`` to the request's channel."""
        self._client.publish(self.channel(feedback_id), "changed")

    def start_listener(self, feedback_id: str, notification_event: threading.Event) -> threading.Thread | None:
        """Subscribe (confirmed before returning) and start a thread that sets the event on every message.

        Returns None, after logging a warning, when Redis does not confirm the subscription; waiters then poll.
        """
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(self.channel(feedback_id))
            _await_subscription(pubsub)
        except (redis.RedisError, OSError, TimeoutError) as exc:
            logger.warning("Cannot listen for feedback %s, polling instead: %s", feedback_id, exc)
            _close_quietly(pubsub)
            return None
        stop = threading.Event()
        with self._listeners_lock:
            self._listeners[(feedback_id, notification_event)] = stop
        thread = threading.Thread(
            target=_listen, args=(pubsub, notification_event, stop), name="graflow-feedback-listener", daemon=True
        )
        thread.start()
        return thread

    def stop_listener(self, feedback_id: str, notification_event: threading.Event) -> None:
        """Stop the listener thread; it unsubscribes and exits within a fraction of a second."""
        with self._listeners_lock:
            stop = self._listeners.pop((feedback_id, notification_event), None)
        if stop is not None:
            stop.set()

    def start_watcher(self, on_change: ChangeCallback) -> threading.Thread | None:
        """Subscribe to the pattern ``<prefix>:*`` (confirmed before returning) and start a thread that calls
        ``on_change(feedback_id)`` for every :meth:`publish` of any process.

        Returns None, after logging a warning, when Redis does not confirm the subscription; the watcher then only
        reads the store.
        """
        pubsub = self._client.pubsub()
        prefix = f"{self.key_prefix}:"
        try:
            pubsub.psubscribe(_GLOB_SPECIAL.sub(r"\\\1", prefix) + "*")
            _await_subscription(pubsub, "psubscribe")
        except (redis.RedisError, OSError, TimeoutError) as exc:
            logger.warning("Cannot watch feedback notifications, reading the store instead: %s", exc)
            _close_quietly(pubsub)
            return None
        stop = threading.Event()
        with self._listeners_lock:
            self._watchers[on_change] = stop
        thread = threading.Thread(
            target=_watch, args=(pubsub, prefix, on_change, stop), name="graflow-feedback-watcher", daemon=True
        )
        thread.start()
        return thread

    def stop_watcher(self, on_change: ChangeCallback) -> None:
        """Stop the watcher thread of ``on_change``; it unsubscribes and exits within a fraction of a second."""
        with self._listeners_lock:
            stop = self._watchers.pop(on_change, None)
        if stop is not None:
            stop.set()

    def close(self) -> None:
        """Stop every listener and watcher thread. The client stays usable (it may be shared)."""
        with self._listeners_lock:
            stops = [*self._listeners.values(), *self._watchers.values()]
            self._listeners.clear()
            self._watchers.clear()
        for stop in stops:
            stop.set()

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _all_requests(self) -> list[FeedbackRequest]:
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self.key_prefix) + ":request:*"
        keys = list(self._client.scan_iter(match=pattern, count=_SCAN_BATCH))
        found = []
        for start in range(0, len(keys), _SCAN_BATCH):
            for raw in self._client.mget(keys[start : start + _SCAN_BATCH]):
                request = _parse(raw, FeedbackRequest.from_json)
                if request is not None:
                    found.append(request)
        return found

    def __getstate__(self) -> dict[str, Any]:
        # A client cannot be pickled; its connection parameters can (a checkpointed context holds its backend).
        return {
            "config": extract_redis_config(self._client),
            "key_prefix": self.key_prefix,
            "expiration_days": self.expiration_days,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            create_redis_client(state["config"]),
            expiration_days=state["expiration_days"],
            key_prefix=state["key_prefix"],
        )


def _parse(raw: Any, parse: Callable[[Any], _Record]) -> _Record | None:
    if raw is None:
        return None
    try:
        return parse(raw)
    except ValueError as exc:  # json and pydantic errors both derive from ValueError
        logger.warning("Skipping unreadable feedback record: %s", exc)
        return None


def _await_subscription(pubsub: Any, kind: str = "subscribe") -> None:
    deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("Redis did not confirm the subscription")
        message = pubsub.get_message(timeout=remaining)
        if message is not None and message.get("type") == kind:
            return


def _listen(pubsub: Any, event: threading.Event, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            message = pubsub.get_message(timeout=LISTENER_TICK)
            if message is not None and message.get("type") == "message":
                event.set()
    except (redis.RedisError, OSError, ValueError) as exc:
        # The waiter keeps polling the store; a lost connection costs latency, never an answer.
        if not stop.is_set():
            logger.warning("Feedback listener stopped: %s", exc)
    finally:
        _close_quietly(pubsub)


def _watch(pubsub: Any, prefix: str, on_change: ChangeCallback, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            message = pubsub.get_message(timeout=LISTENER_TICK)
            if message is None or message.get("type") != "pmessage":
                continue
            channel = message.get("channel")
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            feedback_id = name[len(prefix) :]
            if is_valid_feedback_id(feedback_id):
                try:
                    on_change(feedback_id)
                except Exception:
                    logger.exception("Feedback watcher %r failed", on_change)
    except (redis.RedisError, OSError, ValueError) as exc:
        # The watcher keeps reading the store; a lost connection costs latency, never a change.
        if not stop.is_set():
            logger.warning("Feedback watcher stopped: %s", exc)
    finally:
        _close_quietly(pubsub)


def _close_quietly(pubsub: Any) -> None:
    try:
        pubsub.close()
    except (redis.RedisError, OSError):
        pass


__all__ = ["RedisFeedbackBackend", "DEFAULT_KEY_PREFIX"]
