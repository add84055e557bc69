"""Schema migrations of the SQL run stores, applied when a store opens.

The Alembic scripts ship in ``graflow/runs/migrations``. Opening a database reads its revision from
``graflow_runs_version`` first: at the newest revision nothing else happens; behind it, Alembic upgrades it (inside
one transaction that holds the database's write lock on SQLite, or an advisory lock on PostgreSQL, so processes
opening a new database at once migrate it once); at a revision this version does not know, opening fails.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from graflow.runs.errors import SchemaVersionError
from graflow.runs.schema import VERSION_TABLE

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration for the run store's scripts, running on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this version of Graflow ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the run store ships no migration"
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision this version ships."""
    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at (None: the run store was never created in it)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def ensure_schema(engine: sa.Engine, **write_options: Any) -> bool:
    """Bring the run store's schema in ``engine``'s database to the newest revision.

    Args:
        engine: The database.
        **write_options: Execution options of a connection that writes (the SQLite store takes its write lock
            when its transaction begins).

    Returns:
        Whether a migration ran (False: the database was at the newest revision already).

    Raises:
        SchemaVersionError: The database is at a revision this version does not know.
    """
    with engine.connect() as connection:
        found = current_revision(connection)
        connection.rollback()
    head = head_revision()
    if found == head:
        return False
    if found is not None and found not in known_revisions():
        raise SchemaVersionError(found, head)
    with engine.connect() as connection:
        connection.execution_options(**write_options)
        upgrade(connection)
        connection.commit()
    return True


def upgrade(connection: sa.Connection) -> None:
    """Run Alembic's upgrade to the newest revision on ``connection``."""
    command.upgrade(alembic_config(connection), "head")


__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "ensure_schema", "head_revision"]
