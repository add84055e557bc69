"""The feedback backend contract, run on the filesystem backend and on a real Redis (bytes and decoding clients)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graflow.hitl.backend.base import FeedbackBackend
from graflow.hitl.backend.filesystem import FilesystemFeedbackBackend
from graflow.testing.contracts.feedback import FeedbackBackendContract


class TestFilesystemFeedbackBackend(FeedbackBackendContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "feedback_data"

    def make_backend(self) -> FeedbackBackend:
        return FilesystemFeedbackBackend(self.folder)


class TestRedisFeedbackBackend(FeedbackBackendContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_client: Any, key_prefix: str) -> None:
        self.client = redis_client
        self.prefix = f"{key_prefix}:feedback"

    def make_backend(self) -> FeedbackBackend:
        from graflow.hitl.backend.redis import RedisFeedbackBackend

        return RedisFeedbackBackend(self.client, key_prefix=self.prefix)


class TestRedisFeedbackBackendWithDecodingClient(TestRedisFeedbackBackend):
    """Clients made with ``decode_responses=True`` (as 0.2 made them) behave the same."""

    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, key_prefix: str) -> Iterator[None]:
        import redis

        self.client = redis.Redis.from_url(redis_url, decode_responses=True)
        self.prefix = f"{key_prefix}:feedback"
        yield
        self.client.close()
