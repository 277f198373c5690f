"""Streams following a job's answer as it is generated: partial texts heard from the workers
(persistence.partial_answers) handed to the event loops of the streams that follow that job."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from persistence.partial_answers import PartialAnswers
from producers.subscribers import Subscribers


@dataclass(frozen=True)
class Progress:
    """An answer so far, and what it adds to the text the stream showed before (the whole text
    when it does not extend it, e.g. after a retry began the answer again)."""

    text: str
    delta: str


class Follower:
    """One stream's view of its job's answer so far; lives on that stream's event loop."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self._latest = ""
        self._shown = ""

    def offer(self, text: str) -> None:
        self._latest = text
        self.changed.set()

    def take(self) -> Progress | None:
        """What is new since the last take; None when nothing is."""
        self.changed.clear()
        if self._latest == self._shown:
            return None
        before, self._shown = self._shown, self._latest
        delta = self._latest[len(before) :] if self._latest.startswith(before) else self._latest
        return Progress(self._latest, delta)


class PartialFeed:
    """Every stream following a job, by job id; one listener per API process."""

    def __init__(self, partials: PartialAnswers) -> None:
        self.live = partials.live
        self._partials = partials
        self._followers: Subscribers[tuple[asyncio.AbstractEventLoop, Follower]] = Subscribers()

    def start(self) -> None:
        self._partials.listen(self._heard)

    def want(self, job_id: str, ttl_s: float) -> None:
        """Ask the workers for the job's partial texts (blocking: run it off the event loop)."""
        self._partials.want(job_id, ttl_s)

    @contextmanager
    def follow(self, job_id: str) -> Iterator[Follower]:
        """A follower offered the job's texts for as long as the block runs."""
        entry = (asyncio.get_running_loop(), Follower())
        with self._followers.subscribed(job_id, entry):
            yield entry[1]

    def _heard(self, job_id: str, text: str) -> None:
        for loop, follower in self._followers.of(job_id):
            with suppress(RuntimeError):  # that stream's event loop has closed: nobody to tell
                loop.call_soon_threadsafe(follower.offer, text)
