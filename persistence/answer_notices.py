"""Notices that a job's outcome is stored, so that a caller waiting for it (`?wait=`) wakes at
once instead of polling the store.

A notice is only a hint to look again: the store stays the truth, and a lost notice costs the
waiter its safety re-check (producers/waiters.py), never its answer. In-process in the embedded
stack (API and worker share the process), Redis pub/sub across processes, or the PostgreSQL
store's LISTEN/NOTIFY where there is no Redis; none otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg
import redis
from sqlalchemy.engine import make_url

from core.settings import Settings

log = logging.getLogger(__name__)
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
            for job_id in job_ids:
                listener(job_id)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def close(self) -> None:
        self._listeners.clear()


class RedisNotices:
    """One PUBLISH per stored batch of outcomes; one subscriber thread per listening process."""

    live = True

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._url = url
        self._thread: redis.client.PubSubWorkerThread | None = None

    def announce(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        try:
            self._redis.publish(CHANNEL, " ".join(job_ids))
        except redis.RedisError as exc:  # the waiters' safety re-check still finds the answers
            log.warning("could not announce %d stored answers: %s", len(job_ids), exc)

    def listen(self, listener: Listener) -> None:
        # Its own connection with no read timeout: a subscriber waits on the socket between notices.
        pubsub = redis.Redis.from_url(self._url).pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(**{CHANNEL: lambda message: _tell(message["data"], listener)})
        self._thread = pubsub.run_in_thread(sleep_time=1.0, daemon=True, exception_handler=_keep_going)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.stop()  # its loop closes the subscription within a second
            self._thread.join(timeout=2)
        self._redis.close()


class PostgresNotices:
    """LISTEN/NOTIFY on the PostgreSQL store, for a fleet with no Redis (RabbitMQ broker)."""

    live = True

    def __init__(self, database_url: str) -> None:
        # psycopg takes the plain libpq URL, without SQLAlchemy's "+psycopg" driver suffix.
        self._url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._speaker: psycopg.Connection[Any] | None = None
        self._speaker_lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def announce(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        try:
            with self._speaker_lock:
                if self._speaker is None or self._speaker.closed:
                    self._speaker = psycopg.connect(self._url, autocommit=True, connect_timeout=2)
                self._speaker.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, " ".join(job_ids)))
        except psycopg.Error as exc:  # the waiters' safety re-check still finds the answers
            log.warning("could not announce %d stored answers: %s", len(job_ids), exc)
            self._speaker = None

    def listen(self, listener: Listener) -> None:
        self._thread = threading.Thread(target=self._hear, args=(listener,), name="babelq-notices")
        self._thread.daemon = True
        self._thread.start()

    def _hear(self, listener: Listener) -> None:
        while not self._stopped.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=2) as connection:
                    connection.execute(f"LISTEN {PG_CHANNEL}")
                    while not self._stopped.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            _tell(notice.payload, listener)
            except psycopg.Error as exc:
                log.warning("answer notices: %s (retrying in 1 s)", exc)
                self._stopped.wait(1.0)

    def close(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        with self._speaker_lock:
            if self._speaker is not None:
                self._speaker.close()


def _tell(payload: str | bytes, listener: Listener) -> None:
    """A notice's payload is the announced job ids, separated by spaces."""
    for job_id in (payload.decode() if isinstance(payload, bytes) else payload).split():
        listener(job_id)


def _keep_going(exc: BaseException, _pubsub: object, _thread: object) -> None:
    """Redis away: say so, wait a moment, and let the next read reconnect and subscribe again."""
    log.warning("answer notices: %s (retrying in 1 s)", exc)
    time.sleep(1.0)


def open_answer_notices(settings: Settings) -> AnswerNotices:
    """The embedded stack's own in-process notices; else Redis (BABELQ_REDIS_URL, or a Redis
    broker); else the PostgreSQL store's LISTEN/NOTIFY; else none (waiters poll)."""
    if settings.embedded:
        return LocalNotices()
    url = settings.redis_url or (settings.broker_url if settings.broker_url.startswith("redis") else "")
    if url:
        return RedisNotices(url)
    if settings.store_url.startswith("postgresql"):
        return PostgresNotices(settings.store_url)
    return NoNotices()
