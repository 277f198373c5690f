"""Callers waiting on `?wait=` for their job's outcome, woken by an answer notice.

A waiter registers before it first reads the store, so a notice cannot slip between the read and
the wait. The notice only says "look again": the store is read for the answer, and a waiter also
looks again every SAFETY_RECHECK_S in case a notice was lost (Redis pub/sub does not queue).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from persistence.answer_notices import AnswerNotices

SAFETY_RECHECK_S = 1.0


class AnswerWaiters:
    """Waiting callers by job id, each an asyncio.Event set from the notice listener's thread."""

    def __init__(self, notices: AnswerNotices) -> None:
        self.live = notices.live
        self._notices = notices
        self._waiting: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Hear notices from now on (the API's start-up: one listener a process)."""
        self._notices.listen(self.wake)

    def wake(self, job_id: str) -> None:
        with self._lock:
            waiting = list(self._waiting.get(job_id, ()))
        for loop, event in waiting:
            with suppress(RuntimeError):  # that caller's event loop has closed: nobody to wake
                loop.call_soon_threadsafe(event.set)

    @contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set when `job_id` is announced, for as long as the block runs."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(job_id, []).append(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                entries = self._waiting[job_id]
                entries.remove(entry)
                if not entries:
                    del self._waiting[job_id]

    async def until_announced(self, event: asyncio.Event, timeout_s: float) -> None:
        """Return when the event is set or after `timeout_s` (the safety re-check), then reset it."""
        with suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=min(timeout_s, SAFETY_RECHECK_S))
        event.clear()
