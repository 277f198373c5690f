"""Listening to a channel until told to stop, reconnecting after failures: the shared half of
answer notices and partial answers (each decodes its own payloads)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)
Payload = Callable[[str | bytes], None]


class NamedThreads:
    """Daemon threads one per name (a sender, a listener), started on first use and again if
    one died, so that work handed to it never piles up behind a dead thread."""

    def __init__(self) -> None:
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def ensure(self, name: str, target: Callable[[], None]) -> None:
        with self._lock:
            running = self._threads.get(name)
            if running is None or not running.is_alive():
                thread = threading.Thread(target=target, name=name, daemon=True)
                self._threads[name] = thread
                thread.start()

    def join(self, timeout_s: float) -> None:
        for thread in list(self._threads.values()):
            thread.join(timeout=timeout_s)


def keep_listening(
    listen_once: Callable[[], None], stopped: threading.Event, retry_s: float, what: str
) -> None:
    """Run `listen_once` again and again (it returns when stopped, raises when its connection
    fails) until `stopped` is set: a service that is down costs its messages, never the caller."""
    while not stopped.is_set():
        try:
            listen_once()
        except Exception as exc:
            log.warning("%s: %s (listening again in %g s)", what, exc, retry_s)
            stopped.wait(retry_s)


def hear_redis(url: str, channel: str, on_payload: Payload, stopped: threading.Event) -> None:
    """Pass each message's payload on until `stopped` is set; raise when the connection fails
    (the caller listens again). Its own connection: a subscribed one can do nothing else, and
    the health check notices one that died without an error."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=10)
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    try:
        pubsub.subscribe(channel)
        while not stopped.is_set():
            message = pubsub.get_message(timeout=1.0)
            if message is not None:
                on_payload(message["data"])
    finally:
        pubsub.close()
        client.close()
