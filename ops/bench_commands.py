"""The `babelq` commands that measure: `bench` (throughput and latency of the whole path), `tune`
(the profile this device serves best), `batch-policy` (the knob `tune` picks, changed on running
workers) and `faults` (what becomes of the jobs when things break). ops/cli.py adds them to the
root app."""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.errors import BabelqError
from ops.common_commands import celery_app_for, command_settings

if TYPE_CHECKING:
    from core.settings import Settings

bench_app = typer.Typer()


class BenchPath(StrEnum):
    """How `babelq bench` sends its load."""

    HTTP = "http"
    PUBLISH = "publish"


class BenchRunner(StrEnum):
    """What answers `babelq bench`'s jobs."""

    DEFAULT = "default"
    NULL = "null"


class FaultBroker(StrEnum):
    """The brokers `babelq faults` breaks (ops/faults_command.py knows where each runs)."""

    REDIS = "redis"
    AMQP = "amqp"


BENCH_SUMMARY = (
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
TUNE_SUMMARY = ("chosen", "met_target", "jobs_s", "p99_ms")

# bench's longest options, named here so that its signature reads as a list of options
PathOption = Annotated[
    BenchPath, typer.Option(help="http (through the API) or publish (straight to the broker).")
]
RunnerOption = Annotated[
    BenchRunner, typer.Option(help="default (the model) or null (prices the queue path alone).")
]
DirectBatchSizesOption = Annotated[
    str, typer.Option(help="Batch sizes direct_best sweeps (plain generate; stops at OOM).")
]
WaitersOption = Annotated[
    int, typer.Option(help="Callers holding ?wait= on never-answered jobs all run long (--path http).")
]


@bench_app.command()
def bench(
    path: PathOption = BenchPath.HTTP,
    runner: RunnerOption = BenchRunner.DEFAULT,
    rate: Annotated[float | None, typer.Option(help="Offered load, jobs/s (Poisson arrivals).")] = None,
    sweep: Annotated[bool, typer.Option(help="Sweep 25%..125% of the measured capacity.")] = False,
    duration: Annotated[float, typer.Option(help="Seconds of load per rate.")] = 20.0,
    dataset: Annotated[Path | None, typer.Option(help="JSONL of {text}; default: the shipped set.")] = None,
    out: Annotated[Path, typer.Option(help="Where bench.json and bench.png go.")] = Path("bench-out"),
    external: Annotated[bool, typer.Option(help="API and workers are already running.")] = False,
    direct_batch_sizes: DirectBatchSizesOption = "8,16,32,64",
    waiters: WaitersOption = 0,
) -> None:
    """Measure throughput, latency and efficiency of the whole path against the direct baseline."""
    from ops.bench.benchmark import BenchOptions, run_bench
    from ops.model_command import bench_progress, ensure_model

    options = BenchOptions(  # checked before the settings are read, as it always was
        path=path.value,
        runner=runner.value,
        rate=rate,
        sweep=sweep,
        duration_s=duration,
        dataset=dataset,
        out=out,
        external=external,
        direct_batch_sizes=_int_list(direct_batch_sizes, "--direct-batch-sizes"),
        waiters=waiters,
    )
    settings = command_settings()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request drowns the bar
    if runner is BenchRunner.DEFAULT:
        ensure_model(settings)
    with bench_progress() as progress:
        result = run_bench(settings, options, progress)
    typer.echo(json.dumps({k: result[k] for k in BENCH_SUMMARY}, indent=2))
    typer.echo(f"wrote {out / 'bench.json'} and {out / 'bench.png'}")


@bench_app.command()
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
    settings = command_settings()
    ensure_model(settings)
    result = run_tune(settings, options, lambda step: typer.echo(f"measuring {step}", err=True))
    _print_tune(result, out, write)


def _print_tune(result: dict[str, Any], out: Path, write: Path | None) -> None:
    from rich.console import Console

    from ops.tune_table import tune_table

    Console(width=140).print(tune_table(result))
    typer.echo(json.dumps({k: result[k] for k in TUNE_SUMMARY}, indent=2))
    typer.echo(f"wrote {out / 'tune.json'} and {out / 'tune.png'}")
    if write:
        typer.echo(f"wrote the routing table with the chosen profile to {write} (BABELQ_ROUTES_FILE={write})")


@bench_app.command("batch-policy")
def batch_policy(
    max_batch_size: Annotated[int | None, typer.Option(min=1, help="Largest batch.")] = None,
    max_wait_ms: Annotated[float | None, typer.Option(min=0, help="Longest wait to fill a batch.")] = None,
    max_batch_tokens: Annotated[int | None, typer.Option(min=1, help="Padded token budget.")] = None,
    destination: Annotated[str, typer.Option(help="Comma-separated worker names (default: all).")] = "",
) -> None:
    """Show or change the running workers' batch policy, without a restart."""
    from transport.control import broadcast_policy

    replies = broadcast_policy(
        celery_app_for("batch-policy"),
        list(_str_list(destination)) or None,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_batch_tokens=max_batch_tokens,
    )
    if not replies:
        raise BabelqError("no worker replied")
    typer.echo(json.dumps(replies, indent=2))
    if any("error" in reply for answer in replies for reply in answer.values()):
        raise typer.Exit(1)  # a worker refused the change: say so to scripts too


@bench_app.command()
def faults(
    scenario: Annotated[
        list[str] | None, typer.Option(help="A scenario to run (repeat); default: all.")
    ] = None,
    broker: Annotated[
        list[FaultBroker] | None, typer.Option(help="redis and/or amqp (repeat); default: both.")
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

    settings = command_settings()
    if sweep_cost is not None:
        _print_sweep_cost(settings, sweep_cost)
        return
    ensure_model(settings)
    brokers = [choice.value for choice in broker or FaultBroker]
    setup = fault_setup(
        settings,
        brokers=brokers,
        workdir=out.parent / "work",
        worker_program=worker_program,
        jobs=jobs,
        overrides=set_ or [],
    )
    rows = run_faults(setup, scenario or [], out)
    typer.echo(render(rows))
    raise typer.Exit(0 if all(row.met for row in rows) else 1)


def _print_sweep_cost(settings: Settings, waiting_jobs: int) -> None:
    from ops.faults.sweep_cost import measure_sweep_cost

    typer.echo(json.dumps(measure_sweep_cost(settings, waiting_jobs).as_dict(), indent=2))


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
