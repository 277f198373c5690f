"""When a job was last handed to the broker (to re-publish jobs a broker lost).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True)))
    op.create_index("ix_jobs_status_published", "jobs", ["status", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_published", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("published_at")
