"""Workers' heartbeats, so that the jobs of a dead worker are run again within a minute instead
of waiting for the broker's visibility timeout.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_jobs_status_worker", "jobs", ["status", "worker"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_worker", "jobs")
    op.drop_table("workers")
