"""``RedisTaskQueue``: the name upstream's documentation uses for the Redis task queue.

It is :class:`~graflow.distributed.queue.DistributedTaskQueue` (Redis Streams, D19); both names work everywhere,
including ``TaskWorker``.
"""

from __future__ import annotations

from graflow.distributed.queue import DistributedTaskQueue


class RedisTaskQueue(DistributedTaskQueue):
    """The Redis Streams task queue under its documented name; see :class:`DistributedTaskQueue`."""


__all__ = ["RedisTaskQueue"]
