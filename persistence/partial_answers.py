"""Partial answers: a streamed job's answer so far, from the worker generating it to the API that
streams it (`token` events of GET /v1/jobs/{id}/events).

Only jobs someone streams are followed: the API marks a job as streamed (`want`, before it is
published when the caller posts with `"stream": true`, else when its stream opens), the worker
asks once per batch which of its jobs are marked (`wanted`) and reports only those rows' texts.
Like an answer notice, a partial text is a hint: a lost one costs a stream some token events,
never its answer (the `answer` event is read from the store). In-process in the embedded stack;
Redis across processes (a key with a time to live per mark, pub/sub for the texts); none where
there is no Redis (a stream then has status events and the answer).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import redis

from core.settings import Settings
from persistence import pubsub

log = logging.getLogger(__name__)
CHANNEL = "babelq:partial"
MARK_PREFIX = "babelq:streamed:"
SENDER = "babelq-partials-out"
LISTENER = "babelq-partials-in"
PartialListener = Callable[[str, str], None]
"""Called with (job_id, answer so far)."""


class PartialAnswers(Protocol):
    live: bool
    """False when nothing is ever streamed: streams carry status events and the answer only."""

    def want(self, job_id: str, ttl_s: float) -> None:
        """Mark the job as streamed for `ttl_s` seconds (its deadline, usually)."""
        ...

    def wanted(self, job_ids: Sequence[str]) -> set[str]:
        """Those of the jobs that are marked as streamed (set() when that cannot be known now)."""
        ...

    def report(self, job_id: str, text: str) -> None:
        """The job's answer so far (worker side); never blocks on the network."""
        ...

    def listen(self, listener: PartialListener) -> None:
        """Hear every reported text from now on, from another thread (API side)."""
        ...

    def close(self) -> None: ...


class NoPartials:
    """No shared service to carry partial texts: nothing is streamed."""

    live = False

    def want(self, job_id: str, ttl_s: float) -> None:
        pass

    def wanted(self, job_ids: Sequence[str]) -> set[str]:
        return set()

    def report(self, job_id: str, text: str) -> None:
        pass

    def listen(self, listener: PartialListener) -> None:
        pass

    def close(self) -> None:
        pass


class LocalPartials:
    """In-process: the embedded stack's worker tells its own API directly."""

    live = True

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._marks: dict[str, float] = {}  # job id -> when its mark expires
        self._listeners: list[PartialListener] = []
        self._lock = threading.Lock()

    def want(self, job_id: str, ttl_s: float) -> None:
        with self._lock:
            now = self._clock()
            self._marks = {job: until for job, until in self._marks.items() if until > now}
            self._marks[job_id] = now + ttl_s

    def wanted(self, job_ids: Sequence[str]) -> set[str]:
        now = self._clock()
        with self._lock:
            return {job_id for job_id in job_ids if self._marks.get(job_id, now) > now}

    def report(self, job_id: str, text: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(job_id, text)
            except Exception as exc:  # a lost stream update, never a failed generation
                log.warning("partial answer listener failed: %s", exc)

    def listen(self, listener: PartialListener) -> None:
        self._listeners.append(listener)

    def close(self) -> None:
        self._listeners.clear()


class RedisPartials:
    """Marks as Redis keys that expire; texts through pub/sub, sent by a thread of their own that
    keeps only the latest text of each job (a slow Redis costs updates, not generation time)."""

    live = True
    RETRY_S = 1.0

    def __init__(self, url: str) -> None:
        self._url = url
        # Short timeouts and no retries: a mark or a text that cannot go now is dropped.
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=None)
        self._latest: dict[str, str] = {}
        self._outage = _Outage(self.RETRY_S)
        self._pending = threading.Condition()
        self._stopped = threading.Event()
        self._threads = pubsub.NamedThreads()

    def want(self, job_id: str, ttl_s: float) -> None:
        if self._outage.ongoing():
            return
        try:
            self._redis.set(MARK_PREFIX + job_id, 1, px=max(1, int(ttl_s * 1000)))
            self._outage.over()
        except redis.RedisError as exc:
            self._outage.began("could not mark a job as streamed", exc)

    def wanted(self, job_ids: Sequence[str]) -> set[str]:
        """Asked at every batch: while Redis is away, not even asked (each try could wait out
        the socket timeout) until RETRY_S after the last failure."""
        if not job_ids or self._outage.ongoing():
            return set()
        try:
            marks = self._redis.mget([MARK_PREFIX + job_id for job_id in job_ids])
            self._outage.over()
        except redis.RedisError as exc:
            self._outage.began("could not read which jobs are streamed", exc)
            return set()
        return {job_id for job_id, mark in zip(job_ids, marks, strict=True) if mark is not None}

    def report(self, job_id: str, text: str) -> None:
        with self._pending:
            self._threads.ensure(SENDER, self._send_loop)  # (again, if it died: texts must not pile up)
            self._latest[job_id] = text
            self._pending.notify()

    def listen(self, listener: PartialListener) -> None:
        self._threads.ensure(LISTENER, lambda: self._listen_loop(listener))  # one subscription a process

    def close(self) -> None:
        self._stopped.set()
        with self._pending:
            self._pending.notify()
        self._threads.join(3)
        self._redis.close()

    def _send_loop(self) -> None:
        while not self._stopped.is_set():
            with self._pending:
                while not self._latest and not self._stopped.is_set():
                    self._pending.wait()
                batch, self._latest = self._latest, {}
            for job_id, text in batch.items():
                self._send(job_id, text)

    def _send(self, job_id: str, text: str) -> None:
        if self._outage.ongoing():
            return
        try:
            self._redis.publish(CHANNEL, json.dumps({"job_id": job_id, "text": text}))
            self._outage.over()
        except Exception as exc:  # whatever it is, the sender thread lives on
            self._outage.began("could not send a partial answer", exc)

    def _listen_loop(self, listener: PartialListener) -> None:
        pubsub.keep_listening(lambda: self._hear(listener), self._stopped, self.RETRY_S, "partial answers")

    def _hear(self, listener: PartialListener) -> None:
        pubsub.hear_redis(self._url, CHANNEL, lambda payload: _tell(payload, listener), self._stopped)


class _Outage:
    """Redis being away, told once (then quietly) and not asked again for `retry_s`."""

    def __init__(self, retry_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._retry_s = retry_s
        self._clock = clock
        self._until = 0.0
        self._told = False

    def ongoing(self) -> bool:
        return self._clock() < self._until

    def began(self, what: str, exc: Exception) -> None:
        level = logging.DEBUG if self._told else logging.WARNING
        log.log(level, "%s: %s (nothing is streamed meanwhile)", what, exc)
        self._told = True
        self._until = self._clock() + self._retry_s

    def over(self) -> None:
        self._told = False


def _tell(payload: str | bytes, listener: PartialListener) -> None:
    try:
        heard = json.loads(payload)
        job_id, text = heard["job_id"], heard["text"]
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignored a malformed partial answer: %s", exc)
        return
    listener(str(job_id), str(text))


def open_partial_answers(settings: Settings) -> PartialAnswers:
    """In-process for the embedded stack; else Redis (BABELQ_REDIS_URL, or a Redis broker); else
    none. (PostgreSQL's NOTIFY is kept for answer notices: a text every few tokens of every
    streamed job is no load for a store.)"""
    if settings.embedded:
        return LocalPartials()
    url = settings.shared_redis_url
    return RedisPartials(url) if url else NoPartials()
