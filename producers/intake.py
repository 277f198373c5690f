"""How a message becomes a queued job: route it, store the user turn, publish, undo on failure."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import IdempotencyConflict, PublishError
from core.jobs import ChatAnswer, ChatJob, JobStatus, Timings, new_id, utcnow
from persistence import idempotency, user_turns, views
from persistence.answer_cache import AnswerLookup
from persistence.db import GroupCommit, SessionFactory
from producers.messages import MessageIn, request_hash
from producers.metrics import ProducerMetrics
from routing.language import LanguageDetector
from routing.rules import Detection, LanguageChoice, choose_language
from routing.table import HandlingKind, RoutingTable

Publish = Callable[[ChatJob], None]
MarkStreamed = Callable[[str, float], None]
"""Mark a job (its id) as streamed for so many seconds (persistence.partial_answers)."""
DEFAULT_STREAM_MARK_S = 3600.0  # a job with no deadline at all keeps its mark this long
_NOT_DETECTED = Detection(language=None, confidence=0.0, reliable=False, words=0)


@dataclass(frozen=True)
class Submitted:
    """A job that is stored and on its queue, or (cached) stored and answered from the cache."""

    job: ChatJob
    language_source: str
    cached: bool = False
    handling: HandlingKind = "model"  # answered by the model, in the default language, or by people


class Intake:
    """The producer side shared by every channel (HTTP API, JSONL publisher, webhooks)."""

    def __init__(
        self,
        table: RoutingTable,
        detector: LanguageDetector,
        factory: SessionFactory,
        publish: Publish,
        answers: AnswerLookup | None = None,
        *,
        default_deadline_s: float | None = None,
        metrics: ProducerMetrics | None = None,
        mark_streamed: MarkStreamed | None = None,
    ) -> None:
        self._mark_streamed = mark_streamed
        self._answers = answers
        self._metrics = metrics
        self._default_deadline_s = default_deadline_s
        self._table = table
        self._detector = detector
        self._factory = factory
        self._publish = publish
        # Concurrent submits (API threads, publisher threads) store their user turns together.
        self._turns: GroupCommit[user_turns.UserTurn, bool] = GroupCommit(
            lambda turns: user_turns.record_user_turns(factory, turns),
            lambda turn: user_turns.record_user_turns(factory, [turn])[0],
        )

    def submit(self, message: MessageIn, job_id: str | None = None, visitor: str | None = None) -> Submitted:
        """Store the user's turn, then publish; if publishing fails nothing is left behind.
        `job_id`: the id to give the job (one reserved for an idempotency key), else a new one.
        `visitor`: the visitor session posting it (None: the channel's integration). A
        conversation id that is another's raises ConversationNotFound."""
        new_conversation = message.conversation_id is None
        conversation_id = message.conversation_id or new_id()
        # A conversation id made up just now has no language to carry over: no need to look.
        previous = None if new_conversation else self._previous_language(conversation_id)
        choice = self._choose(message, previous)
        handling = self._table.handling(choice.language, message.channel)
        job = ChatJob(
            job_id=job_id or new_id(),
            conversation_id=conversation_id,
            channel=message.channel,
            user_ref=message.user_ref,
            text=message.text,
            language=handling.language,
            queue=handling.queue,
            profile=handling.profile,
            deadline_at=self._deadline_at(message, people=handling.kind == "human"),
        )
        # Only a conversation's first question is answered from the cache: later ones depend on
        # it; and people answer what is handed to them.
        cacheable = previous is None and handling.kind != "human"
        turn = user_turns.UserTurn(job, choice.source, new_conversation, visitor)
        if cacheable and self._answer_from_cache(turn):
            self._count(job, cached=True)
            return Submitted(job, choice.source, cached=True, handling=handling.kind)
        created = self._turns.submit(turn)
        if message.stream:  # before it is published: the worker looks when it begins the job
            self._stream(job)
        try:
            self._publish(job)
        except PublishError:
            user_turns.discard_unpublished(self._factory, job, created)
            raise
        self._count(job, cached=False)
        return Submitted(job, choice.source, handling=handling.kind)

    def _stream(self, job: ChatJob) -> None:
        if self._mark_streamed is not None:
            left = (job.deadline_at - utcnow()).total_seconds() if job.deadline_at else DEFAULT_STREAM_MARK_S
            self._mark_streamed(job.job_id, max(1.0, left))

    def _count(self, job: ChatJob, cached: bool) -> None:
        if self._metrics is not None:
            self._metrics.submitted(job, cached)

    def submit_once(self, message: MessageIn, key: str, visitor: str | None = None) -> Submitted | str:
        """`submit` under a client's idempotency key: the id of the job an earlier request with
        this key made instead, if there was one (IdempotencyConflict if it was another request).
        A request that fails frees its key."""
        job_id = new_id()
        earlier = idempotency.reserve(self._factory, key, request_hash(message), job_id)
        if earlier is None:
            return self._submit_reserved(message, key, job_id, visitor)
        if views.get_job(self._factory, earlier) is not None:
            return earlier
        # Reserved, and its job not stored: a request still under way, or one that failed and
        # could not free the key (the store went down mid-request). Only the latter is taken over.
        if idempotency.take_over(self._factory, key):
            return self._submit_reserved(message, key, earlier, visitor)
        raise IdempotencyConflict(f"a request with Idempotency-Key {key!r} is still in progress; retry")

    def _submit_reserved(self, message: MessageIn, key: str, job_id: str, visitor: str | None) -> Submitted:
        try:
            return self.submit(message, job_id, visitor)
        except BaseException:
            with contextlib.suppress(Exception):  # the store may be down: the key is taken over later
                idempotency.release(self._factory, key)
            raise

    def _deadline_at(self, message: MessageIn, people: bool = False) -> datetime | None:
        """When an answer stops being of use: the request's deadline, else its channel's in the
        routing table, else the default (BABELQ_JOB_DEADLINE_S) — a model's deadline, not one for
        people, whose jobs have none unless the request or the channel sets one."""
        default = None if people else self._default_deadline_s
        seconds = message.deadline_s or self._table.deadline_s(message.channel) or default
        return None if seconds is None else utcnow() + timedelta(seconds=seconds)

    def _answer_from_cache(self, turn: user_turns.UserTurn) -> bool:
        job = turn.job
        if self._answers is None:
            return False
        started = time.perf_counter()
        answer_language = self._table.handling(job.language, job.channel).answer_language
        text = self._answers.get(self._table.profiles[job.profile], job.language, answer_language, job.text)
        if text is None:
            return False
        answer = ChatAnswer(
            job_id=job.job_id,
            text=text,
            language=job.language,
            model="answer-cache",
            status=JobStatus.DONE,
            timings=Timings(total_ms=(time.perf_counter() - started) * 1000),
        )
        return user_turns.record_cached_answer(self._factory, turn, answer)

    def choose_language(self, message: MessageIn, conversation_id: str) -> LanguageChoice:
        return self._choose(message, self._previous_language(conversation_id))

    def _previous_language(self, conversation_id: str) -> str | None:
        return user_turns.conversation_language(self._factory, conversation_id)

    def _choose(self, message: MessageIn, previous: str | None) -> LanguageChoice:
        # An explicit language always wins: detecting it would be wasted work.
        detection = _NOT_DETECTED if message.language else self._detector.detect(message.text)
        return choose_language(
            detection,
            explicit=message.language,
            conversation_language=previous,
            channel_default=self._table.channel_default(message.channel),
            # A locale is only a hint: one naming no language we know ("und", "xx") is none.
            user_locale=message.locale if message.locale in self._detector.supported else None,
        )
