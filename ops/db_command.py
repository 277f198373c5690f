"""`babelq db`: the store's schema (Alembic migrations up and down) and its retention purge."""

from __future__ import annotations

from typing import Annotated

import typer

from ops.common_commands import command_settings, open_store

db_app = typer.Typer(help="The store (SQLite or PostgreSQL).", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the Alembic migrations to BABELQ_DATABASE_URL (SQLite under var/ by default)."""
    from persistence.migrate import upgrade as migrate_up

    migrate_up(command_settings().store_url, revision)
    typer.echo(f"store at revision {revision}")


@db_app.command("purge")
def purge(
    older_than: Annotated[str, typer.Option(help="Age of the last activity: 30d, 12h, 2w …")],
    yes: Annotated[bool, typer.Option("--yes", help="Delete. Without it, only count (dry run).")] = False,
) -> None:
    """Remove conversations inactive for longer than --older-than, with their turns and jobs."""
    from persistence.retention import parse_age
    from persistence.retention import purge as purge_inactive

    age = parse_age(older_than)  # a bad age is refused before the store is opened
    with open_store() as factory:
        counts = purge_inactive(factory, age, dry_run=not yes)
    verb = "removed" if yes else "would remove"
    note = "" if yes else " (dry run: add --yes to delete)"
    what = f"{counts.conversations} conversations, {counts.messages} turns, {counts.jobs} jobs"
    typer.echo(f"{verb} {what} inactive for more than {older_than}{note}")


@db_app.command("downgrade")
def downgrade(revision: str) -> None:
    """Revert the store to an earlier Alembic revision ('base' removes every table)."""
    from persistence.migrate import downgrade as migrate_down

    migrate_down(command_settings().store_url, revision)
