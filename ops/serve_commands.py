"""The `babelq` commands that start a long-running process: `run` (the embedded stack), `api`,
`worker`, `deliver`, `worker-alive` (a container's liveness check of its worker) and `flower`.
ops/cli.py adds them to the root app."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated

import typer

from ops.common_commands import broker_settings, command_settings, open_store
from ops.logs import uvicorn_log_config

serve_app = typer.Typer()


@serve_app.command()
def run() -> None:
    """Start the embedded single-machine stack: API + worker in one process, no services needed."""
    from ops.embedded import run_embedded
    from ops.model_command import ensure_model

    settings = command_settings()
    ensure_model(settings)
    raise typer.Exit(run_embedded(settings))


@serve_app.command()
def api(
    access_log: Annotated[
        bool, typer.Option(help="Log every request (a line per request costs CPU under load).")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="API processes sharing the port.")] = 1,
) -> None:
    """Serve the HTTP API on BABELQ_API_HOST:BABELQ_API_PORT (needs a real broker)."""
    import uvicorn

    from routing.table import load_table

    settings = broker_settings("api")
    load_table(settings.routes_file)  # a broken table is one clear line here, not a worker's traceback
    if workers > 1:  # the processes' counters add up on /metrics, whichever one is scraped
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="babelq-metrics-")
    # Each process builds its own stack from the environment (ops.api_process), after it starts.
    uvicorn.run(
        "ops.api_process:create_api",
        factory=True,
        workers=workers,
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        access_log=access_log,
        log_config=uvicorn_log_config(settings.log_format),
        **settings.proxy_options,  # type: ignore[arg-type]
    )


@serve_app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues (default: every queue).")] = "",
    gpus: Annotated[
        str, typer.Option(help="none (CPU), all, or GPU indexes like 0,1: one process each.")
    ] = "none",
    profile: Annotated[str, typer.Option(help="Serve every queue of this routing-table profile.")] = "",
    pinned_gpu: Annotated[int | None, typer.Option(hidden=True, help="Set by --gpus for each child.")] = None,
) -> None:
    """Run workers that answer jobs from the given queues (needs a real broker)."""

    from routing.table import load_table
    from workers.gpus import GpuFleet, select_gpus, visible_gpu_count
    from workers.launcher import WorkerOptions, run_worker

    settings = broker_settings("worker")
    table = load_table(settings.routes_file)
    selected = [q.strip() for q in queues.split(",") if q.strip()] or table.queues_of_profile(profile)
    if pinned_gpu is not None:
        pinned = WorkerOptions(
            selected, name=f"gpu{pinned_gpu}", exact_name=True, metrics_port_offset=pinned_gpu
        )
        raise typer.Exit(run_worker(settings, table, pinned))
    chosen = select_gpus(gpus, visible_gpu_count() if gpus.strip().lower() != "none" else 0)
    if chosen is None:
        raise typer.Exit(run_worker(settings, table, WorkerOptions(selected)))
    raise typer.Exit(GpuFleet(chosen, selected, os.environ).run())


@serve_app.command()
def deliver(
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Pushes in flight at once.")] = 8,
) -> None:
    """Push answers to the channels that ask for them (BABELQ_CHANNELS_FILE `delivery`): serves
    the chat.deliveries queue, retrying with backoff; given-up pushes go to the dead letters."""
    from ops.deliverer import run_deliverer
    from workers.launcher import node_name

    raise typer.Exit(run_deliverer(command_settings(), concurrency, node_name("deliver")))


@serve_app.command("worker-alive")
def worker_alive() -> None:
    """Exit 0 when a worker on this host beat within BABELQ_WORKER_DEAD_AFTER_S, else 1: a
    container's or pod's liveness check of its worker."""
    import socket
    from datetime import timedelta

    from persistence.liveness import beating_on

    settings = command_settings()
    with open_store(settings) as factory:
        alive = beating_on(factory, socket.gethostname(), timedelta(seconds=settings.worker_dead_after_s))
    typer.echo(", ".join(alive) or "no worker of this host beat lately")
    raise typer.Exit(0 if alive else 1)


@serve_app.command()
def flower() -> None:
    """Run Flower on the same Celery app and broker (basic auth from BABELQ_FLOWER_BASIC_AUTH)."""
    from routing.table import load_table
    from transport.celery_app import create_celery_app
    from transport.queue_depth import management_api

    settings = broker_settings("flower")
    celery = create_celery_app(settings, load_table(settings.routes_file))
    argv = ["flower", f"--port={settings.flower_port}"]
    if settings.broker_url.startswith(("amqp", "pyamqp")):
        # RabbitMQ's queue lengths reach Flower's Broker tab only through the management API
        argv.append(f"--broker-api={management_api(settings)}/api/")
    if settings.flower_basic_auth:
        argv.append(f"--basic-auth={settings.flower_basic_auth}")
    celery.start(argv=argv)
