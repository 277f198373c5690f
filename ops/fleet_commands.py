"""The `babelq` commands that watch and size the worker fleet: `status` (a table of the workers),
`top` (a live view), `scale` (more or fewer workers), `plan` (devices and cost for a daily
volume) and `compose-gpus` (a compose override with a worker per GPU). Their parts live in
ops/top_command.py, ops/scale_command.py, ops/plan_command.py and ops/compose_gpus.py; ops/cli.py
adds the commands to the root app."""

from __future__ import annotations

import contextlib
import json
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import BabelqError
from ops.common_commands import celery_app_for, open_stack

if TYPE_CHECKING:
    from ops.scaling import ScalingPolicy

fleet_app = typer.Typer()


class ScaleTarget(StrEnum):
    """Where `babelq scale --apply` sets the number of workers."""

    COMPOSE = "compose"
    K8S = "k8s"


@fleet_app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw snapshots as JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workers' replies.")] = 2.0,
) -> None:
    """The worker fleet as a table: queues, device, breaker, in-flight jobs, last batch, GPU."""
    from rich.console import Console

    from ops.fleet_status import status_table
    from transport.control import fleet_status

    replies = fleet_status(celery_app_for("status"), timeout_s=timeout)
    if not replies:
        raise BabelqError("no worker replied")
    if as_json:
        typer.echo(json.dumps(replies, indent=2))
        return
    Console(width=160).print(status_table(replies))


@fleet_app.command()
def top(
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between refreshes.")] = 2.0,
    window: Annotated[float, typer.Option(min=5, help="Seconds of ended jobs the rates cover.")] = 60.0,
    once: Annotated[bool, typer.Option(help="Print one view and exit.")] = False,
) -> None:
    """A live view: queue depths (ready, unacked), rates and latency per queue, workers and GPUs."""
    from rich.console import Console
    from rich.live import Live

    from ops.top_command import render_top

    # Ctrl-C is how a live view ends: quietly, with the stack closed
    with open_stack("top") as stack, contextlib.suppress(KeyboardInterrupt):
        console = Console(width=160)
        if once:
            console.print(render_top(stack, window))
            return
        with Live(render_top(stack, window), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(interval)
                live.update(render_top(stack, window))


@fleet_app.command()
def scale(
    prometheus: Annotated[
        str, typer.Option(help="Prometheus that scrapes the fleet.")
    ] = "http://127.0.0.1:9090",
    capacity: Annotated[float | None, typer.Option(min=0.001, help="Jobs/s one worker answers.")] = None,
    bench: Annotated[Path | None, typer.Option(help="…or read it from a `babelq bench` bench.json.")] = None,
    p99_ms: Annotated[float, typer.Option(help="The P99 the bench's capacity must meet.")] = 2000.0,
    min_workers: Annotated[int, typer.Option(min=1)] = 1,
    max_workers: Annotated[int, typer.Option(min=1)] = 16,
    apply_to: Annotated[
        ScaleTarget | None, typer.Option("--apply", help="compose or k8s: apply the decision.")
    ] = None,
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

    per_worker = _capacity_of_one_worker(capacity, bench, p99_ms)
    policy = _scaling_policy(min_workers, max_workers)
    decision = scale_command.decide(prometheus, per_worker, policy, state)
    typer.echo(scale_command.as_json(decision))
    if apply_to is not None and decision.action != "hold":
        scale_command.apply(decision, apply_to.value, name, compose_file, state)


def _capacity_of_one_worker(capacity: float | None, bench: Path | None, p99_ms: float) -> float:
    """Jobs/s one worker answers: given, or measured by a bench run within the P99."""
    from ops.capacity import bench_runs, capacity_jobs_s

    if (capacity is None) == (bench is None):
        raise BabelqError("give one of --capacity and --bench")
    return capacity_jobs_s(bench_runs(bench), p99_ms) if bench is not None else float(capacity or 0)


def _scaling_policy(min_workers: int, max_workers: int) -> ScalingPolicy:
    from ops.scaling import ScalingPolicy, ScalingRules

    try:
        return ScalingPolicy(ScalingRules(min_workers=min_workers, max_workers=max_workers))
    except ValueError as exc:  # rules that contradict each other: one clear line, not a traceback
        raise BabelqError(str(exc)) from exc


@fleet_app.command()
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


@fleet_app.command("compose-gpus")
def compose_gpus(count: Annotated[int, typer.Argument(min=1, max=16, help="GPUs on the host.")]) -> None:
    """Print a compose override with one worker per GPU (beside compose/docker-compose.yml)."""
    from ops.compose_gpus import compose_gpus as generate

    typer.echo(generate(count), nl=False)
