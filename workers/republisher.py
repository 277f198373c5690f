"""The store is the truth about jobs. Every worker re-publishes, from the store:

- jobs still unstarted long after they were published (a broker lost the message; see
  job_lifecycle.claim_unstarted), on its health checks;
- jobs left `running` by a worker that stopped beating (killed, lost host; see
  job_lifecycle.claim_orphans), on every heartbeat, so that they run again within a minute
  instead of waiting for the broker's visibility timeout;
- before those, on the same beat, the messages a Redis broker has held unacked for longer than a
  living worker holds one (transport/held_messages.py) whose jobs no living worker runs: a dead
  worker's jobs it had received and not started yet (they are still `queued`), a retry it held
  for its backoff, and its running jobs. They go back to their queues as they are (kombu's
  restore), within a minute of the death instead of the visibility timeout's hour;
- after those, the jobs whose messages Redis lost with the dead worker (popped, never noted as
  held: workers/lost_messages.py), a beat later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

from core.jobs import ChatJob
from persistence import job_lifecycle
from persistence.db import SessionFactory
from workers.lost_messages import KeptSource, LostMessages

log = logging.getLogger(__name__)
# A lost message's suspects are read again at the first beat this long after they were found: a
# message moving between two places in Redis at the first read is in one of them by then.
CONFIRM_AFTER_S = 2.0


class Held(Protocol):
    """A held (delivered, unacked) message: see transport/held_messages.HeldMessage."""

    @property
    def tag(self) -> str: ...
    @property
    def job_id(self) -> str: ...
    @property
    def eta(self) -> float | None: ...


class HeldSource(KeptSource, Protocol):
    """The broker's messages held unacked, and where it keeps the rest
    (transport/held_messages.HeldMessages)."""

    def older_than(self, age_s: float, limit: int = 100) -> Sequence[Held]: ...
    def give_back(self, tags: Sequence[str]) -> None: ...


class Republisher:
    def __init__(
        self,
        factory: SessionFactory,
        publish: Callable[[ChatJob], None],
        *,
        after_s: float,
        dead_after_s: float = 30.0,
        grace: timedelta = timedelta(minutes=5),
        held: HeldSource | None = None,
        people_queues: Sequence[str] = (),
    ) -> None:
        self._people_queues = people_queues  # jobs there wait for a person, not for a lost message
        self._factory = factory
        self._publish = publish
        self._after = timedelta(seconds=after_s)
        self._dead_after = timedelta(seconds=dead_after_s)
        self._grace = grace  # a job running when its deadline passes may still be answered
        self._held = held
        self._lost = (
            LostMessages(
                factory,
                held,
                dead_after_s=dead_after_s,
                confirm_after_s=CONFIRM_AFTER_S,
                people_queues=people_queues,
            )
            if held
            else None
        )

    def run_once(self) -> int:
        """Re-publish the stalled jobs this process claimed; returns how many it published."""
        jobs = job_lifecycle.claim_unstarted(self._factory, self._after, skip_queues=self._people_queues)
        return self._publish_all(jobs, f"still unstarted {self._after} after they were published")

    def run_orphans(self) -> int:
        """Give back the held messages no living worker needs, re-publish the jobs of dead workers
        this process claimed, then those whose messages Redis lost with a dead worker; returns how
        many jobs it sent back to their queues."""
        given_back = self.give_back_held()
        jobs = job_lifecycle.claim_orphans(self._factory, self._dead_after)
        orphans = self._publish_all(jobs, f"left running by workers silent for over {self._dead_after}")
        lost = self._lost.sweep() if self._lost is not None else []
        return given_back + orphans + self._publish_all(lost, "whose messages Redis lost with a dead worker")

    def give_back_held(self) -> int:
        """Messages held unacked for over the dead-worker window (and past their ETA by as much)
        whose jobs are queued or running on a silent worker go back to their queues."""
        if self._held is None:
            return 0
        age_s = self._dead_after.total_seconds()
        latest_eta = time.time() - age_s
        held = [m for m in self._held.older_than(age_s) if m.eta is None or m.eta < latest_eta]
        stranded = set(job_lifecycle.stranded(self._factory, [m.job_id for m in held], self._dead_after))
        tags = [m.tag for m in held if m.job_id in stranded]
        if not tags:
            return 0
        self._held.give_back(tags)
        job_lifecycle.release_orphans(self._factory, list(stranded), self._dead_after)
        log.warning(
            "gave back %d messages held for over %s by workers that never acked them",
            len(tags),
            self._dead_after,
        )
        return len(tags)

    def expire_overdue(self) -> int:
        """The watchdog: end the jobs long past their deadlines that nothing answered."""
        expired = job_lifecycle.expire_overdue(self._factory, self._grace)
        if expired:
            log.warning(
                "expired %d jobs never answered by %s after their deadline", len(expired), self._grace
            )
        return len(expired)

    def _publish_all(self, jobs: list[ChatJob], why: str) -> int:
        published = 0
        for job in jobs:
            try:
                self._publish(job)
                published += 1
            except Exception as exc:  # claimed (queued) already: the unstarted check tries again
                log.error("could not re-publish job %s: %s", job.job_id, exc)
        if published:
            log.warning("re-published %d jobs %s", published, why)
        return published
