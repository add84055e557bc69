"""The checkpoint store contract, run on the filesystem store and on a real Redis."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from graflow.checkpoints.base import CheckpointStore
from graflow.checkpoints.filesystem import TEMP_MARKER, FileSystemCheckpointStore
from graflow.testing.contracts.checkpoint_store import CheckpointStoreContract


class TestFileSystemCheckpointStore(CheckpointStoreContract):
    @pytest.fixture
    def store(self) -> CheckpointStore:
        return FileSystemCheckpointStore()

    @pytest.fixture
    def root(self, tmp_path: Path) -> str:
        return str(tmp_path / "ckpt")

    def leftovers(self, store: CheckpointStore, root: str) -> list[Any]:
        found = []
        for dirpath, _dirs, names in os.walk(os.path.dirname(root)):
            found += [os.path.join(dirpath, n) for n in names if TEMP_MARKER in n]
        return found


class TestRedisCheckpointStore(CheckpointStoreContract):
    @pytest.fixture
    def store(self, redis_url: str, redis_client: Any, key_prefix: str) -> CheckpointStore:
        from graflow.checkpoints.redis_store import RedisCheckpointStore

        return RedisCheckpointStore(redis_client, prefix=key_prefix, url=redis_url, query={"prefix": key_prefix})

    @pytest.fixture
    def root(self) -> str:
        return f"ckpt-{uuid.uuid4().hex[:8]}"

    def leftovers(self, store: CheckpointStore, root: str) -> list[Any]:
        from graflow.checkpoints.redis_store import RedisCheckpointStore

        assert isinstance(store, RedisCheckpointStore)
        committed = {store._key(base).encode() for base in store.list(root)}
        keys = set(store.client.scan_iter(match=f"{store.prefix}:checkpoint:{root}/*"))
        return sorted(keys - committed)
