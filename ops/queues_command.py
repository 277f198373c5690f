"""`babelq queues`: the broker's queues, declared with the arguments babelq's workers expect."""

from __future__ import annotations

from typing import Annotated

import typer

from ops.common_commands import celery_app_for

queues_app = typer.Typer(help="The broker's queues.", no_args_is_help=True)


@queues_app.command("declare")
def declare(
    recreate_empty: Annotated[
        bool, typer.Option(help="Delete and declare anew an empty queue RabbitMQ holds with other arguments.")
    ] = False,
) -> None:
    """Declare every queue of the routing table (and the dead-letter queue) with babelq's arguments."""
    from transport.queues import declare_queues

    for line in declare_queues(celery_app_for("queues declare"), recreate_empty):
        typer.echo(line)
