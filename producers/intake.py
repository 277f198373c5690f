"""How a message becomes a queued job: route it, store the user turn, publish, undo on failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ops.errors import PublishError
from persistence import repository
from persistence.db import SessionFactory
from producers.messages import MessageIn
from routing.jobs import ChatJob, new_id
from routing.language import LanguageDetector
from routing.rules import LanguageChoice, choose_language
from routing.table import RoutingTable

Publish = Callable[[ChatJob], None]


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

    def submit(self, message: MessageIn) -> Submitted:
        """Store the user's turn, then publish; if publishing fails nothing is left behind."""
        conversation_id = message.conversation_id or new_id()
        choice = self.choose_language(message, conversation_id)
        route = self._table.route(choice.language)
        job = ChatJob(
            job_id=new_id(), conversation_id=conversation_id, channel=message.channel,
            user_ref=message.user_ref, text=message.text, language=route.language,
            queue=route.queue, profile=route.profile,
        )  # fmt: skip
        created = repository.record_user_turn(self._factory, job, choice.source)
        try:
            self._publish(job)
        except PublishError:
            repository.discard_unpublished(self._factory, job, created)
            raise
        return Submitted(job, choice.source)

    def choose_language(self, message: MessageIn, conversation_id: str) -> LanguageChoice:
        previous = repository.conversation_language(self._factory, conversation_id)
        return choose_language(
            self._detector.detect(message.text),
            explicit=message.language,
            conversation_language=previous,
            channel_default=self._table.channel_default(message.channel),
        )
