"""A worker's heartbeat: every `interval_s` it records that it is alive, then re-publishes the jobs
of workers that stopped beating. On its own thread, so a long batch never makes it look dead."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from core.jobs import utcnow
from persistence import liveness
from persistence.db import SessionFactory

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self, factory: SessionFactory, worker: str, interval_s: float, reclaim: Callable[[], object]
    ) -> None:
        self._factory = factory
        self.worker = worker
        self._interval_s = interval_s
        self._reclaim = reclaim
        self._started_at: datetime = utcnow()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="babelq-heartbeat", daemon=True)

    def start(self) -> None:
        """Beat once now (before this worker takes a job), then on the thread."""
        self.once()
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and say so (a clean stop: nothing this worker still holds waits for it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        try:
            liveness.forget(self._factory, self.worker)
        except Exception as exc:  # its beat goes stale instead
            log.warning("could not remove the heartbeat of %s: %s", self.worker, exc)

    def once(self) -> None:
        for chore in (self._beat, self._reclaim):
            try:
                chore()
            except Exception as exc:  # the store may be down for a while: beat again next time
                log.warning(
                    "heartbeat of %s: %s failed: %s", self.worker, getattr(chore, "__name__", chore), exc
                )

    def _beat(self) -> None:
        liveness.beat(self._factory, self.worker, self._started_at)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.once()
