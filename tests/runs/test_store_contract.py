"""The run store contract on every backend: memory, SQLite (a file and in memory) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graflow.runs import MemoryRunStore, RunStore, open_run_store
from graflow.testing.contracts.run_store import RunStoreContract


class TestMemoryRunStore(RunStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[RunStore]:
        store = MemoryRunStore()
        yield store
        store.close()


class TestSqliteFileRunStore(RunStoreContract):
    @pytest.fixture
    def store(self, sqlite_url: str) -> Iterator[RunStore]:
        store = open_run_store(sqlite_url)
        yield store
        store.close()


class TestSqliteInMemoryRunStore(RunStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[RunStore]:
        store = open_run_store("sqlite://")
        yield store
        store.close()


class TestPostgresRunStore(RunStoreContract):
    @pytest.fixture
    def store(self, postgres_url: str) -> Iterator[RunStore]:
        store = open_run_store(postgres_url)
        yield store
        store.close()
