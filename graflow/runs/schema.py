"""The run store's tables, as SQLAlchemy Core metadata. Alembic migrations in ``migrations/`` create them.

Indexes serve the reads the store makes: newest-first listings, alone or filtered by status or workflow (keyset
pagination on ``(created_at, run_id)``), a run's attempts, and retention by end time. Cancel requests
(``graflow cancel``) have a table of their own, so the recorder's writes of a run never overwrite one.
"""

from __future__ import annotations

import sqlalchemy as sa

#: Name of the table in which Alembic records the schema revision (not ``alembic_version``: a database may hold an
#: application's own migrations too).
VERSION_TABLE = "graflow_runs_version"

metadata = sa.MetaData()

runs = sa.Table(
    "graflow_runs",
    metadata,
    sa.Column("run_id", sa.String(), primary_key=True),
    sa.Column("workflow", sa.String(), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Column("started_at", sa.Double()),
    sa.Column("ended_at", sa.Double()),
    sa.Column("heartbeat_at", sa.Double()),
    sa.Column("expires_at", sa.Double()),
    sa.Column("worker_id", sa.String()),
    sa.Column("host", sa.String()),
    sa.Column("pid", sa.Integer()),
    sa.Column("parameters", sa.JSON(), nullable=False),
    sa.Column("result_preview", sa.Text()),
    sa.Column("error_type", sa.String()),
    sa.Column("error_message", sa.Text()),
    sa.Column("traceback", sa.Text()),
    sa.Column("checkpoints", sa.JSON(), nullable=False),
    sa.Column("feedback", sa.JSON(), nullable=False),
    sa.Column("history", sa.JSON(), nullable=False),
    sa.Column("spec", sa.Text()),
    sa.Column("retry_of", sa.String()),
    sa.Column("invocation", sa.JSON()),
    sa.Column("profile", sa.JSON()),
    sa.Index("ix_graflow_runs_created", "created_at", "run_id"),
    sa.Index("ix_graflow_runs_status_created", "status", "created_at", "run_id"),
    sa.Index("ix_graflow_runs_workflow_created", "workflow", "created_at", "run_id"),
    sa.Index("ix_graflow_runs_ended", "ended_at"),
)

attempts = sa.Table(
    "graflow_task_attempts",
    metadata,
    sa.Column("attempt_id", sa.String(), primary_key=True),
    sa.Column("run_id", sa.String(), nullable=False),
    sa.Column("task_id", sa.String(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.Double(), nullable=False),
    sa.Column("ended_at", sa.Double()),
    sa.Column("duration", sa.Double()),
    sa.Column("worker_id", sa.String()),
    sa.Column("error_type", sa.String()),
    sa.Column("error_message", sa.Text()),
    sa.Column("traceback", sa.Text()),
    sa.Column("result_preview", sa.Text()),
    sa.Column("retry_delay", sa.Double()),
    sa.Index("ix_graflow_task_attempts_run", "run_id", "started_at"),
)

cancel_requests = sa.Table(
    "graflow_cancel_requests",
    metadata,
    sa.Column("run_id", sa.String(), primary_key=True),
    sa.Column("requested_at", sa.Double(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
)

#: The API's audit log (:mod:`graflow.runs.audit`): newest-first listings, lookups by idempotency key.
audit_log = sa.Table(
    "graflow_audit_log",
    metadata,
    sa.Column("entry_id", sa.String(), primary_key=True),
    sa.Column("at", sa.Double(), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("token_fingerprint", sa.String(32)),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String()),
    sa.Column("status_code", sa.Integer(), nullable=False),
    sa.Column("idempotency_key", sa.String()),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Index("ix_graflow_audit_log_at", "at", "entry_id"),
    sa.Index("ix_graflow_audit_log_idempotency", "idempotency_key"),
)

__all__ = ["VERSION_TABLE", "attempts", "audit_log", "cancel_requests", "metadata", "runs"]
