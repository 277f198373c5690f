"""`babelq export`: stored data as JSON, for a customer's request or a migration."""

from __future__ import annotations

import json

import typer

from core.errors import BabelqError
from ops.common_commands import open_store

export_app = typer.Typer(help="Export stored data as JSON.", no_args_is_help=True)


@export_app.command("conversation")
def conversation(conversation_id: str) -> None:
    """Print one conversation (turns and jobs) as JSON."""
    from core.jobs import canonical_uuid
    from persistence.retention import export_conversation

    with open_store() as factory:
        data = export_conversation(factory, canonical_uuid(conversation_id))
    if data is None:
        raise BabelqError(f"no conversation {conversation_id}")
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
