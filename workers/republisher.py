"""The store is the truth about jobs. Every worker re-publishes, from the store:

- jobs still unstarted long after they were published (a broker lost the message; see
  job_lifecycle.claim_unstarted), on its health checks;
- jobs left `running` by a worker that stopped beating (killed, lost host; see
  job_lifecycle.claim_orphans), on every heartbeat, so that they run again within a minute
  instead of waiting for the broker's visibility timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from core.jobs import ChatJob
from persistence import job_lifecycle
from persistence.db import SessionFactory

log = logging.getLogger(__name__)


class Republisher:
    def __init__(
        self,
        factory: SessionFactory,
        publish: Callable[[ChatJob], None],
        after_s: float,
        dead_after_s: float = 30.0,
        grace: timedelta = timedelta(minutes=5),
    ) -> None:
        self._factory = factory
        self._publish = publish
        self._after = timedelta(seconds=after_s)
        self._dead_after = timedelta(seconds=dead_after_s)
        self._grace = grace  # a job running when its deadline passes may still be answered

    def run_once(self) -> int:
        """Re-publish the stalled jobs this process claimed; returns how many it published."""
        jobs = job_lifecycle.claim_unstarted(self._factory, self._after)
        return self._publish_all(jobs, f"still unstarted {self._after} after they were published")

    def run_orphans(self) -> int:
        """Re-publish the jobs of dead workers this process claimed; returns how many it published."""
        jobs = job_lifecycle.claim_orphans(self._factory, self._dead_after)
        return self._publish_all(jobs, f"left running by workers silent for over {self._dead_after}")

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
