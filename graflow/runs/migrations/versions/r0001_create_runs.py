"""Create the runs and task attempts tables.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "graflow_runs",
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
    )
    op.create_index("ix_graflow_runs_created", "graflow_runs", ["created_at", "run_id"])
    op.create_index("ix_graflow_runs_status_created", "graflow_runs", ["status", "created_at", "run_id"])
    op.create_index("ix_graflow_runs_workflow_created", "graflow_runs", ["workflow", "created_at", "run_id"])
    op.create_index("ix_graflow_runs_ended", "graflow_runs", ["ended_at"])
    op.create_table(
        "graflow_task_attempts",
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
    )
    op.create_index("ix_graflow_task_attempts_run", "graflow_task_attempts", ["run_id", "started_at"])


def downgrade() -> None:
    op.drop_table("graflow_task_attempts")
    op.drop_table("graflow_runs")
