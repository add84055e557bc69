"""The run store: a record of every workflow run and task attempt, kept in SQLite, PostgreSQL or memory.

Recording is opt-in: ``workflow(name, run_store="sqlite:///runs.db")`` or ``GRAFLOW_RUN_STORE`` adds a
:class:`RunRecorder` hook to the workflow's runs. Reading goes through a :class:`RunStore`::

    from graflow.runs import open_run_store

    with open_run_store("sqlite:///runs.db") as store:
        page = store.list_runs(status="failed", limit=20)
        for run in page.runs:
            print(run.run_id, run.workflow, run.status, run.error_message)
        tasks = store.list_tasks(page.runs[0].run_id)

See ``docs/runs.md``. The SQL stores need ``pip install 'graflow[runs]'``; this package imports SQLAlchemy only
when one is opened.
"""

from __future__ import annotations

from graflow.runs.audit import AuditEntry, AuditPage
from graflow.runs.base import RunStore
from graflow.runs.errors import RunStoreClosedError, RunStoreError, SchemaVersionError
from graflow.runs.factory import close_recorders, memory_store, open_run_store, recorder_for
from graflow.runs.memory import MemoryRunStore
from graflow.runs.models import (
    ATTEMPT_STATUSES,
    FINAL_RUN_STATUSES,
    RUN_STATUSES,
    CancelRequest,
    RunPage,
    RunRecord,
    TaskAttempt,
    WriteBatch,
    age_seconds,
    effective_status,
)
from graflow.runs.profiling import TaskProfiler
from graflow.runs.recorder import RunRecorder
from graflow.runs.settings import default_store_url

__all__ = [
    "ATTEMPT_STATUSES",
    "AuditEntry",
    "AuditPage",
    "FINAL_RUN_STATUSES",
    "RUN_STATUSES",
    "CancelRequest",
    "MemoryRunStore",
    "RunPage",
    "RunRecord",
    "RunRecorder",
    "RunStore",
    "RunStoreClosedError",
    "RunStoreError",
    "SchemaVersionError",
    "TaskAttempt",
    "TaskProfiler",
    "WriteBatch",
    "age_seconds",
    "close_recorders",
    "default_store_url",
    "effective_status",
    "memory_store",
    "open_run_store",
    "recorder_for",
]
