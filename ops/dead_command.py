"""`babelq dead`: what is on the dead-letter queue, and putting it back to work.

The broker and store parts are imported in the functions that use them: `babelq` loads this
module at every start, whatever the command."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.errors import BabelqError, InvalidInput
from core.jobs import ChatJob, JobStatus
from ops.common_commands import open_stack

if TYPE_CHECKING:
    from producers.stack import Stack
    from transport.dead_letters import DeadLetter

dead_app = typer.Typer(
    help="The dead-letter queue: jobs no worker could bring to an end.", no_args_is_help=True
)


@dataclass
class Replay:
    """What a replay did: letters replayed (by job), and those kept with why."""

    replayed: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)


@dead_app.command("list")
def list_command() -> None:
    """Every dead letter: id, job, reason, error, queue, when (JSON lines)."""
    with open_stack("dead") as stack:
        for letter in list_letters(stack):
            typer.echo(json.dumps(letter, ensure_ascii=False))


@dead_app.command("show")
def show_command(letter_id: Annotated[str, typer.Argument(help="A letter's id or its job's id.")]) -> None:
    """One dead letter with the body it carried."""
    with open_stack("dead") as stack:
        letter = show_letter(stack, letter_id)
    if letter is None:
        raise BabelqError(f"no dead letter {letter_id}")
    typer.echo(json.dumps(letter, indent=2, ensure_ascii=False))


@dead_app.command("replay")
def replay_command(
    letter_id: Annotated[str | None, typer.Argument(help="A letter's id or its job's id.")] = None,
    all_letters: Annotated[bool, typer.Option("--all", help="Replay every letter.")] = False,
) -> None:
    """Publish dead-lettered jobs again on their queues (a failed job is queued again; a done one is left)."""
    if (letter_id is None) == (not all_letters):
        raise BabelqError("give a letter id or --all")
    with open_stack("dead") as stack:
        done = replay(stack, letter_id)
    typer.echo(json.dumps({"replayed": done.replayed, "kept": done.kept}, indent=2))
    if letter_id is not None and not done.replayed:
        raise typer.Exit(1)  # the one letter asked for stayed: scripts should know


@dead_app.command("purge")
def purge_command() -> None:
    """Drop every dead letter."""
    with open_stack("dead") as stack:
        typer.echo(f"purged {purge(stack)} dead letter(s)")


def list_letters(stack: Stack) -> list[dict[str, Any]]:
    from transport.dead_letters import walk_dead_letters

    return [letter.summary() for letter in walk_dead_letters(stack.celery, stack.table.dead_letter_queue)]


def show_letter(stack: Stack, letter_id: str) -> dict[str, Any] | None:
    from transport.dead_letters import walk_dead_letters

    for letter in walk_dead_letters(stack.celery, stack.table.dead_letter_queue):
        if letter_id in (letter.letter_id, letter.job_id):
            return {**letter.summary(), "payload": letter.payload}
    return None


def replay(stack: Stack, letter_id: str | None) -> Replay:
    """Publish the jobs of the chosen letters (one id, or all) again on their queues; a letter
    whose body is no job this version reads stays. Idempotent: a job already done is not run
    again (its answer is stored once), a failed one is queued again."""
    from persistence import job_lifecycle
    from transport.dead_letters import walk_dead_letters
    from transport.queues import publish_job

    done = Replay()

    def decide(letter: DeadLetter) -> bool:
        if letter_id is not None and letter_id not in (letter.letter_id, letter.job_id):
            return False
        try:
            job = ChatJob.from_wire(letter.payload if isinstance(letter.payload, dict) else {})
        except InvalidInput as exc:
            done.kept[letter.letter_id] = str(exc)
            return False
        status = job_lifecycle.reopen_job(stack.factory, job.job_id)
        if status is None:
            done.kept[letter.letter_id] = f"job {job.job_id} is not in the store"
            return False
        if status is not JobStatus.DONE:
            publish_job(stack.celery, job)
        done.replayed.append(job.job_id)
        return True

    walk_dead_letters(stack.celery, stack.table.dead_letter_queue, decide)
    return done


def purge(stack: Stack) -> int:
    from transport.dead_letters import purge_dead_letters

    return purge_dead_letters(stack.celery, stack.table.dead_letter_queue)
