"""Schema migrations run when a store opens: an empty database is migrated, one at the newest revision is left
alone, one at an unknown (newer) revision is refused, and the migrated schema is the one ``schema.py`` describes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from graflow.runs import SchemaVersionError, open_run_store
from graflow.runs import migrate as migrate_module
from graflow.runs.migrate import head_revision
from graflow.runs.schema import VERSION_TABLE, metadata
from graflow.runs.sql import SqlRunStore
from graflow.testing.contracts.run_store import make_run


def revision_in(store: SqlRunStore) -> str | None:
    with store.engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def schema_differences(store: SqlRunStore) -> list[object]:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return list(compare_metadata(context, metadata))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))


def test_opening_an_empty_database_migrates_it_to_the_newest_revision(url: str) -> None:
    store = open_run_store(url)
    try:
        assert isinstance(store, SqlRunStore)
        assert store.migrated is True
        assert revision_in(store) == head_revision()
        assert schema_differences(store) == []
    finally:
        store.close()


def test_a_database_at_the_newest_revision_is_left_alone(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a store that was created and holds a run
    first = open_run_store(url)
    first.create_run(make_run("kept"))
    first.close()

    # when it is opened again, with any attempt to run a migration made to fail loudly
    def no_upgrade(connection: sa.Connection) -> None:
        raise AssertionError("a database at the newest revision was migrated again")

    monkeypatch.setattr(migrate_module, "upgrade", no_upgrade)
    again = open_run_store(url)
    try:
        # then nothing was migrated and the data is still there
        assert isinstance(again, SqlRunStore)
        assert again.migrated is False
        assert revision_in(again) == head_revision()
        assert again.get_run("kept") is not None
    finally:
        again.close()


def test_a_database_at_an_unknown_revision_is_refused(url: str) -> None:
    store = open_run_store(url)
    assert isinstance(store, SqlRunStore)
    with store.engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_from_the_future'"))
    store.close()
    with pytest.raises(SchemaVersionError) as raised:
        open_run_store(url)
    assert (raised.value.found, raised.value.expected) == ("9999_from_the_future", head_revision())
