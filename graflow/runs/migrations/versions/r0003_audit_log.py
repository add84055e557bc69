"""The API's audit log: one row per mutating call (who, what, when).

Revision ID: 0003
Revises: 0002
Create Date: 2025-02-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "graflow_audit_log",
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
    )
    op.create_index("ix_graflow_audit_log_at", "graflow_audit_log", ["at", "entry_id"])
    op.create_index("ix_graflow_audit_log_idempotency", "graflow_audit_log", ["idempotency_key"])


def downgrade() -> None:
    op.drop_table("graflow_audit_log")
