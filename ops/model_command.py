"""`babelq model prepare` with a progress bar, and the check `babelq run` does before starting.

Rich's progress bars are imported where they are drawn: `babelq` loads this module at every
start, whatever the command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from core.settings import Settings
from ops.common_commands import command_settings

model_app = typer.Typer(help="The model workers run.", no_args_is_help=True)


@model_app.command("prepare")
def prepare() -> None:
    """Download, verify and convert the default model (SmolLM2-135M-Instruct) into the cache."""
    typer.echo(prepare_with_progress(command_settings()))


def prepare_with_progress(settings: Settings) -> Path:
    """Prepare the default model into the cache, showing each stage as a progress bar."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from workers.default_model import prepare_default_model

    columns = (TextColumn("{task.description:<12}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("model", total=1.0)

        def report(stage: str, fraction: float) -> None:
            progress.update(task, description=stage, completed=fraction)

        return prepare_default_model(settings.models_dir, progress=report)


def ensure_model(settings: Settings) -> None:
    """Prepare the default model unless another model or the null runner is configured."""
    from workers.default_model import is_prepared

    if settings.runner == "null" or settings.model or is_prepared(settings.models_dir):
        return
    prepare_with_progress(settings)


@contextmanager
def bench_progress() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """A progress bar per benchmark run: `make(label, total)` returns the `advance(n)` to call."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:

        def make(label: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(label, total=total)
            return lambda n: progress.advance(task, n)

        yield make
