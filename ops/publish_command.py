"""`babelq publish FILE.jsonl`: chat messages from a file onto the queues (through the broker or
an API), with a journal to resume from and, with --wait, the answers as JSONL. ops/cli.py adds
it to the root app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ops.common_commands import command_settings

publish_app = typer.Typer()


@publish_app.command()
def publish(
    file: Annotated[
        Path, typer.Argument(help="JSONL: one {text, conversation_id?, channel?, language?} a line.")
    ],
    wait: Annotated[bool, typer.Option(help="Wait for every answer.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write results as JSONL here (default stdout).")] = None,
    api_url: Annotated[str, typer.Option(help="Publish through this API instead of the broker.")] = "",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all answers.")] = 300.0,
    journal: Annotated[
        Path | None, typer.Option(help="Where each accepted line is recorded (default FILE.published).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Skip the lines the journal holds as published.")] = False,
    api_key: Annotated[
        str, typer.Option(envvar="BABELQ_API_KEY", help="A channel's key, for an API that requires one.")
    ] = "",
) -> None:
    """Publish chat messages from a JSONL file; with --wait, write the answers as JSONL."""
    from producers.publish import journaled, publish_file, read_messages
    from producers.stack import publish_gateway

    settings = command_settings()
    lines = read_messages(file, settings.max_text_chars)  # the whole file, before publishing any
    journal = journal or file.with_name(file.name + ".published")
    if resume:
        done = journaled(journal)
        lines = [line for line in lines if line.key not in done]
        typer.echo(f"resuming: {len(done)} line(s) already published, {len(lines)} to go", err=True)
    with publish_gateway(settings, api_url, api_key or None) as gateway:
        code = publish_file(gateway, lines, wait=wait, out=out, timeout_s=timeout, journal=journal)
    raise typer.Exit(code)
