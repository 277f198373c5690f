"""The store is the truth about jobs: one still unstarted long after it was published is
published again (see job_lifecycle.claim_unstarted). Every worker runs this on its health checks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from core.jobs import ChatJob
from persistence import job_lifecycle
from persistence.db import SessionFactory

log = logging.getLogger(__name__)


class Republisher:
    def __init__(self, factory: SessionFactory, publish: Callable[[ChatJob], None], after_s: float) -> None:
        self._factory = factory
        self._publish = publish
        self._after = timedelta(seconds=after_s)

    def run_once(self) -> int:
        """Re-publish the stalled jobs this process claimed; returns how many it published."""
        published = 0
        for job in job_lifecycle.claim_unstarted(self._factory, self._after):
            try:
                self._publish(job)
                published += 1
            except Exception as exc:  # claimed already: the next check after `after_s` tries again
                log.error("could not re-publish job %s: %s", job.job_id, exc)
        if published:
            log.warning(
                "re-published %d jobs still unstarted %s after they were published", published, self._after
            )
        return published
