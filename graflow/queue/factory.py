"""Task queues by backend name: ``QueueBackend`` and ``TaskQueueFactory`` (names from upstream's documentation).

The Redis backend is imported on first use, so this module never imports redis by itself.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Any

from graflow.exceptions import ConfigError
from graflow.queue.base import TaskQueue


class QueueBackend(StrEnum):
    """The built-in task queues; members compare equal to their names (``QueueBackend.REDIS == "redis"``)."""

    LOCAL = "local"
    IN_MEMORY = "in_memory"
    REDIS = "redis"


_BACKENDS: dict[str, str] = {
    QueueBackend.LOCAL.value: "graflow.queue.local:LocalTaskQueue",
    QueueBackend.IN_MEMORY.value: "graflow.queue.local:LocalTaskQueue",
    QueueBackend.REDIS.value: "graflow.distributed.queue:DistributedTaskQueue",
}


class TaskQueueFactory:
    """Creates task queues by backend name."""

    @staticmethod
    def create_queue(backend: QueueBackend | str, execution_context: Any = None, **kwargs: Any) -> TaskQueue:
        """A new queue of ``backend``.

        Args:
            backend: ``"local"`` (or ``"in_memory"``): the run's in-memory queue, needs ``execution_context``;
                ``"redis"``: the Redis Streams queue; ``kwargs`` go to ``DistributedTaskQueue`` (``redis_client``,
                ``host``, ``port``, ``db``, ``key_prefix``, ``graph_store`` ...).
            execution_context: The run whose ready queue a local queue views.

        Raises:
            ConfigError: Unknown backend, or a local queue without a context.
        """
        name = str(backend).strip().lower()
        path = _BACKENDS.get(name)
        if path is None:
            raise ConfigError(f"Unknown queue backend: {backend!r}. Use one of: {', '.join(sorted(_BACKENDS))}")
        module_name, _, attr = path.partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
        if name == QueueBackend.REDIS.value:
            queue: TaskQueue = cls(**kwargs)
            return queue
        if execution_context is None:
            raise ConfigError(f"The {name!r} queue views a run's ready queue: pass execution_context")
        local: TaskQueue = cls(execution_context, **kwargs)
        return local

    @staticmethod
    def get_available_backends() -> list[str]:
        """Names of the backends whose dependencies are installed."""
        import importlib.util

        names = [QueueBackend.LOCAL.value, QueueBackend.IN_MEMORY.value]
        if importlib.util.find_spec("redis") is not None:
            names.append(QueueBackend.REDIS.value)
        return names


__all__ = ["QueueBackend", "TaskQueueFactory"]
