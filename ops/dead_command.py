"""`babelq dead`: what is on the dead-letter queue, and putting it back to work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput
from core.jobs import ChatJob, JobStatus
from ops.stack import Stack
from persistence import job_lifecycle
from transport.dead_letters import DeadLetter, purge_dead_letters, walk_dead_letters
from transport.queues import publish_job


@dataclass
class Replay:
    """What a replay did: letters replayed (by job), and those kept with why."""

    replayed: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)


def list_letters(stack: Stack) -> list[dict[str, Any]]:
    return [letter.summary() for letter in walk_dead_letters(stack.celery, stack.table.dead_letter_queue)]


def show_letter(stack: Stack, letter_id: str) -> dict[str, Any] | None:
    for letter in walk_dead_letters(stack.celery, stack.table.dead_letter_queue):
        if letter_id in (letter.letter_id, letter.job_id):
            return {**letter.summary(), "payload": letter.payload}
    return None


def replay(stack: Stack, letter_id: str | None) -> Replay:
    """Publish the jobs of the chosen letters (one id, or all) again on their queues; a letter
    whose body is no job this version reads stays. Idempotent: a job already done is not run
    again (its answer is stored once), a failed one is queued again."""
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
    return purge_dead_letters(stack.celery, stack.table.dead_letter_queue)
