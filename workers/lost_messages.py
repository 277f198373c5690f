"""Messages Redis lost with a worker that died, found from the store and published again.

kombu's Redis transport takes a message off its queue with BRPOP and only then notes it as held
(unacked): a worker killed between the two, or before it has even read BRPOP's reply off its
socket, takes the message with it, and its job stays `queued` in the store with no copy left in
Redis. No kombu or Redis feature closes that window for us: kombu 5.7 pops with one BRPOP across
every queue and priority list a worker serves, and Redis's atomic moves (LMOVE, BLMOVE) take
from one list only, so a reliable pop would mean writing our own transport.

The store knows better. When a worker is found dead (its heartbeat older than
BABELQ_WORKER_DEAD_AFTER_S), the one living worker that claims its death (persistence/liveness.
claim_deaths) lists the jobs still `queued` that were published before the death, and reads every
place Redis keeps a chat message (each queue's priority lists, the unacked hash). The jobs found in
none are suspects. A message can be between two places for a moment (popped by a living worker
and not noted yet, or given back from the unacked hash to its list), so the suspects are read
again at the next beat; those still found nowhere, still `queued` and not published since, are
claimed and published again. A job that was in fact still in flight costs a second run at worst:
answers are stored once.

The cost is paid on a death only (every beat otherwise asks the store one small UPDATE): one
store query and a read of the queues' lists, both in proportion to the jobs waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from core.jobs import ChatJob
from persistence import job_lifecycle, liveness
from persistence.db import SessionFactory

log = logging.getLogger(__name__)


class KeptSource(Protocol):
    """Where the broker keeps chat messages (transport/held_messages.HeldMessages)."""

    def kept_job_ids(self, queues: Collection[str]) -> set[str] | None: ...


@dataclass(frozen=True)
class Suspects:
    """Jobs whose messages were found nowhere after a death, to be read again at `confirm_at`."""

    queues: dict[str, str]  # job id -> its queue
    cutoff: datetime  # they were last published before it (the death)
    confirm_at: float  # monotonic seconds


class LostMessages:
    def __init__(
        self,
        factory: SessionFactory,
        kept: KeptSource,
        *,
        dead_after_s: float,
        confirm_after_s: float,
        people_queues: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._kept = kept
        self._dead_after = timedelta(seconds=dead_after_s)
        self._confirm_after_s = confirm_after_s
        self._people_queues = people_queues  # no worker reads them: nothing there is lost
        self._clock = clock
        self._death: datetime | None = None  # claimed, not read yet
        self.suspects: Suspects | None = None

    def sweep(self) -> list[ChatJob]:
        """One step, on a heartbeat: confirm the suspects of an earlier death once their time has
        come (returning the jobs claimed for publishing again), else look for a new death. A step
        that fails (the store or Redis away) is taken again at the next beat, death and all."""
        if self.suspects is not None:
            if self._clock() < self.suspects.confirm_at:
                return []
            lost = self._confirmed(self.suspects)
            self.suspects = None
            return lost
        self._death = self._death or liveness.claim_deaths(self._factory, self._dead_after)
        if self._death is not None:
            self.suspects = self._suspects(self._death)
            self._death = None
        return []

    def _suspects(self, death: datetime) -> Suspects | None:
        queued = job_lifecycle.queued_before(self._factory, death, skip_queues=self._people_queues)
        missing = self._missing(queued)
        if not missing:
            return None
        log.warning("%d queued jobs have no message on the broker after a worker's death", len(missing))
        return Suspects(missing, death, self._clock() + self._confirm_after_s)

    def _confirmed(self, suspects: Suspects) -> list[ChatJob]:
        lost = self._missing(suspects.queues)
        return job_lifecycle.claim_lost(self._factory, list(lost), suspects.cutoff)

    def _missing(self, queued: dict[str, str]) -> dict[str, str]:
        """Of these jobs (id -> queue), those whose messages the broker keeps nowhere."""
        if not queued:
            return {}
        kept = self._kept.kept_job_ids(set(queued.values()))
        if kept is None:  # a broker that loses no delivered message
            return {}
        return {job_id: queue for job_id, queue in queued.items() if job_id not in kept}
