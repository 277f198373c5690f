"""A job's passage through a worker as one closed set of outcomes, and the settlement each one
gives the message that carried the job.

A job is begun (persistence.job_lifecycle.Start: begun, unknown, or waiting for an earlier turn),
launched into the engine, and ends here in exactly one `Outcome`. `settlement` alone decides how
each outcome settles its message (ack, retry, dead-letter, hand back); the pipeline only carries
it out. A new outcome is a new class in this module: mypy then points at every match that misses
it.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import assert_never

from core.errors import EarlierTurnPending, JobNotFound
from core.jobs import ChatAnswer, ChatJob
from workers.batcher import Batched
from workers.runners.base import Generation

ORDER_RECHECK_S = 0.2  # a job waiting for its conversation's earlier turn goes back after this


@dataclass(frozen=True)
class Launched:
    """A begun job on its way through the engine (not an end: its generation decides one)."""

    job: ChatJob
    started: datetime
    future: Future[Batched[Generation]]
    cacheable: bool  # asked without earlier turns: its answer may serve the next one who asks


@dataclass(frozen=True)
class Unreadable:
    """Its message is not a job this worker can read (malformed, or of a newer wire version)."""

    reason: str
    error: str


@dataclass(frozen=True)
class Duplicate:
    """The job was final already when it began: a duplicate delivery, nothing to do."""


@dataclass(frozen=True)
class Answered:
    """The model answered the job."""

    answer: ChatAnswer


@dataclass(frozen=True)
class Expired:
    """The job's deadline passed before it could run."""

    answer: ChatAnswer


@dataclass(frozen=True)
class FailedOnInput:
    """The job's own input failed it (too large for the budget, refused by the engine): it fails
    alone and is never retried."""

    answer: ChatAnswer


@dataclass(frozen=True)
class FailedByModel:
    """The model failed through no fault of the job, and retries are left: tried again on a new
    message, so that another (healthy) worker may take it."""

    job: ChatJob
    reason: str
    suspect: bool  # it failed alone in its batch, now or on an earlier try (see PoisonSuspect)


@dataclass(frozen=True)
class RetriesSpent:
    """The model failed the job on every try it had: stored failed, then dead-lettered."""

    answer: ChatAnswer


@dataclass(frozen=True)
class HandedBack:
    """The job was not run here (shutting down, breaker open, store down): back untouched."""

    reason: str


Judged = Expired | FailedOnInput
"""An end decided without the model's text: stored as it is."""
Launch = Launched | Duplicate | Judged
"""What handing a begun job to the engine gives."""
Concluded = Answered | Judged
"""What a finished generation gives."""
ToStore = Concluded | RetriesSpent
"""The ends whose answers are stored before their messages are settled."""
Outcome = JobNotFound | EarlierTurnPending | Unreadable | Duplicate | FailedByModel | HandedBack | ToStore
"""Every way a job's passage through this worker ends."""


class Stored(Enum):
    """What storing one answer did."""

    WRITTEN = "written"  # now: waiting callers may be told
    ALREADY_DONE = "already done"  # an earlier answer stands (a duplicate delivery's)
    UNKNOWN_JOB = "unknown job"


def stored_as(result: bool | JobNotFound) -> Stored:
    """The store's own answer (persistence.job_lifecycle.store_answers) as a Stored."""
    if isinstance(result, JobNotFound):
        return Stored.UNKNOWN_JOB
    return Stored.WRITTEN if result else Stored.ALREADY_DONE


@dataclass(frozen=True)
class Ack:
    """Acknowledge the message: its job needs nothing more from the broker."""

    outcome: str


@dataclass(frozen=True)
class Retry:
    """Publish the job again with one more retry counted, then ack this copy."""

    job: ChatJob
    reason: str
    suspect: bool


@dataclass(frozen=True)
class DeadLetter:
    """Put the message on the dead-letter queue with why, then ack this copy."""

    reason: str
    error: str


@dataclass(frozen=True)
class HandBack:
    """Return the message to the broker untouched, after `after_s` seconds."""

    reason: str
    after_s: float = 0.0


Settlement = Ack | Retry | DeadLetter | HandBack


def settlement(outcome: Outcome) -> Settlement:
    """How the message of a job whose passage ended in `outcome` is settled."""
    match outcome:
        case Answered(answer) | Expired(answer) | FailedOnInput(answer):
            return Ack(answer.status.value)
        case RetriesSpent(answer):
            return DeadLetter("retries exhausted", answer.error or "")
        case FailedByModel(job, reason, suspect):
            return Retry(job, reason, suspect)
        case Duplicate():
            return Ack("duplicate")
        case JobNotFound():
            return Ack("unknown job")  # nothing can ever run it: dropped
        case EarlierTurnPending():
            # after a pause: on RabbitMQ it may come straight back, and must not spin
            return HandBack(str(outcome), after_s=ORDER_RECHECK_S)
        case HandedBack(reason):
            return HandBack(reason)
        case Unreadable(reason, error):
            return DeadLetter(reason, error)
        case _:
            assert_never(outcome)
