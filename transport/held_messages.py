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
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery

from transport.queues import ANSWER_TASK

log = logging.getLogger(__name__)
_CHUNK = 1000  # messages read from Redis a call


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

    def kept_job_ids(self, queues: Collection[str]) -> set[str] | None:
        """The chat jobs whose messages Redis keeps anywhere for these queues: waiting on one of a
        queue's priority lists, or delivered and held unacked (a retry held for its backoff too).
        Read in chunks, so a deep queue costs this process time, not Redis's other clients.
        None on other brokers: they do not lose a delivered message when its consumer dies."""
        with self._redis_channel() as channel:
            if channel is None:
                return None
            held = channel.client.hscan_iter(channel.unacked_key, count=_CHUNK)
            kept = {job_id for _tag, raw in held if (job_id := _chat_job_id(_held_message(raw))) is not None}
            for key in (channel._q_for_pri(queue, pri) for queue in queues for pri in channel.priority_steps):
                kept.update(_waiting_job_ids(channel.client, key))
        return kept

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


def _waiting_job_ids(client: Any, key: str) -> Iterator[str]:
    """The chat jobs of the messages on one Redis list, read from its newest end in chunks: a push
    meanwhile shifts what is left to read towards the end (read twice at worst), and pops take
    from the far end, so no message that stays on the list is skipped."""
    start = 0
    while chunk := client.lrange(key, start, start + _CHUNK - 1):
        for raw in chunk:
            if (job_id := _chat_job_id(_payload(raw))) is not None:
                yield job_id
        start += _CHUNK


def _held_message(raw: bytes | str) -> Any:
    """The message of a held copy ([message, exchange, routing key])."""
    held = _payload(raw)
    return held[0] if isinstance(held, list) and held else None


def _chat_job_id(message: Any) -> str | None:
    headers = message.get("headers") if isinstance(message, dict) else None
    if not isinstance(headers, dict) or headers.get("task") != ANSWER_TASK:
        return None
    job_id = headers.get("id")
    return job_id if isinstance(job_id, str) else None


def _payload(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _held(tag: str, since: float, raw: bytes | str | None) -> HeldMessage | None:
    """The held copy as a HeldMessage; None for one acked meanwhile, or not a chat job this
    process can read (kombu's visibility timeout keeps that one)."""
    message = _held_message(raw) if raw is not None else None
    job_id = _chat_job_id(message)
    if message is None or job_id is None:
        return None
    return HeldMessage(tag=tag, job_id=job_id, held_since=since, eta=_epoch(message["headers"].get("eta")))


def _epoch(eta: Any) -> float | None:
    if not isinstance(eta, str):
        return None
    try:
        return datetime.fromisoformat(eta).timestamp()
    except ValueError:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
