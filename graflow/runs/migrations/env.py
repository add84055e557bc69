"""Alembic environment of the run store: runs on the connection that ``graflow.runs.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from graflow.runs.schema import VERSION_TABLE, metadata

#: Key of a PostgreSQL advisory lock held while migrating, so two processes opening a new database do not race.
PG_MIGRATION_LOCK = 0x6772_666C_7275_6E73  # "grflruns"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
    context.run_migrations()
