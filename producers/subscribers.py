"""Entries by job id, added and removed by the API's async callers and read from the threads
that hear notices: the registry behind answer waiters and partial-answer followers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Subscribers(Generic[T]):
    """Who waits on which job, safe to read from any thread."""

    def __init__(self) -> None:
        self._by_job: dict[str, list[T]] = {}
        self._lock = threading.Lock()

    def of(self, job_id: str) -> list[T]:
        """The job's entries now (a copy: they may leave while the caller walks it)."""
        with self._lock:
            return list(self._by_job.get(job_id, ()))

    def jobs(self) -> list[str]:
        """Every job someone waits on now."""
        with self._lock:
            return list(self._by_job)

    @contextmanager
    def subscribed(self, job_id: str, entry: T) -> Iterator[T]:
        """`entry` is among the job's entries for as long as the block runs."""
        with self._lock:
            self._by_job.setdefault(job_id, []).append(entry)
        try:
            yield entry
        finally:
            with self._lock:
                entries = self._by_job[job_id]
                entries.remove(entry)
                if not entries:
                    del self._by_job[job_id]
