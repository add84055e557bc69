"""Documented import path of :mod:`graflow.distributed.redis_queue`."""

from __future__ import annotations

from graflow.distributed.redis_queue import (
    RedisTaskQueue,
)

__all__ = [
    "RedisTaskQueue",
]
