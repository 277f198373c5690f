"""Chat messages a Redis broker holds for consumers that have not acked them.

kombu's Redis transport emulates acks: a delivered message waits in a hash (its delivery time in
an index beside it) until it is acked, and goes back to its queue only after the visibility timeout
(an hour by default), because kombu cannot tell a slow consumer from a dead one. babelq can: the
store says which jobs are running and on which worker, and heartbeats say which workers live. So
the re-publisher reads the messages held longer than a living worker ever holds one it has not
started (workers/republisher.py decides which) and gives them back with kombu's own restore.

Other brokers hand a dead consumer's messages on by themselves (RabbitMQ, when its connection
drops): for them there is nothing held to read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery

from transport.queues import ANSWER_TASK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldMessage:
    tag: str  # kombu's delivery tag: the key of the held copy
    job_id: str
    held_since: float  # epoch seconds, when it was delivered
    eta: float | None  # epoch seconds before which no worker starts it (a retry's backoff)


class HeldMessages:
    """The chat messages a Redis broker holds unacked for a Celery app; nothing on other brokers."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def older_than(self, age_s: float, limit: int = 100) -> list[HeldMessage]:
        """Up to `limit` chat messages delivered more than `age_s` seconds ago and not acked."""
        with self._redis_channel() as channel:
            if channel is None:
                return []
            tags = channel.client.zrangebyscore(
                channel.unacked_index_key, "-inf", time.time() - age_s, start=0, num=limit, withscores=True
            )
            if not tags:
                return []
            raws = channel.client.hmget(channel.unacked_key, [tag for tag, _ in tags])
        held = (_held(_text(tag), since, raw) for (tag, since), raw in zip(tags, raws, strict=True))
        return [message for message in held if message is not None]

    def give_back(self, tags: Sequence[str]) -> None:
        """Put each held copy back on its queue (kombu's restore, atomic: a copy that another
        process gave back or a consumer acked meanwhile is not given back twice)."""
        with self._redis_channel() as channel:
            if channel is None:
                return
            for tag in tags:
                try:
                    channel.qos.restore_by_tag(tag, client=channel.client)
                except Exception as exc:  # one bad copy does not stop the pass
                    log.error("could not give back held message %s: %s", tag, exc)

    @contextmanager
    def _redis_channel(self) -> Iterator[Any]:
        with self._app.pool.acquire(block=True) as connection:
            if connection.transport.driver_type != "redis":
                yield None
                return
            yield connection.default_channel


def _held(tag: str, since: float, raw: bytes | str | None) -> HeldMessage | None:
    """The held copy as a HeldMessage; None for one acked meanwhile or not a chat job."""
    if raw is None:
        return None
    try:
        message, _exchange, _routing_key = json.loads(raw)
        headers = message["headers"]
    except (ValueError, TypeError, KeyError):
        return None  # not a message this process can read: kombu's visibility timeout keeps it
    if headers.get("task") != ANSWER_TASK or not isinstance(headers.get("id"), str):
        return None
    return HeldMessage(tag=tag, job_id=headers["id"], held_since=since, eta=_epoch(headers.get("eta")))


def _epoch(eta: Any) -> float | None:
    if not isinstance(eta, str):
        return None
    try:
        return datetime.fromisoformat(eta).timestamp()
    except ValueError:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
