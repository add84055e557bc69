"""Upstream import path of :mod:`graflow.distributed.redis_coordinator`."""

from __future__ import annotations

from graflow.distributed.redis_coordinator import (
    DEFAULT_BARRIER_TIMEOUT,
    RedisCoordinator,
    record_task_completion,
)

__all__ = [
    "DEFAULT_BARRIER_TIMEOUT",
    "RedisCoordinator",
    "record_task_completion",
]
