"""Answers one chat job: the logic behind the Celery task, free of Celery itself."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from core.errors import (
    EarlierTurnPending,
    InvalidInput,
    ItemExpired,
    ItemTooLarge,
    JobNotFound,
    ModelFailed,
    WorkerUnavailable,
)
from core.jobs import ChatAnswer, ChatJob, JobStatus, Timings, utcnow
from persistence import job_lifecycle
from persistence.answer_cache import AnswerLookup
from persistence.answer_notices import AnswerNotices, NoNotices
from persistence.db import GroupCommit, SessionFactory
from persistence.job_lifecycle import Begun
from persistence.views import Turn
from routing.table import Profile
from workers.batcher import Batched
from workers.feeders import Feeder, PromptRequest
from workers.prompts import build_prompt_within
from workers.runners.base import ChatMessage, Generation

log = logging.getLogger(__name__)
Now = Callable[[], datetime]
INPUT_FAULTS = (InvalidInput, ItemTooLarge)
"""Errors that are the job's own: it fails at once. Any other model error may be retried elsewhere."""


def always_admit() -> None:
    """The admission check of a worker that never refuses work (tests, benchmarks)."""


class Responder:
    """Turns a ChatJob into a stored ChatAnswer through the batcher; one outcome per job."""

    def __init__(
        self,
        factory: SessionFactory,
        batcher: Feeder,
        profile: Profile,
        model_name: str,
        count_tokens: Callable[[list[ChatMessage]], int],
        history_turns: int,
        timeout_s: float,
        history_tokens: int = 1024,
        now: Now = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        admit: Callable[[], None] = always_admit,
        answers: AnswerLookup | None = None,
        notices: AnswerNotices | None = None,
    ) -> None:
        self._cache = answers
        self._notices = notices or NoNotices()
        self._admit = admit
        self._monotonic = monotonic
        self._factory = factory
        self._batcher = batcher
        self._profile = profile
        self._model_name = model_name
        self._count_tokens = count_tokens
        self._history_turns = history_turns
        self._history_tokens = history_tokens
        self._timeout_s = timeout_s
        self._now = now
        # The task threads of a worker start and finish their jobs in step (a batch at a time):
        # group commit lets one transaction start (or store) all of them, instead of one each.
        self._starts: GroupCommit[tuple[str, str], Begun | JobNotFound | EarlierTurnPending] = GroupCommit(
            lambda starts: job_lifecycle.begin_jobs(factory, starts, history_turns, timeout_s),
            lambda start: job_lifecycle.begin_jobs(factory, [start], history_turns, timeout_s)[0],
        )
        self._answers: GroupCommit[ChatAnswer, bool | JobNotFound] = GroupCommit(
            self._store_and_announce, lambda answer: self._store_and_announce([answer])[0]
        )

    @property
    def session_factory(self) -> SessionFactory:
        return self._factory

    def _store_and_announce(self, answers: Sequence[ChatAnswer]) -> list[bool | JobNotFound]:
        """Store outcomes in one transaction, then tell waiting callers which ones are final now."""
        outcomes = job_lifecycle.store_answers(self._factory, answers)
        written = [answer.job_id for answer, stored in zip(answers, outcomes, strict=True) if stored is True]
        self._notices.announce(written)
        return outcomes

    def answer(self, job: ChatJob, worker: str) -> ChatAnswer | None:
        """Answer and store one job; None when it was already final (a duplicate delivery).

        Raises WorkerUnavailable when this worker refuses work now (breaker open, shutting down)
        and ModelFailed when the model failed through no fault of the job: the caller hands the
        job back to the broker or retries it; nothing final is stored for it.
        """
        self._admit()
        begun = self._starts.submit((job.job_id, worker))
        if isinstance(begun, JobNotFound | EarlierTurnPending):
            raise begun
        before, history = begun
        if before.final:
            log.info("job %s already final; duplicate delivery ignored", job.job_id)
            return None
        started = self._now()
        if job.deadline_at is not None and started >= job.deadline_at:
            return self._store(self._outcome(job, worker, JobStatus.EXPIRED, error="deadline passed"))
        try:
            batched = self._generate(job, history, started)
        except ItemExpired as exc:
            return self._store(self._outcome(job, worker, JobStatus.EXPIRED, error=str(exc)))
        except INPUT_FAULTS as exc:
            return self.fail(job, worker, str(exc))
        except WorkerUnavailable:
            raise
        except Exception as exc:
            log.warning("job %s: the model failed: %s: %s", job.job_id, type(exc).__name__, exc)
            raise ModelFailed(f"{type(exc).__name__}: {exc}") from exc
        answer = self._store(self._done(job, worker, started, batched))
        if self._cache is not None and not history:  # asked without earlier turns: cacheable
            self._cache.put(self._profile, job.language, job.text, batched.value.text)
        return answer

    def fail(self, job: ChatJob, worker: str, error: str) -> ChatAnswer:
        """Store the job as failed (its input's fault, or its retries are spent)."""
        return self._store(self._outcome(job, worker, JobStatus.FAILED, error=error))

    def _generate(self, job: ChatJob, history: list[Turn], started: datetime) -> Batched[Generation]:
        system = self._profile.system_prompt(job.language)
        messages = build_prompt_within(system, history, job.text, self._history_tokens, self._count_tokens)
        max_new = self._profile.max_new_tokens
        tokens = self._count_tokens(messages) + max_new
        future = self._batcher.submit(PromptRequest(messages, max_new), tokens, self._deadline(job, started))
        return future.result(timeout=self._timeout_s)

    def _deadline(self, job: ChatJob, started: datetime) -> float | None:
        """The job's wall-clock deadline on the batcher's monotonic clock."""
        if job.deadline_at is None:
            return None
        return self._monotonic() + (job.deadline_at - started).total_seconds()

    def _done(self, job: ChatJob, worker: str, started: datetime, batched: Batched[Generation]) -> ChatAnswer:
        generation = batched.value
        return ChatAnswer(
            job_id=job.job_id, text=generation.text, language=job.language, model=self._model_name,
            status=JobStatus.DONE, prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens, batch_size=batched.batch_size, worker=worker,
            timings=Timings(
                queued_ms=_ms(started - job.created_at), batch_wait_ms=batched.wait_s * 1000,
                infer_ms=batched.run_s * 1000, total_ms=_ms(self._now() - job.created_at),
            ),
        )  # fmt: skip

    def _outcome(self, job: ChatJob, worker: str, status: JobStatus, error: str) -> ChatAnswer:
        return ChatAnswer(
            job_id=job.job_id, language=job.language, model=self._model_name, status=status,
            error=error, worker=worker, timings=Timings(total_ms=_ms(self._now() - job.created_at)),
        )  # fmt: skip

    def _store(self, answer: ChatAnswer) -> ChatAnswer:
        stored = self._answers.submit(answer)
        if isinstance(stored, JobNotFound):
            raise stored
        return answer


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000
