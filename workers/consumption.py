"""Stopping and resuming a worker's consumption of its queues from any thread.

Celery's consumer is not thread-safe: the change is queued with `consumer.call_soon` and made by
the consumer's own loop (the same path the `cancel_consumer` / `add_consumer` remote-control
commands take). While paused, messages stay on the broker for other workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


class ConsumptionSwitch:
    """Pause or resume one worker's queues; `attach` it to the Celery consumer once it exists."""

    def __init__(self, queues: Sequence[str]) -> None:
        self.queues = list(queues)
        self._consumer: Any = None
        self._consuming = True
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def consuming(self) -> bool:
        return self._consuming

    def attach(self, consumer: Any) -> None:
        self._consumer = consumer

    def pause(self) -> None:
        self._switch(False)

    def stop(self) -> None:
        """Pause for good (shutting down): a later resume() does nothing."""
        with self._lock:
            self._stopped = True
        self._switch(False)

    def resume(self) -> None:
        self._switch(True)

    def _switch(self, consume: bool) -> None:
        with self._lock:
            if self._consuming == consume or (consume and self._stopped):
                return
            self._consuming = consume
            consumer = self._consumer
        if consumer is None:
            return
        action = consumer.add_task_queue if consume else consumer.cancel_task_queue
        for queue in self.queues:
            consumer.call_soon(action, queue)
        log.warning("%s consuming %s", "resumed" if consume else "stopped", ", ".join(self.queues))
