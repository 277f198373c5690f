"""Alembic environment: runs migrations on the URL that persistence.migrate passes in."""

from __future__ import annotations

from alembic import context

from persistence.db import make_engine
from persistence.models import Base

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
