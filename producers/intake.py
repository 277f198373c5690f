"""How a message becomes a queued job: route it, store the user turn, publish, undo on failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ops.errors import PublishError
from persistence import repository
from persistence.db import GroupCommit, SessionFactory
from producers.messages import MessageIn
from routing.jobs import ChatJob, new_id
from routing.language import LanguageDetector
from routing.rules import Detection, LanguageChoice, choose_language
from routing.table import RoutingTable

Publish = Callable[[ChatJob], None]
_NOT_DETECTED = Detection(language=None, confidence=0.0, reliable=False, words=0)


@dataclass(frozen=True)
class Submitted:
    """A job that is stored and on its queue."""

    job: ChatJob
    language_source: str


class Intake:
    """The producer side shared by every channel (HTTP API, JSONL publisher, webhooks)."""

    def __init__(
        self, table: RoutingTable, detector: LanguageDetector, factory: SessionFactory, publish: Publish
    ) -> None:
        self._table = table
        self._detector = detector
        self._factory = factory
        self._publish = publish
        # Concurrent submits (API threads, publisher threads) store their user turns together.
        self._turns: GroupCommit[repository.UserTurn, bool] = GroupCommit(
            lambda turns: repository.record_user_turns(factory, turns),
            lambda turn: repository.record_user_turns(factory, [turn])[0],
        )

    def submit(self, message: MessageIn) -> Submitted:
        """Store the user's turn, then publish; if publishing fails nothing is left behind."""
        new_conversation = message.conversation_id is None
        conversation_id = message.conversation_id or new_id()
        # A conversation id made up just now has no language to carry over: no need to look.
        previous = None if new_conversation else self._previous_language(conversation_id)
        choice = self._choose(message, previous)
        route = self._table.route(choice.language)
        job = ChatJob(
            job_id=new_id(), conversation_id=conversation_id, channel=message.channel,
            user_ref=message.user_ref, text=message.text, language=route.language,
            queue=route.queue, profile=route.profile,
        )  # fmt: skip
        created = self._turns.submit((job, choice.source, new_conversation))
        try:
            self._publish(job)
        except PublishError:
            repository.discard_unpublished(self._factory, job, created)
            raise
        return Submitted(job, choice.source)

    def choose_language(self, message: MessageIn, conversation_id: str) -> LanguageChoice:
        return self._choose(message, self._previous_language(conversation_id))

    def _previous_language(self, conversation_id: str) -> str | None:
        return repository.conversation_language(self._factory, conversation_id)

    def _choose(self, message: MessageIn, previous: str | None) -> LanguageChoice:
        # An explicit language always wins: detecting it would be wasted work.
        detection = _NOT_DETECTED if message.language else self._detector.detect(message.text)
        return choose_language(
            detection,
            explicit=message.language,
            conversation_language=previous,
            channel_default=self._table.channel_default(message.channel),
        )
