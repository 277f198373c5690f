"""Answers chat jobs: the logic behind the worker's consumer, free of Celery itself."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta
from functools import partial
from typing import assert_never

from core.errors import (
    EarlierTurnPending,
    FailedAlone,
    InvalidInput,
    ItemExpired,
    ItemTooLarge,
    JobNotFound,
    ModelFailed,
    PoisonSuspect,
    WorkerUnavailable,
)
from core.jobs import ChatAnswer, ChatJob, JobStatus, Timings, keepable_text, log_fields, utcnow
from persistence import answer_notices, job_lifecycle
from persistence.answer_cache import AnswerLookup
from persistence.answer_notices import AnswerNotices, NoNotices
from persistence.db import SessionFactory
from persistence.job_lifecycle import Begun, Start
from persistence.partial_answers import NoPartials, PartialAnswers
from persistence.views import Turn
from routing.replies import ReplyPlan
from routing.table import Profile
from workers.batcher import Batched
from workers.feeders import Feeder, PromptRequest
from workers.outcomes import (
    Answered,
    Concluded,
    Duplicate,
    Expired,
    FailedOnInput,
    Judged,
    Launch,
    Launched,
    Stored,
    stored_as,
)
from workers.prompts import build_prompt_within
from workers.runners.base import ChatMessage, Generation, TextListener

log = logging.getLogger(__name__)
Now = Callable[[], datetime]
ReplyPlanner = Callable[[str, str], ReplyPlan]
"""(job language, channel) → the language to answer in, and a line before the answer."""
INPUT_FAULTS = (InvalidInput, ItemTooLarge)
"""Errors that are the job's own: it fails at once. Any other model error may be retried elsewhere."""


def always_admit() -> None:
    """The admission check of a worker that never refuses work (tests, benchmarks)."""


class Responder:
    """Turns ChatJobs into stored ChatAnswers through the batcher; one outcome per job.

    In stages, so that a worker takes its jobs in bulk (see pipeline): `begin` many at once,
    `launch` each into the engine, `conclude` each when its generation is done, `store` the
    answers at once. `answer` runs one job through every stage.
    """

    def __init__(
        self,
        factory: SessionFactory,
        batcher: Feeder,
        profile: Profile,
        model_name: str,
        count_tokens: Callable[[list[ChatMessage]], int],
        *,
        history_turns: int,
        timeout_s: float,
        history_tokens: int = 1024,
        now: Now = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        admit: Callable[[], None] = always_admit,
        answers: AnswerLookup | None = None,
        notices: AnswerNotices | None = None,
        partials: PartialAnswers | None = None,
        replies: ReplyPlanner | None = None,
    ) -> None:
        self._replies = replies or _in_own_language
        self._cache = answers
        self._notices = notices or NoNotices()
        self._partials = partials or NoPartials()
        self._streamed = _StreamedJobs()
        self.admit = admit
        """Raises WorkerUnavailable when this worker takes no job now (breaker open, shutting down)."""
        self._monotonic = monotonic
        self._factory = factory
        self._batcher = batcher
        self._profile = profile
        self._model_name = model_name
        self._count_tokens = count_tokens
        self._history_turns = history_turns
        self._history_tokens = history_tokens
        self.timeout_s = timeout_s
        self._now = now

    @property
    def session_factory(self) -> SessionFactory:
        return self._factory

    def answer(self, job: ChatJob, worker: str) -> ChatAnswer | None:
        """Answer and store one job; None when it was already final (a duplicate delivery).

        Raises WorkerUnavailable when this worker refuses work now (breaker open, shutting down)
        and ModelFailed when the model failed through no fault of the job: the caller hands the
        job back to the broker or retries it; nothing final is stored for it.
        """
        self.admit()
        begun = self.begin([job], worker)[0]
        if isinstance(begun, JobNotFound | EarlierTurnPending):
            raise begun
        launch = self.launch(job, begun, worker)
        match launch:
            case Duplicate():
                return None
            case Expired(answer) | FailedOnInput(answer):
                return self._store_one(answer)
            case Launched() as launched:
                answer = self._store_one(self.conclude(launched, worker).answer)
                self.remember(launched, answer)
                return answer
            case _:
                assert_never(launch)

    def begin(self, jobs: Sequence[ChatJob], worker: str) -> list[Start]:
        """Mark the jobs running and read their earlier turns, in one transaction."""
        starts = [(job.job_id, worker) for job in jobs]
        begun = job_lifecycle.begin_jobs(self._factory, starts, self._history_turns)
        # Streams of these jobs (GET /v1/jobs/{id}/events) show `running` at once.
        running = [job.job_id for job, began in zip(jobs, begun, strict=True) if isinstance(began, Begun)]
        self._notices.announce(answer_notices.started(running))
        if running and self._partials.live:  # one look for the batch: which of them are streamed
            self._streamed.add(self._partials.wanted(running))
        return begun

    def launch(self, job: ChatJob, begun: Begun, worker: str) -> Launch:
        """Hand a begun job to the engine. Duplicate for a job already final (a duplicate
        delivery); an end to store at once when its deadline has passed or its input cannot run.
        Raises as `conclude` does."""
        on_text = self._text_listener(job.job_id)  # taken whatever happens next: no mark is left over
        if begun.before.final:
            log.info(
                "job %s already final; duplicate delivery ignored",
                job.job_id,
                extra=log_fields(job.job_id, job.queue, worker),
            )
            return Duplicate()
        started = self._now()
        if job.deadline_at is not None and started >= job.deadline_at:
            return Expired(self._outcome(job, worker, JobStatus.EXPIRED, error="deadline passed"))
        try:
            future = self._submit(job, begun.history, started, on_text)
        except Exception as exc:
            return self._judge(job, worker, exc)
        return Launched(job, started, future, cacheable=not begun.history)

    def conclude(self, launched: Launched, worker: str) -> Concluded:
        """The job's end once its generation is done (waiting up to the job timeout): answered,
        or failed by its own input, or expired.

        Raises WorkerUnavailable when the job was handed back untouched (shutting down) and
        ModelFailed when the model failed through no fault of the job."""
        try:
            batched = launched.future.result(timeout=self.timeout_s)
        except Exception as exc:
            return self._judge(launched.job, worker, exc)
        return Answered(self._done(launched.job, worker, launched.started, batched))

    def store(self, answers: Sequence[ChatAnswer]) -> list[Stored]:
        """Store outcomes in one transaction, then tell waiting callers which ones are final now."""
        stored = [stored_as(result) for result in job_lifecycle.store_answers(self._factory, answers)]
        written = [answer.job_id for answer, s in zip(answers, stored, strict=True) if s is Stored.WRITTEN]
        self._notices.announce(written)
        return stored

    def remember(self, launched: Launched, answer: ChatAnswer) -> None:
        """Keep a first question's answer in the answer cache."""
        if self._cache is not None and launched.cacheable and answer.status == JobStatus.DONE:
            job = launched.job
            answer_language = self._replies(job.language, job.channel).language
            self._cache.put(self._profile, job.language, answer_language, job.text, answer.text or "")

    def fail(self, job: ChatJob, worker: str, error: str) -> ChatAnswer:
        """Store the job as failed (its input's fault, or its retries are spent)."""
        return self._store_one(self.failed(job, worker, error))

    def failed(self, job: ChatJob, worker: str, error: str) -> ChatAnswer:
        """The failed outcome of a job, not stored yet."""
        return self._outcome(job, worker, JobStatus.FAILED, error=error)

    def _judge(self, job: ChatJob, worker: str, exc: Exception) -> Judged:
        """A generation's error: the job's own fault is its outcome; anything else is raised."""
        if isinstance(exc, ItemExpired):
            return Expired(self._outcome(job, worker, JobStatus.EXPIRED, error=str(exc)))
        if isinstance(exc, INPUT_FAULTS):
            return FailedOnInput(self.failed(job, worker, str(exc)))
        if isinstance(exc, WorkerUnavailable):
            raise exc
        log.warning(
            "job %s: the model failed: %s: %s",
            job.job_id,
            type(exc).__name__,
            exc,
            extra=log_fields(job.job_id, job.queue, worker),
        )
        if isinstance(exc, FailedAlone):
            raise PoisonSuspect(f"failed alone in its batch: {exc}") from exc
        raise ModelFailed(f"{type(exc).__name__}: {exc}") from exc

    def _submit(
        self, job: ChatJob, history: list[Turn], started: datetime, on_text: TextListener | None
    ) -> Future[Batched[Generation]]:
        plan = self._replies(job.language, job.channel)
        system = self._profile.system_prompt(plan.language)
        messages = build_prompt_within(system, history, job.text, self._history_tokens, self._count_tokens)
        max_new = self._profile.max_new_tokens
        tokens = self._count_tokens(messages) + max_new
        shown = (lambda text: on_text(plan.shown(text))) if on_text and plan.notice else on_text
        request = PromptRequest(messages, max_new, shown)  # a stream shows the notice line too
        return self._batcher.submit(request, tokens, self._deadline(job, started))

    def _text_listener(self, job_id: str) -> TextListener | None:
        """Where a streamed job's answer so far goes while it is generated; None for the others."""
        if not self._streamed.take(job_id):
            return None
        return partial(self._partials.report, job_id)

    def _deadline(self, job: ChatJob, started: datetime) -> float | None:
        """The job's wall-clock deadline on the batcher's monotonic clock."""
        if job.deadline_at is None:
            return None
        return self._monotonic() + (job.deadline_at - started).total_seconds()

    def _done(self, job: ChatJob, worker: str, started: datetime, batched: Batched[Generation]) -> ChatAnswer:
        generation = batched.value
        return ChatAnswer(
            job_id=job.job_id,
            language=job.language,
            text=self._replies(job.language, job.channel).shown(keepable_text(generation.text)),
            model=self._model_name,
            status=JobStatus.DONE,
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            batch_size=batched.batch_size,
            worker=worker,
            timings=Timings(
                queued_ms=_ms(started - job.created_at),
                batch_wait_ms=batched.wait_s * 1000,
                infer_ms=batched.run_s * 1000,
                total_ms=_ms(self._now() - job.created_at),
            ),
        )

    def _outcome(self, job: ChatJob, worker: str, status: JobStatus, error: str) -> ChatAnswer:
        return ChatAnswer(
            job_id=job.job_id,
            language=job.language,
            model=self._model_name,
            status=status,
            error=error,
            worker=worker,
            timings=Timings(total_ms=_ms(self._now() - job.created_at)),
        )

    def _store_one(self, answer: ChatAnswer) -> ChatAnswer:
        if self.store([answer])[0] is Stored.UNKNOWN_JOB:
            raise JobNotFound(answer.job_id)
        return answer


def _in_own_language(language: str, channel: str) -> ReplyPlan:
    return ReplyPlan(language)


class _StreamedJobs:
    """Jobs begun as streamed and not launched yet (begin and launch run on different threads).
    A job begun but never launched (its batch failed in between) is forgotten after KEEP_S."""

    KEEP_S = 600.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._since: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, job_ids: set[str]) -> None:
        if job_ids:
            now = self._clock()
            with self._lock:
                self._since = {job: at for job, at in self._since.items() if now - at < self.KEEP_S}
                self._since.update(dict.fromkeys(job_ids, now))

    def take(self, job_id: str) -> bool:
        with self._lock:
            return self._since.pop(job_id, None) is not None


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000
