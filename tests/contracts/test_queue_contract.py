"""The task-queue contract on the local queue and on the Redis Streams queue (bytes and text clients, signed)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from graflow.queue.base import TaskQueue
from graflow.queue.local import LocalTaskQueue
from graflow.testing.contracts.queue import TaskQueueContract


class TestLocalTaskQueueContract(TaskQueueContract):
    def make_queue(self, context: Any) -> TaskQueue:
        return LocalTaskQueue(context)


class TestDistributedTaskQueueContract(TaskQueueContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_client: Any, key_prefix: str) -> None:
        self.client = redis_client
        self.prefix = key_prefix

    def queue_kwargs(self) -> dict[str, Any]:
        return {}

    def make_queue(self, context: Any) -> TaskQueue:
        from graflow.distributed.queue import DistributedTaskQueue

        return DistributedTaskQueue(self.client, key_prefix=self.prefix, **self.queue_kwargs())


class TestDistributedTaskQueueContractWithDecodingClient(TestDistributedTaskQueueContract):
    """Upstream made its clients with ``decode_responses=True``; payloads are binary and must still work."""

    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, key_prefix: str) -> Any:
        import redis

        self.client = redis.Redis.from_url(redis_url, decode_responses=True)
        self.prefix = key_prefix
        yield
        self.client.close()


class TestSignedDistributedTaskQueueContract(TestDistributedTaskQueueContract):
    def queue_kwargs(self) -> dict[str, Any]:
        from graflow.security.signing import PayloadSigner

        return {"signer": PayloadSigner(secrets.token_bytes(32))}


class TestQueueFactoryLocalContract(TaskQueueContract):
    """Queues made by ``TaskQueueFactory`` (the documented entry point) obey the same contract."""

    def make_queue(self, context: Any) -> TaskQueue:
        from graflow.queue.factory import QueueBackend, TaskQueueFactory

        return TaskQueueFactory.create_queue(QueueBackend.LOCAL, context)


class TestQueueFactoryRedisContract(TestDistributedTaskQueueContract):
    def make_queue(self, context: Any) -> TaskQueue:
        from graflow.distributed.redis_queue import RedisTaskQueue
        from graflow.queue.factory import TaskQueueFactory

        queue = TaskQueueFactory.create_queue("redis", redis_client=self.client, key_prefix=self.prefix)
        assert isinstance(RedisTaskQueue(self.client, key_prefix=self.prefix), type(queue))
        return queue


def test_unknown_queue_backends_are_rejected() -> None:
    from graflow.exceptions import ConfigError
    from graflow.queue.factory import TaskQueueFactory

    with pytest.raises(ConfigError, match="Unknown queue backend"):
        TaskQueueFactory.create_queue("kafka")
    with pytest.raises(ConfigError, match="execution_context"):
        TaskQueueFactory.create_queue("local")
    assert "local" in TaskQueueFactory.get_available_backends()
