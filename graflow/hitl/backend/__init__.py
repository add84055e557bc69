"""Feedback storage backends: :class:`FeedbackBackend` (the contract), filesystem and Redis.

Import them from their modules (``graflow.hitl.backend.base``, ``.filesystem``, ``.redis``) as in Graflow 0.2, or
by name with :func:`create_feedback_backend`. The Redis backend is imported only when asked for.
"""

from __future__ import annotations

from typing import Any

from graflow.hitl.backend.base import FeedbackBackend

#: Backend names accepted by :func:`create_feedback_backend`.
BACKEND_NAMES = ("filesystem", "redis")


def create_feedback_backend(name: str, config: dict[str, Any] | None = None) -> FeedbackBackend:
    """Make the backend called ``name`` from its settings.

    Args:
        name: ``"filesystem"`` (settings: ``data_dir``) or ``"redis"`` (settings: ``redis_client`` or ``url`` or
            ``host``/``port``/``db`` and other connection settings, ``expiration_days``, ``key_prefix``).
        config: The settings; missing ones take their defaults.

    Raises:
        ValueError: ``name`` is not a known backend.
    """
    config = dict(config or {})
    if name == "filesystem":
        from graflow.hitl.backend.filesystem import FilesystemFeedbackBackend

        return FilesystemFeedbackBackend(data_dir=config.get("data_dir", "feedback_data"))
    if name == "redis":
        from graflow.hitl.backend.redis import RedisFeedbackBackend

        client = config.pop("redis_client", None)
        url = config.pop("url", None)
        if client is None and url:
            from graflow.utils.redis_utils import create_redis_client

            client = create_redis_client({"url": url, **config})
        return RedisFeedbackBackend(
            redis_client=client,
            host=config.pop("host", "localhost"),
            port=config.pop("port", 6379),
            db=config.pop("db", 0),
            expiration_days=config.pop("expiration_days", 7),
            key_prefix=config.pop("key_prefix", "feedback"),
            **({} if url else config),
        )
    raise ValueError(f"Unsupported backend: {name}. Use 'filesystem' or 'redis'.")


__all__ = ["FeedbackBackend", "BACKEND_NAMES", "create_feedback_backend"]
