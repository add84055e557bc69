"""The server's Redis (``--redis-url``): one client, made on first use, shared by distributed runs and the queue
endpoints, and Redis errors turned into ``503`` answers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from graflow import defaults
from graflow.api.errors import ApiError, unavailable
from graflow.exceptions import ConfigError


class RedisLink:
    """Where the workers' queue is.

    Args:
        url: ``redis://`` / ``rediss://`` / ``unix://`` URL; None when the server has no Redis.
        key_prefix: The workers' ``--redis-key-prefix``.
    """

    def __init__(self, url: str | None, key_prefix: str = defaults.REDIS_KEY_PREFIX) -> None:
        self.url = url
        self.key_prefix = key_prefix
        self._client: Any = None
        self._stream: Any = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        """Whether the server has a Redis."""
        return bool(self.url)

    def require(self, what: str) -> None:
        """Raise a 400 answer when the server has no Redis (``what`` needs one)."""
        if not self.url:
            raise ApiError(400, f"{what} needs Redis: start the server with --redis-url")

    def client(self) -> Any:
        """The client (made now if needed).

        Raises:
            ApiError: 400 without a Redis URL; 503 when the URL is malformed.
        """
        url = self.url
        if not url:
            raise ApiError(400, "This call needs Redis: start the server with --redis-url")
        with self._lock:
            if self._client is None:
                from graflow.utils.redis_utils import redis_from_url

                with errors("connect to Redis"):
                    self._client = redis_from_url(url)
            return self._client

    def stream(self) -> Any:
        """The workers' :class:`~graflow.distributed.streams.RedisStreamQueue` (read and dead-letter operations)."""
        client = self.client()
        with self._lock:
            if self._stream is None:
                from graflow.distributed.streams import RedisStreamQueue

                with errors("open the task stream"):
                    self._stream = RedisStreamQueue(client, self.key_prefix)
            return self._stream

    def close(self) -> None:
        """Close the client's connections."""
        with self._lock:
            client, self._client, self._stream = self._client, None, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


@contextlib.contextmanager
def errors(action: str) -> Iterator[None]:
    """Turn Redis errors (and a refused configuration, such as unsigned payloads on a remote Redis) into 503."""
    import redis

    try:
        yield
    except ApiError:
        raise
    except (redis.RedisError, OSError) as exc:
        raise unavailable(f"Could not {action}: Redis: {exc}") from exc
    except ConfigError as exc:
        raise unavailable(f"Could not {action}: {exc}") from exc


__all__ = ["RedisLink", "errors"]
