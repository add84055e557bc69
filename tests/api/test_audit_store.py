"""The run store's audit log, on every backend: entries read back field for field, newest first, by pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graflow.runs import AuditEntry, RunStore, RunStoreError, open_run_store


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[RunStore]:
    url = {"memory": "memory://audit-test", "sqlite": sqlite_url}.get(request.param)
    opened = open_run_store(url if url is not None else request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/runs.db"


def entry(n: int, **fields: object) -> AuditEntry:
    values: dict[str, object] = {"action": "run.start", "role": "operator", "method": "POST", "path": f"/p/{n}",
                                 "status_code": 202, "at": 1000.0 + n, "entry_id": f"e{n}"}
    values.update(fields)
    return AuditEntry(**values)  # type: ignore[arg-type]


def test_an_entry_reads_back_field_for_field(store: RunStore) -> None:
    written = entry(1, target="r1", token_fingerprint="abcd1234", idempotency_key="k", detail={"p": {"n": [1, 2]}})
    store.add_audit_entry(written)
    assert store.list_audit().entries == [written]


def test_entries_are_listed_newest_first_by_pages_and_filters(store: RunStore) -> None:
    for n in range(5):
        store.add_audit_entry(entry(n, action="run.cancel" if n == 2 else "run.start", idempotency_key=f"k{n}"))
    store.add_audit_entry(entry(4, entry_id="e4b"))  # same time as e4: the id breaks the tie
    first = store.list_audit(limit=3)
    assert [e.entry_id for e in first.entries] == ["e4b", "e4", "e3"]
    second = store.list_audit(limit=3, cursor=first.next_cursor)
    assert [e.entry_id for e in second.entries] == ["e2", "e1", "e0"] and second.next_cursor is None
    assert [e.entry_id for e in store.list_audit(action="run.cancel").entries] == ["e2"]
    assert [e.entry_id for e in store.list_audit(idempotency_key="k3").entries] == ["e3"]
    assert store.list_audit(target="nothing").entries == []
    with pytest.raises(RunStoreError):
        store.list_audit(cursor="garbage")
    with pytest.raises(RunStoreError):
        store.list_audit(limit=0)
