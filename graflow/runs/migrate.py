"""Schema migrations of the SQL run stores, applied when a store opens.

The Alembic scripts ship in ``graflow/runs/migrations``. Opening a database reads its revision from
``graflow_runs_version`` first: at the newest revision nothing else happens; behind it, Alembic upgrades it (inside
one transaction that holds the database's write lock on SQLite, or an advisory lock on PostgreSQL, so processes
opening a new database at once migrate it once); at a revision this version does not know, opening fails.

Alembic is imported only to migrate: the revisions this version ships are read from the scripts' ``revision`` and
``down_revision`` lines, and the database's from its version table, so opening an up-to-date store (every
``graflow`` command does) does not pay for importing Alembic.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from graflow.runs.errors import SchemaVersionError
from graflow.runs.schema import VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|None)\s*$", re.MULTILINE)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration for the run store's scripts, running on ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _revisions() -> dict[str, str | None]:
    """``{revision: down_revision}`` of every script in ``migrations/versions``."""
    found: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        values: dict[str, str | None] = {}
        for match in _REVISION_LINE.finditer(path.read_text(encoding="utf-8")):
            values[match.group(1)] = match.group(2) or match.group(3)
        if values.get("revision"):
            found[str(values["revision"])] = values.get("down_revision")
    return found


@functools.cache
def head_revision() -> str:
    """The newest revision this version of Graflow ships."""
    revisions = _revisions()
    heads = set(revisions) - {down for down in revisions.values() if down}
    assert len(heads) == 1, f"the run store's migrations must have one head, not {sorted(heads)}"
    return heads.pop()


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision this version ships."""
    return frozenset(_revisions())


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at (None: the run store was never created in it)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return str(rows[0]) if rows else None


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
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "ensure_schema", "head_revision"]
