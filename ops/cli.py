"""The `babelq` command line, assembled: the root app, its top-level commands and its sub-apps.

Each command lives in the module of its group (ops/*_command.py for a sub-app or one command,
ops/*_commands.py for a group of top-level commands); what a command opens (settings, broker,
Celery app, stack, store) comes from ops/common_commands.py. Modules import their heavy parts
inside the commands, so that `babelq --help` and a liveness check start quickly."""

from __future__ import annotations

import sys

import typer

from core.errors import BabelqError
from ops.bench_commands import bench_app
from ops.db_command import db_app
from ops.dead_command import dead_app
from ops.export_command import export_app
from ops.fleet_commands import fleet_app
from ops.keys_command import keys_app
from ops.model_command import model_app
from ops.publish_command import publish_app
from ops.queues_command import queues_app
from ops.routes_command import routes_app
from ops.serve_commands import serve_app

app = typer.Typer(
    help="babelq: multilingual customer-service chat over a queue of GPU workers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Top-level commands: each group's own Typer, merged into the root (added without a name).
app.add_typer(serve_app)  # run, api, worker, deliver, worker-alive, flower
app.add_typer(publish_app)  # publish
app.add_typer(fleet_app)  # status, top, scale, plan, compose-gpus
app.add_typer(bench_app)  # bench, tune, batch-policy, faults

# Sub-apps: `babelq NAME COMMAND`.
app.add_typer(model_app, name="model")
app.add_typer(db_app, name="db")
app.add_typer(routes_app, name="routes")
app.add_typer(export_app, name="export")
app.add_typer(queues_app, name="queues")
app.add_typer(dead_app, name="dead")
app.add_typer(keys_app, name="keys")


def main() -> None:
    """Entry point: BabelqErrors become one clear line and exit code 2, not a traceback."""
    try:
        app()
    except BabelqError as exc:
        typer.echo(f"babelq: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
