"""Fields of runs started from the command line, and cancel requests.

``spec``, ``retry_of``, ``invocation`` and ``profile`` on runs (``graflow run``, ``retry``, ``run --profile``);
the table ``graflow_cancel_requests`` (``graflow cancel``).

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("graflow_runs") as batch:
        batch.add_column(sa.Column("spec", sa.Text()))
        batch.add_column(sa.Column("retry_of", sa.String()))
        batch.add_column(sa.Column("invocation", sa.JSON()))
        batch.add_column(sa.Column("profile", sa.JSON()))
    op.create_table(
        "graflow_cancel_requests",
        sa.Column("run_id", sa.String(), primary_key=True),
        sa.Column("requested_at", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("graflow_cancel_requests")
    with op.batch_alter_table("graflow_runs") as batch:
        batch.drop_column("profile")
        batch.drop_column("invocation")
        batch.drop_column("retry_of")
        batch.drop_column("spec")
