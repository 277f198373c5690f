"""Who may do what. The visitor a conversation belongs to, when a visitor session (the web page)
made it: that session alone of its channel's visitors may post into it and read it. And each API
key's scope (channel, agent or admin) with an agent's name; every existing key stays a channel
key.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("visitor", sa.String(64), nullable=True))
    op.add_column("api_keys", sa.Column("scope", sa.String(16), nullable=False, server_default="channel"))
    op.add_column("api_keys", sa.Column("name", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "name")
    op.drop_column("api_keys", "scope")
    op.drop_column("conversations", "visitor")
