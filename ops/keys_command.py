"""`babelq keys`: the API keys of channels, agents and admins (stored hashed; a key is shown once)."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer

from core.errors import BabelqError
from ops.common_commands import open_store

keys_app = typer.Typer(help="Channels' API keys (stored hashed; a key is shown once).", no_args_is_help=True)


class KeyScope(StrEnum):
    """Who a key speaks for (a visitor holds a session the API issues, never a key)."""

    CHANNEL = "channel"
    AGENT = "agent"
    ADMIN = "admin"


@keys_app.command("create")
def create(
    channel: Annotated[str, typer.Option(help="The channel it serves ('*' for an admin key).")],
    scope: Annotated[
        KeyScope, typer.Option(help="channel (an integration), agent (answers handed jobs) or admin.")
    ] = KeyScope.CHANNEL,
    name: Annotated[str | None, typer.Option(help="An agent's name, shown on its answers.")] = None,
) -> None:
    """Make an API key and print it (the only time it is shown)."""
    from persistence import api_keys

    with open_store() as factory:  # a bad channel or name: InvalidInput, before anything is stored
        key = api_keys.create(factory, channel, scope.value, name)
    typer.echo(key)
    typer.echo(f"keep it now (only its hash is kept); send 'Authorization: Bearer {key[:15]}…'", err=True)


@keys_app.command("list")
def list_keys(channel: Annotated[str | None, typer.Option(help="Only this channel's keys.")] = None) -> None:
    """Every key (id, channel, made, revoked, last used) as JSON lines; never a secret."""
    from persistence import api_keys

    with open_store() as factory:
        keys = api_keys.list_keys(factory, channel)
    for info in keys:
        typer.echo(json.dumps({name: _iso(value) for name, value in info.__dict__.items()}))


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (or the whole key).")]) -> None:
    """Revoke a key: its requests get 401 from now on."""
    from persistence import api_keys

    with open_store() as factory:
        revoked = api_keys.revoke(factory, key_id)
    if not revoked:
        raise BabelqError(f"no live key {key_id!r} (see `babelq keys list`)")
    typer.echo(f"revoked {key_id}")


def _iso(value: object) -> object:
    """Dates as ISO 8601 text, since JSON has no date type."""
    return value.isoformat() if isinstance(value, datetime) else value
