"""Upstream import path of :mod:`graflow.distributed.queue` (the Redis Streams task queue)."""

from __future__ import annotations

from graflow.distributed.queue import (
    DistributedTaskQueue,
    default_consumer_name,
)

__all__ = [
    "DistributedTaskQueue",
    "default_consumer_name",
]
