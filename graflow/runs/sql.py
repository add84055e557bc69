"""``SqlRunStore``: the run store on SQLite (embedded default) or PostgreSQL, through SQLAlchemy Core.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with ``BEGIN IMMEDIATE``: several
local processes (a recording run, a worker, the CLI) can write at once, each waiting its turn instead of failing on
a lock upgrade. Reads never block writers.
"""

from __future__ import annotations

import contextlib
import operator
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from graflow.runs import settings
from graflow.runs.audit import AuditEntry, AuditPage, audit_page
from graflow.runs.base import ATTEMPT_FIELDS, RUN_FIELDS, RunStore, check_changes, run_changes
from graflow.runs.errors import RunStoreClosedError, RunStoreError
from graflow.runs.migrate import ensure_schema
from graflow.runs.models import (
    CancelRequest,
    RunPage,
    RunRecord,
    TaskAttempt,
    WriteBatch,
    age_seconds,
    check_limit,
    decode_cursor,
    page_of,
    shown,
    statuses_of,
)
from graflow.runs.schema import attempts, audit_log, cancel_requests, runs

#: Seconds a SQLite writer waits for another process's write to finish before giving up.
SQLITE_BUSY_TIMEOUT = 30.0
_WRITE = {"graflow_write": True}
_RUN_COLUMNS = [c.name for c in runs.columns]
_ATTEMPT_COLUMNS = [c.name for c in attempts.columns]
_attempt_row = operator.attrgetter(*_ATTEMPT_COLUMNS)
_live: weakref.WeakSet[SqlRunStore] = weakref.WeakSet()


class SqlRunStore(RunStore):
    """A run store in a SQL database; the schema is created or upgraded when the store opens.

    Args:
        url: A SQLAlchemy URL: ``sqlite:///path/runs.db``, ``sqlite://`` (in memory), or ``postgresql://...``
            (driven by psycopg 3). For PostgreSQL, ``?options=-csearch_path%3Dmyschema`` keeps the tables in a
            schema of their own.
        **engine_options: More arguments of ``sqlalchemy.create_engine``.

    Raises:
        RunStoreError: The database cannot be reached or migrated.
    """

    def __init__(self, url: str | sa.URL, **engine_options: Any) -> None:
        self.url = sa.make_url(url)
        if self.url.drivername in ("postgresql", "postgres"):  # psycopg 3, not SQLAlchemy's default psycopg2
            self.url = self.url.set(drivername="postgresql+psycopg")
        self.dialect = self.url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise RunStoreError(f"The run store supports SQLite and PostgreSQL, not {self.dialect!r}")
        self._closed = False
        # An in-memory SQLite database lives in one connection, which the threads of this process take in turn.
        in_memory = self.dialect == "sqlite" and self.url.database in (None, "", ":memory:")
        self._serial: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if in_memory else contextlib.nullcontext()
        )
        with _errors("open the run store"):
            self.engine = _create_engine(self.url, engine_options)
            self.migrated = ensure_schema(self.engine, **_WRITE)
        self._insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        self._attempt_upsert = _upsert_sql(attempts.name, _ATTEMPT_COLUMNS, "attempt_id",
                                           "?" if self.dialect == "sqlite" else "%s")
        _live.add(self)

    # -- connections ------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sa.Connection]:
        if self._closed:
            raise RunStoreClosedError()
        with self._serial, _errors(action), self.engine.connect() as connection:
            connection.execution_options(**_WRITE)
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def _read(self, action: str) -> Iterator[sa.Connection]:
        if self._closed:
            raise RunStoreClosedError()
        with self._serial, _errors(action), self.engine.connect() as connection:
            yield connection

    # -- writes -----------------------------------------------------------------------------------------------------
    def create_run(self, run: RunRecord) -> None:
        with self._write("record a run") as connection:
            self._upsert_runs(connection, [run])

    def _upsert_runs(self, connection: sa.Connection, records: list[RunRecord]) -> None:
        stmt = self._insert(runs)
        replaced = {name: stmt.excluded[name] for name in _RUN_COLUMNS if name not in ("run_id", "created_at")}
        connection.execute(stmt.on_conflict_do_update(index_elements=["run_id"], set_=replaced),
                           [vars(run).copy() for run in records])

    def _upsert_attempts(self, connection: sa.Connection, records: list[TaskAttempt]) -> None:
        # The bulk of what the recorder writes: handed to the driver's executemany as plain tuples, which costs a
        # fraction of building a parameter dictionary per row (no attempt column needs a type conversion).
        connection.exec_driver_sql(self._attempt_upsert, [_attempt_row(attempt) for attempt in records])

    def update_run(self, run_id: str, **changes: Any) -> bool:
        check_changes(changes, RUN_FIELDS, "run")
        with self._write("update a run") as connection:
            row = connection.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().first()
            if row is None:
                return False
            values = run_changes(_run(row), changes, time.time())
            connection.execute(runs.update().where(runs.c.run_id == run_id).values(**values))
            return True

    def add_task_attempt(self, attempt: TaskAttempt) -> None:
        with self._write("record a task attempt") as connection:
            self._upsert_attempts(connection, [attempt])

    def update_task_attempt(self, attempt_id: str, **changes: Any) -> bool:
        check_changes(changes, ATTEMPT_FIELDS, "task attempt")
        with self._write("update a task attempt") as connection:
            result = connection.execute(attempts.update().where(attempts.c.attempt_id == attempt_id).values(**changes))
            return bool(result.rowcount)

    def apply(self, batch: WriteBatch) -> None:
        if not len(batch):
            return
        with self._write("record runs") as connection:
            if batch.runs:
                self._upsert_runs(connection, batch.runs)
            if batch.attempts:
                self._upsert_attempts(connection, batch.attempts)
            for run_id, at, expires in batch.heartbeats:
                self._beat_on(connection, run_id, at, expires)

    def _beat(self, run_id: str, at: float, expires: float) -> bool:
        with self._write("write a heartbeat") as connection:
            return self._beat_on(connection, run_id, at, expires)

    @staticmethod
    def _beat_on(connection: sa.Connection, run_id: str, at: float, expires: float) -> bool:
        result = connection.execute(
            runs.update()
            .where(runs.c.run_id == run_id, runs.c.status.in_(("running", "crashed")))
            .values(status="running", heartbeat_at=at, expires_at=expires, updated_at=at)
        )
        return bool(result.rowcount)

    # -- reads ------------------------------------------------------------------------------------------------------
    def get_run(self, run_id: str, *, now: float | None = None) -> RunRecord | None:
        with self._read("read a run") as connection:
            row = connection.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().first()
        return None if row is None else shown(_run(row), now)

    def list_runs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        workflow: str | None = None,
        limit: int = settings.DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        now: float | None = None,
    ) -> RunPage:
        wanted = statuses_of(status)
        check_limit(limit)
        at = time.time() if now is None else now
        common: list[sa.ColumnElement[bool]] = []
        if workflow is not None:
            common.append(runs.c.workflow == workflow)
        if cursor is not None:
            created, run_id = decode_cursor(cursor)
            # The first term is a plain range on the index; the second breaks ties on created_at.
            common.append(sa.and_(runs.c.created_at <= created,
                                  sa.or_(runs.c.created_at < created, runs.c.run_id < run_id)))
        # One query per status (each walks its own index range newest first), merged here: cheap for rare and
        # common statuses alike, where one query with IN (...) would make the planner scan the whole time index.
        filters = [[]] if wanted is None else [f for s in wanted for f in _status_filters(s, at)]
        found: dict[str, RunRecord] = {}
        with self._read("list runs") as connection:
            for extra in filters:
                query = (sa.select(runs).where(*common, *extra)
                         .order_by(runs.c.created_at.desc(), runs.c.run_id.desc()).limit(limit + 1))
                for row in connection.execute(query).mappings():
                    found.setdefault(row["run_id"], _run(row))
        ordered = sorted(found.values(), key=lambda run: (run.created_at, run.run_id), reverse=True)
        return page_of([shown(run, at) for run in ordered[: limit + 1]], limit)

    def list_tasks(self, run_id: str) -> list[TaskAttempt]:
        query = (sa.select(attempts).where(attempts.c.run_id == run_id)
                 .order_by(attempts.c.started_at, attempts.c.attempt_id))
        with self._read("list task attempts") as connection:
            return [TaskAttempt(**row) for row in connection.execute(query).mappings()]

    def find_run_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        # A range on the primary key (LIKE would not use the index on SQLite, and would need escaping).
        query = (sa.select(runs.c.run_id).where(runs.c.run_id >= prefix, runs.c.run_id < prefix + "\U0010ffff")
                 .order_by(runs.c.run_id).limit(check_limit(limit)))
        with self._read("find runs") as connection:
            return [str(run_id) for run_id in connection.execute(query).scalars()]

    # -- stopping runs from elsewhere -------------------------------------------------------------------------------
    def request_cancel(self, run_id: str, reason: str, *, now: float | None = None) -> None:
        at = time.time() if now is None else now
        stmt = self._insert(cancel_requests).values(run_id=run_id, requested_at=at, reason=reason)
        stmt = stmt.on_conflict_do_update(index_elements=["run_id"], set_={"requested_at": at, "reason": reason})
        with self._write("request a cancel") as connection:
            connection.execute(stmt)

    def cancel_requests(self, run_ids: Iterable[str]) -> dict[str, CancelRequest]:
        wanted = list(run_ids)
        if not wanted:
            return {}
        query = sa.select(cancel_requests).where(cancel_requests.c.run_id.in_(wanted))
        with self._read("read cancel requests") as connection:
            return {row.run_id: CancelRequest(row.run_id, row.requested_at, row.reason)
                    for row in connection.execute(query)}

    # -- the API's audit log ---------------------------------------------------------------------------------------
    def add_audit_entry(self, entry: AuditEntry) -> None:
        with self._write("record an audit entry") as connection:
            connection.execute(audit_log.insert().values(**vars(entry)))

    def list_audit(
        self,
        *,
        limit: int = settings.DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        idempotency_key: str | None = None,
    ) -> AuditPage:
        check_limit(limit)
        query = sa.select(audit_log)
        for column, value in ((audit_log.c.action, action), (audit_log.c.target, target),
                              (audit_log.c.idempotency_key, idempotency_key)):
            if value is not None:
                query = query.where(column == value)
        if cursor is not None:
            at, entry_id = decode_cursor(cursor)
            query = query.where(audit_log.c.at <= at,
                                sa.or_(audit_log.c.at < at, audit_log.c.entry_id < entry_id))
        query = query.order_by(audit_log.c.at.desc(), audit_log.c.entry_id.desc()).limit(limit + 1)
        with self._read("list the audit log") as connection:
            entries = [AuditEntry(**row) for row in connection.execute(query).mappings()]
        return audit_page(entries, limit)

    # -- maintenance ------------------------------------------------------------------------------------------------
    def mark_crashed(self, older_than: timedelta | float | None = None, *, now: float | None = None) -> int:
        at = time.time() if now is None else now
        running = runs.c.status == "running"
        if older_than is None:
            dead = sa.and_(running, runs.c.expires_at < at)
        else:
            alive = sa.func.coalesce(runs.c.heartbeat_at, runs.c.started_at, runs.c.created_at)
            dead = sa.and_(running, alive < at - age_seconds(older_than))
        with self._write("mark crashed runs") as connection:
            rows = connection.execute(sa.select(runs).where(dead)).mappings().all()
            for row in rows:
                run = _run(row)
                run.ended_at = run.heartbeat_at or at
                run.expires_at = None
                run.transition("crashed", at)
                connection.execute(runs.update().where(runs.c.run_id == run.run_id, running).values(
                    status=run.status, ended_at=run.ended_at, expires_at=None, updated_at=at, history=run.history))
        return len(rows)

    def prune(self, older_than: timedelta | float | str, *, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - age_seconds(older_than)
        doomed = sa.or_(
            sa.and_(runs.c.status == "running", runs.c.expires_at < cutoff),
            sa.and_(runs.c.status != "running", sa.func.coalesce(runs.c.ended_at, runs.c.updated_at) < cutoff),
        )
        orphan = sa.and_(
            attempts.c.run_id.not_in(sa.select(runs.c.run_id)),
            sa.func.coalesce(attempts.c.ended_at, attempts.c.started_at) < cutoff,
        )
        with self._write("prune runs") as connection:
            connection.execute(attempts.delete().where(attempts.c.run_id.in_(sa.select(runs.c.run_id).where(doomed))))
            connection.execute(cancel_requests.delete().where(
                cancel_requests.c.run_id.in_(sa.select(runs.c.run_id).where(doomed))))
            deleted = connection.execute(runs.delete().where(doomed)).rowcount
            connection.execute(attempts.delete().where(orphan))
        return int(deleted)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.engine.dispose()
            _live.discard(self)

    def __repr__(self) -> str:
        return f"SqlRunStore({self.url.render_as_string(hide_password=True)!r})"


def _upsert_sql(table: str, columns: list[str], key: str, mark: str) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE``: the same text on SQLite and PostgreSQL but for the marks."""
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name != key)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(mark for _ in columns)}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}")


def _status_filters(status: str, at: float) -> list[list[sa.ColumnElement[bool]]]:
    """The WHERE clauses (one list per query) of runs a reader at ``at`` sees in ``status``."""
    if status == "running":
        return [[runs.c.status == "running", sa.or_(runs.c.expires_at.is_(None), runs.c.expires_at >= at)]]
    if status == "crashed":
        return [[runs.c.status == "crashed"], [runs.c.status == "running", runs.c.expires_at < at]]
    return [[runs.c.status == status]]


def _run(row: Any) -> RunRecord:
    values = dict(row)
    for name, empty in (("parameters", {}), ("checkpoints", []), ("feedback", []), ("history", []),
                        ("invocation", {}), ("profile", [])):
        if values.get(name) is None:
            values[name] = type(empty)()
    return RunRecord(**values)


@contextlib.contextmanager
def _errors(action: str) -> Iterator[None]:
    """Turn SQLAlchemy's errors into RunStoreError."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        raise RunStoreError(f"Could not {action}: {type(exc).__name__}: {exc}", cause=exc) from exc


def _create_engine(url: sa.URL, options: dict[str, Any]) -> sa.Engine:
    if url.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True, **options)
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        options = {"poolclass": StaticPool, **options}
    else:
        os.makedirs(os.path.dirname(os.path.abspath(url.database or "")), exist_ok=True)
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT, **options.pop("connect_args", {})}
    engine = sa.create_engine(url, connect_args=connect_args, **options)
    _configure_sqlite(engine, wal=not in_memory)
    return engine


def _configure_sqlite(engine: sa.Engine, *, wal: bool) -> None:
    """WAL, a busy timeout, and transactions the store begins itself (``BEGIN IMMEDIATE`` for writes)."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not begin transactions on its own
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get("graflow_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _after_fork_in_child() -> None:
    # Pooled connections belong to the parent: the child opens its own instead of sharing a socket or file handle.
    for store in list(_live):
        store.engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["SQLITE_BUSY_TIMEOUT", "SqlRunStore"]
