"""Callers waiting on `?wait=` for their job's outcome, woken by an answer notice.

A waiter registers before it first reads the store, so a notice cannot slip between the read and
the wait. The notice only says "look again": the store is read for the answer. In case a notice
was lost (Redis pub/sub does not queue), one thread asks the store every SAFETY_RECHECK_S which of
all the awaited jobs are final and wakes their waiters: one query a second however many callers
wait (500 waiters each looking again on their own cost 500 queries a second).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from persistence.answer_notices import STARTED, AnswerNotices
from producers.subscribers import Subscribers

log = logging.getLogger(__name__)
SAFETY_RECHECK_S = 1.0
FinalAmong = Callable[[list[str]], set[str]]


class AnswerWaiters:
    """Waiting callers by job id, each an asyncio.Event set from the notice listener's thread.
    `final_among(job_ids)` names those of the jobs that are final (the safety re-check)."""

    def __init__(self, notices: AnswerNotices, final_among: FinalAmong | None = None) -> None:
        self.live = notices.live
        self._notices = notices
        self._final_among = final_among
        self._waiting: Subscribers[tuple[asyncio.AbstractEventLoop, asyncio.Event, bool]] = Subscribers()
        self._stopped = threading.Event()
        self._rechecker: threading.Thread | None = None

    def start(self) -> None:
        """Hear notices from now on (the API's start-up: one listener a process), and re-check."""
        self._notices.listen(self.wake)
        if self._final_among is not None:
            self._rechecker = threading.Thread(target=self._recheck_loop, name="babelq-recheck", daemon=True)
            self._rechecker.start()

    def close(self) -> None:
        self._stopped.set()
        if self._rechecker is not None:
            self._rechecker.join(timeout=5)

    def _recheck_loop(self) -> None:
        while not self._stopped.wait(SAFETY_RECHECK_S):
            self.recheck()

    def recheck(self) -> None:
        """Wake the waiters of every awaited job the store holds as final now."""
        awaited = self._waiting.jobs()
        if not awaited or self._final_among is None:
            return
        try:
            final = self._final_among(awaited)
        except Exception as exc:  # the store is down: the waiters' own timeouts still end them
            log.warning("could not re-check %d awaited jobs: %s", len(awaited), exc)
            return
        for job_id in final:
            self.wake(job_id)

    def wake(self, notice: str) -> None:
        """A job was announced: as ended (its id), or as started (STARTED + its id: only the
        watchers of every change are woken)."""
        started = notice.startswith(STARTED)
        job_id = notice[len(STARTED) :] if started else notice
        for loop, event, every_change in self._waiting.of(job_id):
            if every_change or not started:
                with suppress(RuntimeError):  # that caller's event loop has closed: nobody to wake
                    loop.call_soon_threadsafe(event.set)

    @contextmanager
    def watch(self, job_id: str, every_change: bool = False) -> Iterator[asyncio.Event]:
        """An event set when `job_id` is announced as ended (with `every_change`, also when it
        starts), for as long as the block runs."""
        entry = (asyncio.get_running_loop(), asyncio.Event(), every_change)
        with self._waiting.subscribed(job_id, entry):
            yield entry[1]

    async def until_announced(self, event: asyncio.Event, timeout_s: float) -> None:
        """Return when the event is set or after `timeout_s`, then reset it. Without the shared
        re-check, return after SAFETY_RECHECK_S at the latest, for the caller to look again."""
        if self._rechecker is None:
            timeout_s = min(timeout_s, SAFETY_RECHECK_S)
        with suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=timeout_s)
        event.clear()
