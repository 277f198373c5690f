"""The `babelq` command line: thin commands over the parts, settings read once per command."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from core.errors import BabelqError
from core.settings import Settings, load_settings
from ops.logs import configure_logging, uvicorn_log_config
from ops.routes_command import routes_app

if TYPE_CHECKING:
    from ops.stack import Stack
    from persistence.db import SessionFactory

app = typer.Typer(
    help="babelq: multilingual customer-service chat over a queue of GPU workers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
model_app = typer.Typer(help="The model workers run.", no_args_is_help=True)
db_app = typer.Typer(help="The store (SQLite or PostgreSQL).", no_args_is_help=True)
app.add_typer(model_app, name="model")
app.add_typer(db_app, name="db")
app.add_typer(routes_app, name="routes")
export_app = typer.Typer(help="Export stored data as JSON.", no_args_is_help=True)
app.add_typer(export_app, name="export")
queues_app = typer.Typer(help="The broker's queues.", no_args_is_help=True)
app.add_typer(queues_app, name="queues")
dead_app = typer.Typer(
    help="The dead-letter queue: jobs no worker could bring to an end.", no_args_is_help=True
)
app.add_typer(dead_app, name="dead")
keys_app = typer.Typer(help="Channels' API keys (stored hashed; a key is shown once).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _settings() -> Settings:
    configure_logging()  # a bad setting is logged in the default format
    settings = load_settings()
    if settings.log_format != "text":
        configure_logging(settings.log_format)
    return settings


@app.command()
def run() -> None:
    """Start the embedded single-machine stack: API + worker in one process, no services needed."""
    from ops.embedded import run_embedded
    from ops.model_command import ensure_model

    settings = _settings()
    ensure_model(settings)
    raise typer.Exit(run_embedded(settings))


@app.command()
def api(
    access_log: Annotated[
        bool, typer.Option(help="Log every request (a line per request costs CPU under load).")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="API processes sharing the port.")] = 1,
) -> None:
    """Serve the HTTP API on BABELQ_API_HOST:BABELQ_API_PORT (needs a real broker)."""
    import uvicorn

    from routing.table import load_table

    settings = _settings()
    _require_real_broker(settings, "api")
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


@app.command()
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
    from workers.launcher import run_worker

    settings = _settings()
    _require_real_broker(settings, "worker")
    table = load_table(settings.routes_file)
    selected = [q.strip() for q in queues.split(",") if q.strip()] or table.queues_of_profile(profile)
    if pinned_gpu is not None:
        raise typer.Exit(
            run_worker(
                settings,
                table,
                selected or None,
                name=f"gpu{pinned_gpu}",
                exact_name=True,
                metrics_port_offset=pinned_gpu,
            )
        )
    chosen = select_gpus(gpus, visible_gpu_count() if gpus.strip().lower() != "none" else 0)
    if chosen is None:
        raise typer.Exit(run_worker(settings, table, selected or None))
    raise typer.Exit(GpuFleet(chosen, selected, os.environ).run())


@app.command()
def deliver(
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Pushes in flight at once.")] = 8,
) -> None:
    """Push answers to the channels that ask for them (BABELQ_CHANNELS_FILE `delivery`): serves
    the chat.deliveries queue, retrying with backoff; given-up pushes go to the dead letters."""
    from ops.deliverer import run_deliverer
    from workers.launcher import node_name

    raise typer.Exit(run_deliverer(_settings(), concurrency, node_name("deliver")))


@app.command()
def scale(
    prometheus: Annotated[
        str, typer.Option(help="Prometheus that scrapes the fleet.")
    ] = "http://127.0.0.1:9090",
    capacity: Annotated[float | None, typer.Option(min=0.001, help="Jobs/s one worker answers.")] = None,
    bench: Annotated[Path | None, typer.Option(help="…or read it from a `babelq bench` bench.json.")] = None,
    p99_ms: Annotated[float, typer.Option(help="The P99 the bench's capacity must meet.")] = 2000.0,
    min_workers: Annotated[int, typer.Option(min=1)] = 1,
    max_workers: Annotated[int, typer.Option(min=1)] = 16,
    apply_to: Annotated[str, typer.Option("--apply", help="compose or k8s: apply the decision.")] = "",
    name: Annotated[str, typer.Option(help="The compose service or k8s deployment.")] = "worker-cpu",
    compose_file: Annotated[Path, typer.Option(help="For --apply compose.")] = Path(
        "compose/docker-compose.yml"
    ),
    state: Annotated[Path, typer.Option(help="The last action (for cool-downs).")] = Path(
        "var/scale-state.json"
    ),
) -> None:
    """Decide whether the fleet needs more or fewer workers (80% load for 10 min: add; 22:00:
    release half) and print why; with --apply, do it."""
    from ops import scale_command
    from ops.capacity import bench_runs, capacity_jobs_s
    from ops.scaling import ScalingPolicy, ScalingRules

    if (capacity is None) == (bench is None):
        raise BabelqError("give one of --capacity and --bench")
    per_worker = capacity_jobs_s(bench_runs(bench), p99_ms) if bench is not None else float(capacity or 0)
    try:
        policy = ScalingPolicy(ScalingRules(min_workers=min_workers, max_workers=max_workers))
    except ValueError as exc:
        raise BabelqError(str(exc)) from exc
    decision = scale_command.decide(prometheus, per_worker, policy, state)
    typer.echo(scale_command.as_json(decision))
    if apply_to and decision.action != "hold":
        scale_command.apply(decision, apply_to, name, compose_file, state)


@app.command()
def plan(
    bench: Annotated[list[str], typer.Option(help="NAME=bench.json of a `babelq bench --sweep` (repeat).")],
    price: Annotated[list[str], typer.Option(help="NAME=USD per device-hour, one per --bench.")],
    daily: Annotated[float, typer.Option(min=0, help="Requests a day.")] = 1_000_000,
    shape: Annotated[
        Path | None, typer.Option(help="JSON list of 24 hourly weights (default: a service day).")
    ] = None,
    p99_ms: Annotated[float, typer.Option(help="The P99 each device's capacity must meet.")] = 2000.0,
    out: Annotated[Path, typer.Option(help="Where plan.json and plan.png go.")] = Path("plan-out"),
) -> None:
    """Devices needed at peak and the cost per QPS, from measured bench sweeps and a daily volume."""
    from ops.plan_command import devices, named, read_shape, run_plan

    kinds = devices(named(bench, "--bench"), named(price, "--price"), p99_ms)
    run_plan(kinds, daily, read_shape(shape), out)
    typer.echo(f"wrote {out / 'plan.json'} and {out / 'plan.png'}", err=True)


@app.command("compose-gpus")
def compose_gpus(count: Annotated[int, typer.Argument(min=1, max=16, help="GPUs on the host.")]) -> None:
    """Print a compose override with one worker per GPU (beside compose/docker-compose.yml)."""
    from ops.compose_gpus import compose_gpus as generate

    typer.echo(generate(count), nl=False)


@app.command("worker-alive")
def worker_alive() -> None:
    """Exit 0 when a worker on this host beat within BABELQ_WORKER_DEAD_AFTER_S, else 1: a
    container's or pod's liveness check of its worker."""
    import socket
    from datetime import timedelta

    from persistence.liveness import beating_on

    settings = _settings()
    with _store(settings) as factory:
        alive = beating_on(factory, socket.gethostname(), timedelta(seconds=settings.worker_dead_after_s))
    typer.echo(", ".join(alive) or "no worker of this host beat lately")
    raise typer.Exit(0 if alive else 1)


@app.command()
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
    from ops.stack import publish_gateway
    from producers.publish import journaled, publish_file, read_messages

    settings = _settings()
    lines = read_messages(file, settings.max_text_chars)  # the whole file, before publishing any
    journal = journal or file.with_name(file.name + ".published")
    if resume:
        done = journaled(journal)
        lines = [line for line in lines if line.key not in done]
        typer.echo(f"resuming: {len(done)} line(s) already published, {len(lines)} to go", err=True)
    with publish_gateway(settings, api_url, api_key or None) as gateway:
        code = publish_file(gateway, lines, wait=wait, out=out, timeout_s=timeout, journal=journal)
    raise typer.Exit(code)


@app.command()
def flower() -> None:
    """Run Flower on the same Celery app and broker (basic auth from BABELQ_FLOWER_BASIC_AUTH)."""
    from routing.table import load_table
    from transport.celery_app import create_celery_app
    from transport.queue_depth import management_api

    settings = _settings()
    _require_real_broker(settings, "flower")
    celery = create_celery_app(settings, load_table(settings.routes_file))
    argv = ["flower", f"--port={settings.flower_port}"]
    if settings.broker_url.startswith(("amqp", "pyamqp")):
        # RabbitMQ's queue lengths reach Flower's Broker tab only through the management API
        argv.append(f"--broker-api={management_api(settings)}/api/")
    if settings.flower_basic_auth:
        argv.append(f"--basic-auth={settings.flower_basic_auth}")
    celery.start(argv=argv)


@app.command("batch-policy")
def batch_policy(
    max_batch_size: Annotated[int | None, typer.Option(min=1, help="Largest batch.")] = None,
    max_wait_ms: Annotated[float | None, typer.Option(min=0, help="Longest wait to fill a batch.")] = None,
    max_batch_tokens: Annotated[int | None, typer.Option(min=1, help="Padded token budget.")] = None,
    destination: Annotated[str, typer.Option(help="Comma-separated worker names (default: all).")] = "",
) -> None:
    """Show or change the running workers' batch policy, without a restart."""
    from routing.table import load_table
    from transport.celery_app import create_celery_app
    from transport.control import broadcast_policy

    settings = _settings()
    _require_real_broker(settings, "batch-policy")
    celery = create_celery_app(settings, load_table(settings.routes_file))
    nodes = [d.strip() for d in destination.split(",") if d.strip()] or None
    replies = broadcast_policy(
        celery,
        nodes,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_batch_tokens=max_batch_tokens,
    )
    if not replies:
        raise BabelqError("no worker replied")
    typer.echo(json.dumps(replies, indent=2))
    if any("error" in reply for answer in replies for reply in answer.values()):
        raise typer.Exit(1)  # a worker refused the change: say so to scripts too


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw snapshots as JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workers' replies.")] = 2.0,
) -> None:
    """The worker fleet as a table: queues, device, breaker, in-flight jobs, last batch, GPU."""
    from rich.console import Console

    from ops.fleet_status import status_table
    from routing.table import load_table
    from transport.celery_app import create_celery_app
    from transport.control import fleet_status

    settings = _settings()
    _require_real_broker(settings, "status")
    replies = fleet_status(create_celery_app(settings, load_table(settings.routes_file)), timeout_s=timeout)
    if not replies:
        raise BabelqError("no worker replied")
    if as_json:
        typer.echo(json.dumps(replies, indent=2))
        return
    Console(width=160).print(status_table(replies))


@app.command()
def top(
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between refreshes.")] = 2.0,
    window: Annotated[float, typer.Option(min=5, help="Seconds of ended jobs the rates cover.")] = 60.0,
    once: Annotated[bool, typer.Option(help="Print one view and exit.")] = False,
) -> None:
    """A live view: queue depths (ready, unacked), rates and latency per queue, workers and GPUs."""
    from rich.console import Console
    from rich.live import Live

    from ops.stack import build_stack
    from ops.top_command import render_top

    settings = _settings()
    _require_real_broker(settings, "top")
    stack = build_stack(settings)
    console = Console(width=160)
    try:
        if once:
            console.print(render_top(stack, window))
            return
        with Live(render_top(stack, window), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(interval)
                live.update(render_top(stack, window))
    except KeyboardInterrupt:
        pass
    finally:
        stack.close()


@app.command()
def bench(
    path: Annotated[
        str, typer.Option(help="http (through the API) or publish (straight to the broker).")
    ] = "http",
    runner: Annotated[
        str, typer.Option(help="default (the model) or null (prices the queue path alone).")
    ] = "default",
    rate: Annotated[float | None, typer.Option(help="Offered load, jobs/s (Poisson arrivals).")] = None,
    sweep: Annotated[bool, typer.Option(help="Sweep 25%..125% of the measured capacity.")] = False,
    duration: Annotated[float, typer.Option(help="Seconds of load per rate.")] = 20.0,
    dataset: Annotated[Path | None, typer.Option(help="JSONL of {text}; default: the shipped set.")] = None,
    out: Annotated[Path, typer.Option(help="Where bench.json and bench.png go.")] = Path("bench-out"),
    external: Annotated[bool, typer.Option(help="API and workers are already running.")] = False,
    direct_batch_sizes: Annotated[
        str, typer.Option(help="Batch sizes direct_best sweeps (plain generate; stops at OOM).")
    ] = "8,16,32,64",
    waiters: Annotated[
        int, typer.Option(help="Callers holding ?wait= on never-answered jobs all run long (--path http).")
    ] = 0,
) -> None:
    """Measure throughput, latency and efficiency of the whole path against the direct baseline."""
    from ops.bench.benchmark import BenchOptions, run_bench
    from ops.model_command import bench_progress, ensure_model

    if path not in ("http", "publish") or runner not in ("default", "null"):
        raise BabelqError("--path is http or publish; --runner is default or null")
    sizes = _int_list(direct_batch_sizes, "--direct-batch-sizes")
    options = BenchOptions(
        path=path,
        runner=runner,
        rate=rate,
        sweep=sweep,
        duration_s=duration,  # type: ignore[arg-type]
        dataset=dataset,
        out=out,
        external=external,
        direct_batch_sizes=sizes,
        waiters=waiters,
    )
    settings = _settings()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request drowns the bar
    if runner == "default":
        ensure_model(settings)
    with bench_progress() as progress:
        result = run_bench(settings, options, progress)
    keys = (
        "offered_rate",
        "throughput_jobs_s",
        "direct_best_jobs_s",
        "direct_jobs_s",
        "efficiency",
        "efficiency_same_engine",
        "latency_ms",
        "queue_wait_ms",
        "heard_after_stored_ms",
        "processes",
    )
    typer.echo(json.dumps({k: result[k] for k in keys}, indent=2))
    typer.echo(f"wrote {out / 'bench.json'} and {out / 'bench.png'}")


@app.command()
def tune(
    profile: Annotated[str, typer.Option(help="The routing-table profile to tune.")] = "default",
    engines: Annotated[str, typer.Option(help="Engines to try: static, vllm.")] = "static,vllm",
    batch_sizes: Annotated[str, typer.Option(help="Max batch sizes to climb (stops at OOM).")] = "8,16,32,64",
    max_waits_ms: Annotated[str, typer.Option(help="Max waits to try (static engine).")] = "20",
    dtypes: Annotated[str, typer.Option(help="Precisions: auto, float32, float16, bfloat16, int8.")] = "auto",
    jobs: Annotated[int, typer.Option(help="Jobs per measurement (saturation, then half load).")] = 64,
    p99_target_ms: Annotated[
        float | None, typer.Option(help="P99 at half load to meet (default: 1.5 × (full batch + wait)).")
    ] = None,
    write: Annotated[Path | None, typer.Option(help="Write the routing table with the pick here.")] = None,
    out: Annotated[Path, typer.Option(help="Where tune.json and tune.png go.")] = Path("tune-out"),
) -> None:
    """Sweep engine × batch size × max wait × dtype on this device and pick the profile."""
    from ops.bench.tune import TuneOptions, run_tune
    from ops.model_command import ensure_model
    from ops.tune_table import tune_table

    options = TuneOptions(
        profile=profile,
        engines=_str_list(engines),
        batch_sizes=_int_list(batch_sizes, "--batch-sizes"),
        waits_ms=_float_list(max_waits_ms, "--max-waits-ms"),
        dtypes=_str_list(dtypes),
        jobs=jobs,
        p99_target_ms=p99_target_ms,
        write=write,
        out=out,
    )
    settings = _settings()
    ensure_model(settings)
    result = run_tune(settings, options, lambda step: typer.echo(f"measuring {step}", err=True))
    from rich.console import Console

    Console(width=140).print(tune_table(result))
    typer.echo(json.dumps({k: result[k] for k in ("chosen", "met_target", "jobs_s", "p99_ms")}, indent=2))
    typer.echo(f"wrote {out / 'tune.json'} and {out / 'tune.png'}")
    if write:
        typer.echo(f"wrote the routing table with the chosen profile to {write} (BABELQ_ROUTES_FILE={write})")


@model_app.command("prepare")
def model_prepare() -> None:
    """Download, verify and convert the default model (SmolLM2-135M-Instruct) into the cache."""
    from ops.model_command import prepare_with_progress

    typer.echo(prepare_with_progress(_settings()))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the Alembic migrations to BABELQ_DATABASE_URL (SQLite under var/ by default)."""
    from persistence.migrate import upgrade

    settings = _settings()
    upgrade(settings.store_url, revision)
    typer.echo(f"store at revision {revision}")


@db_app.command("purge")
def db_purge(
    older_than: Annotated[str, typer.Option(help="Age of the last activity: 30d, 12h, 2w …")],
    yes: Annotated[bool, typer.Option("--yes", help="Delete. Without it, only count (dry run).")] = False,
) -> None:
    """Remove conversations inactive for longer than --older-than, with their turns and jobs."""
    from persistence.retention import parse_age, purge

    age = parse_age(older_than)
    with _store() as factory:
        counts = purge(factory, age, dry_run=not yes)
    verb = "removed" if yes else "would remove"
    note = "" if yes else " (dry run: add --yes to delete)"
    what = f"{counts.conversations} conversations, {counts.messages} turns, {counts.jobs} jobs"
    typer.echo(f"{verb} {what} inactive for more than {older_than}{note}")


@export_app.command("conversation")
def export_conversation(conversation_id: str) -> None:
    """Print one conversation (turns and jobs) as JSON."""
    from core.jobs import canonical_uuid
    from persistence.retention import export_conversation as export

    with _store() as factory:
        data = export(factory, canonical_uuid(conversation_id))
    if data is None:
        raise BabelqError(f"no conversation {conversation_id}")
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@contextmanager
def _store(settings: Settings | None = None) -> Iterator[SessionFactory]:
    """A session factory on the configured store, for one command (migrated first in the
    development stack, as `babelq run` does; elsewhere `babelq db upgrade` is the operator's)."""
    from persistence.db import make_engine, make_session_factory
    from persistence.migrate import upgrade

    settings = settings or _settings()
    if settings.embedded:
        upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@keys_app.command("create")
def keys_create(
    channel: Annotated[str, typer.Option(help="The channel it serves ('*' for an admin key).")],
    scope: Annotated[
        str, typer.Option(help="channel (an integration), agent (answers handed jobs) or admin.")
    ] = "channel",
    name: Annotated[str | None, typer.Option(help="An agent's name, shown on its answers.")] = None,
) -> None:
    """Make an API key and print it (the only time it is shown)."""
    from persistence import api_keys

    with _store() as factory:  # a bad scope or name: InvalidInput, before anything is stored
        key = api_keys.create(factory, channel, cast("api_keys.Scope", scope), name)
    typer.echo(key)
    typer.echo(f"keep it now (only its hash is kept); send 'Authorization: Bearer {key[:15]}…'", err=True)


@keys_app.command("list")
def keys_list(channel: Annotated[str | None, typer.Option(help="Only this channel's keys.")] = None) -> None:
    """Every key (id, channel, made, revoked, last used) as JSON lines; never a secret."""
    from persistence import api_keys

    with _store() as factory:
        keys = api_keys.list_keys(factory, channel)
    for info in keys:
        typer.echo(json.dumps({name: _iso(value) for name, value in info.__dict__.items()}))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (or the whole key).")]) -> None:
    """Revoke a key: its requests get 401 from now on."""
    from persistence import api_keys

    with _store() as factory:
        revoked = api_keys.revoke(factory, key_id)
    if not revoked:
        raise BabelqError(f"no live key {key_id!r} (see `babelq keys list`)")
    typer.echo(f"revoked {key_id}")


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Revert the store to an earlier Alembic revision ('base' removes every table)."""
    from persistence.migrate import downgrade

    downgrade(_settings().store_url, revision)


@app.command()
def faults(
    scenario: Annotated[
        list[str] | None, typer.Option(help="A scenario to run (repeat); default: all.")
    ] = None,
    broker: Annotated[
        list[str] | None, typer.Option(help="redis and/or amqp (repeat); default: both.")
    ] = None,
    jobs: Annotated[int, typer.Option(min=8, help="Jobs in each scenario's load.")] = 50,
    worker_program: Annotated[
        str, typer.Option(help="The command that runs babelq for a worker.")
    ] = "babelq",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="NAME=VALUE: a BABELQ_ setting for every process.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the table goes as JSON.")] = Path("faults-out/faults.json"),
    sweep_cost: Annotated[
        int | None,
        typer.Option(min=1, help="Instead: price the dead-worker sweep over this many waiting jobs (Redis)."),
    ] = None,
) -> None:
    """Break things for real (workers, broker, store, messages) and count what became of the jobs."""
    from ops.faults_command import fault_setup, render, run_faults
    from ops.model_command import ensure_model

    settings = _settings()
    if sweep_cost is not None:
        from ops.faults.sweep_cost import measure_sweep_cost

        typer.echo(json.dumps(measure_sweep_cost(settings, sweep_cost).as_dict(), indent=2))
        return
    ensure_model(settings)
    setup = fault_setup(
        settings, broker or ["redis", "amqp"], out.parent / "work", worker_program, jobs, set_ or []
    )
    rows = run_faults(setup, scenario or [], out)
    typer.echo(render(rows))
    raise typer.Exit(0 if all(row.met for row in rows) else 1)


@queues_app.command("declare")
def queues_declare(
    recreate_empty: Annotated[
        bool, typer.Option(help="Delete and declare anew an empty queue RabbitMQ holds with other arguments.")
    ] = False,
) -> None:
    """Declare every queue of the routing table (and the dead-letter queue) with babelq's arguments."""
    from routing.table import load_table
    from transport.celery_app import create_celery_app
    from transport.queues import declare_queues

    settings = _settings()
    _require_real_broker(settings, "queues declare")
    for line in declare_queues(create_celery_app(settings, load_table(settings.routes_file)), recreate_empty):
        typer.echo(line)


@contextmanager
def _dead_stack() -> Iterator[Stack]:
    from ops.stack import build_stack

    settings = _settings()
    _require_real_broker(settings, "dead")
    stack = build_stack(settings)
    try:
        yield stack
    finally:
        stack.close()


@dead_app.command("list")
def dead_list() -> None:
    """Every dead letter: id, job, reason, error, queue, when (JSON lines)."""
    from ops.dead_command import list_letters

    with _dead_stack() as stack:
        for letter in list_letters(stack):
            typer.echo(json.dumps(letter, ensure_ascii=False))


@dead_app.command("show")
def dead_show(letter_id: Annotated[str, typer.Argument(help="A letter's id or its job's id.")]) -> None:
    """One dead letter with the body it carried."""
    from ops.dead_command import show_letter

    with _dead_stack() as stack:
        letter = show_letter(stack, letter_id)
    if letter is None:
        raise BabelqError(f"no dead letter {letter_id}")
    typer.echo(json.dumps(letter, indent=2, ensure_ascii=False))


@dead_app.command("replay")
def dead_replay(
    letter_id: Annotated[str | None, typer.Argument(help="A letter's id or its job's id.")] = None,
    all_letters: Annotated[bool, typer.Option("--all", help="Replay every letter.")] = False,
) -> None:
    """Publish dead-lettered jobs again on their queues (a failed job is queued again; a done one is left)."""
    from ops.dead_command import replay

    if (letter_id is None) == (not all_letters):
        raise BabelqError("give a letter id or --all")
    with _dead_stack() as stack:
        done = replay(stack, letter_id)
    typer.echo(json.dumps({"replayed": done.replayed, "kept": done.kept}, indent=2))
    if letter_id is not None and not done.replayed:
        raise typer.Exit(1)


@dead_app.command("purge")
def dead_purge() -> None:
    """Drop every dead letter."""
    from ops.dead_command import purge

    with _dead_stack() as stack:
        typer.echo(f"purged {purge(stack)} dead letter(s)")


def _str_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _str_list(text))
    except ValueError as exc:
        raise BabelqError(f"{option} takes whole numbers separated by commas, got {text!r}") from exc


def _float_list(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in _str_list(text))
    except ValueError as exc:
        raise BabelqError(f"{option} takes numbers separated by commas, got {text!r}") from exc


def _require_real_broker(settings: Settings, command: str) -> None:
    if settings.embedded:
        raise BabelqError(
            f"`babelq {command}` runs as its own process and needs a shared broker: set "
            "BABELQ_BROKER_URL=redis://… or amqp://… (or use `babelq run` for the embedded stack)"
        )


def main() -> None:
    """Entry point: BabelqErrors become one clear line and exit code 2, not a traceback."""
    try:
        app()
    except BabelqError as exc:
        typer.echo(f"babelq: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
