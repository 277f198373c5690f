"""Notices that a job's outcome is stored, so that a caller waiting for it (`?wait=`) wakes at
once instead of polling the store.

A notice is only a hint to look again: the store stays the truth, and a lost notice costs the
waiter its safety re-check (producers/waiters.py), never its answer. In-process in the embedded
stack (API and worker share the process), Redis pub/sub across processes, or the PostgreSQL
store's LISTEN/NOTIFY where there is no Redis; none otherwise.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg
import redis
from sqlalchemy.engine import make_url

from core.settings import Settings
from persistence import pubsub

log = logging.getLogger(__name__)
# A started job's id is announced with this prefix: streams show `running`, while callers that
# wait for an answer are not woken for it (they would only find the job unfinished).
STARTED = "~"
CHANNEL = "babelq:answered"
PG_CHANNEL = "babelq_answered"
Listener = Callable[[str], None]


class AnswerNotices(Protocol):
    """Announce stored outcomes (worker side); hear them (API side)."""

    live: bool
    """False when nothing is ever announced: waiters must poll the store."""

    def announce(self, job_ids: Sequence[str]) -> None: ...

    def listen(self, listener: Listener) -> None:
        """Call `listener(job_id)` for every announced job from now on (from another thread)."""
        ...

    def close(self) -> None: ...


class NoNotices:
    """Nothing to announce through (e.g. RabbitMQ and no Redis): waiters poll the store."""

    live = False

    def announce(self, job_ids: Sequence[str]) -> None:
        pass

    def listen(self, listener: Listener) -> None:
        pass

    def close(self) -> None:
        pass


class LocalNotices:
    """In-process: the embedded stack's worker tells its own API directly."""

    live = True

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def announce(self, job_ids: Sequence[str]) -> None:
        for listener in list(self._listeners):
            try:
                for job_id in job_ids:
                    listener(job_id)
            except Exception as exc:  # a notice is a hint: never a reason to fail a stored answer
                log.warning("answer notice listener failed: %s", exc)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def close(self) -> None:
        self._listeners.clear()


class _RemoteNotices:
    """Notices through a service another process also reaches. Announcing only queues the ids: a
    thread of its own sends them, so a slow or absent service never holds up storing answers.
    Listening runs on its own thread too, reconnecting until closed: a service that is down when
    the API starts (or later) costs waiters their notices, never the API."""

    live = True
    RETRY_S = 1.0

    def __init__(self) -> None:
        self._outbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._threads = pubsub.NamedThreads()

    def announce(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            self._threads.ensure("babelq-announcer", self._send_loop)
            self._outbox.put(" ".join(job_ids))

    def listen(self, listener: Listener) -> None:
        self._threads.ensure("babelq-notices", lambda: self._listen_loop(listener))

    def close(self) -> None:
        self._stopped.set()
        self._outbox.put("")  # wakes the announcer
        self._threads.join(3)

    def _send_loop(self) -> None:
        while not self._stopped.is_set():
            payload = self._outbox.get()
            while not self._outbox.empty() and len(payload) < 60_000:  # a backlog goes as one notice
                payload = f"{payload} {self._outbox.get()}".strip()
            if payload:
                try:
                    self._send(payload)
                except Exception as exc:  # the waiters' safety re-check still finds the answers
                    log.warning("could not announce stored answers: %s", exc)

    def _listen_loop(self, listener: Listener) -> None:
        pubsub.keep_listening(lambda: self._hear(listener), self._stopped, self.RETRY_S, "answer notices")

    def _send(self, payload: str) -> None:
        raise NotImplementedError

    def _hear(self, listener: Listener) -> None:
        """Subscribe and pass notices on until closed (or the connection fails: raise)."""
        raise NotImplementedError


class RedisNotices(_RemoteNotices):
    """Redis pub/sub: a PUBLISH per batch of stored outcomes, a subscriber per listening process."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        # No retries: an announcement that cannot go now is dropped, not queued behind a dead Redis.
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=None)

    def _send(self, payload: str) -> None:
        self._redis.publish(CHANNEL, payload)

    def _hear(self, listener: Listener) -> None:
        pubsub.hear_redis(self._url, CHANNEL, lambda payload: _tell(payload, listener), self._stopped)

    def close(self) -> None:
        super().close()
        self._redis.close()


class PostgresNotices(_RemoteNotices):
    """LISTEN/NOTIFY on the PostgreSQL store, for a fleet with no Redis (RabbitMQ broker)."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        # psycopg takes the plain libpq URL, without SQLAlchemy's "+psycopg" driver suffix.
        self._url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._speaker: psycopg.Connection[Any] | None = None

    def _send(self, payload: str) -> None:
        try:
            if self._speaker is None or self._speaker.closed:
                self._speaker = psycopg.connect(self._url, autocommit=True, connect_timeout=2)
            self._speaker.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, payload))
        except Exception:
            if self._speaker is not None:
                self._speaker.close()
            self._speaker = None
            raise

    def _hear(self, listener: Listener) -> None:
        with psycopg.connect(self._url, autocommit=True, connect_timeout=2) as connection:
            connection.execute(f"LISTEN {PG_CHANNEL}")
            while not self._stopped.is_set():
                for notice in connection.notifies(timeout=1.0):
                    _tell(notice.payload, listener)

    def close(self) -> None:
        super().close()
        if self._speaker is not None:
            self._speaker.close()


def started(job_ids: Sequence[str]) -> list[str]:
    """What to announce for jobs that have just started (see STARTED)."""
    return [STARTED + job_id for job_id in job_ids]


def _tell(payload: str | bytes, listener: Listener) -> None:
    """A notice's payload is the announced job ids (STARTED-prefixed when started), separated
    by spaces."""
    for job_id in (payload.decode() if isinstance(payload, bytes) else payload).split():
        listener(job_id)


def open_answer_notices(settings: Settings) -> AnswerNotices:
    """The embedded stack's own in-process notices; else Redis (BABELQ_REDIS_URL, or a Redis
    broker); else the PostgreSQL store's LISTEN/NOTIFY; else none (waiters poll)."""
    if settings.embedded:
        return LocalNotices()
    url = settings.shared_redis_url
    if url:
        return RedisNotices(url)
    if settings.store_url.startswith("postgresql"):
        return PostgresNotices(settings.store_url)
    return NoNotices()
