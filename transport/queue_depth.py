"""True queue depth: per queue, the messages waiting (ready) and those delivered to workers and not
acked yet (unacked: prefetched, or running). A backlog held in prefetch reads as zero on a
ready-only count (what Celery exporters report); babelq counts both.

- Redis: ready is the length of the queue's lists (kombu keeps one per priority step); unacked
  is counted from kombu's unacked hash by each message's routing key.
- RabbitMQ: both come from the management API (`BABELQ_RABBITMQ_MANAGEMENT_URL`, by default the
  broker's host on port 15672 with its credentials); without it, ready comes from a passive
  declare and unacked is not known (None).
- The embedded memory broker: ready from a passive declare; nothing is unacked across processes.

Exported by the API process alone (producers.stack), so that N workers do not count it N times.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Depth:
    queue: str
    ready: int | None
    unacked: int | None


class QueueDepths:
    def __init__(self, app: Celery, queues: Sequence[str], management_url: str = "") -> None:
        self._app = app
        self._queues = list(queues)
        self._management_url = management_url

    def read(self) -> list[Depth]:
        with self._app.connection_for_write() as connection:
            driver = connection.transport.driver_type
            if driver == "redis":
                return _redis_depths(connection.default_channel, self._queues)
            if driver == "amqp":
                api = self._management_url or _management_url_of(self._app.conf.broker_url)
                try:
                    return [_rabbitmq_depth(api, connection, queue) for queue in self._queues]
                except OSError as exc:
                    log.warning("RabbitMQ management API at %s: %s; unacked not known", _safe(api), exc)
            return [Depth(queue, _declared_ready(connection, queue), None) for queue in self._queues]


class QueueDepthCollector(Collector):
    """`babelq_queue_messages{queue, state="ready"|"unacked"}` at each scrape, and the letters on
    the dead-letter queue as `babelq_dead_letters`."""

    def __init__(self, depths: QueueDepths, dead_letter_queue: str) -> None:
        self._depths = depths
        self._dead_letter_queue = dead_letter_queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "babelq_queue_messages",
            "Messages on a queue: waiting (ready), or delivered and not acked.",
            labels=["queue", "state"],
        )
        try:
            depths = self._depths.read()
        except Exception as exc:  # a broker that is down: no depth this scrape, and say so
            log.warning("queue depth not read: %s", exc)
            depths = []
        dead = GaugeMetricFamily("babelq_dead_letters", "Letters waiting on the dead-letter queue.")
        for depth in depths:
            for state, value in (("ready", depth.ready), ("unacked", depth.unacked)):
                if value is not None:
                    family.add_metric([depth.queue, state], float(value))
            if depth.queue == self._dead_letter_queue and depth.ready is not None:
                dead.add_metric([], float(depth.ready))
        yield family
        yield dead


def _redis_depths(channel: Any, queues: Sequence[str]) -> list[Depth]:
    client = channel.client
    pipe = client.pipeline()
    for queue in queues:
        for priority in channel.priority_steps:
            pipe.llen(channel._q_for_pri(queue, priority))  # kombu's key for each priority step
    lengths = pipe.execute()
    steps = len(channel.priority_steps)
    unacked = _unacked_by_queue(client, channel.unacked_key)
    return [
        Depth(queue, sum(lengths[i * steps : (i + 1) * steps]), unacked.get(queue, 0))
        for i, queue in enumerate(queues)
    ]


def _unacked_by_queue(client: Any, key: str) -> dict[str, int]:
    """Held messages counted by routing key (a scan: the hash may be large)."""
    counts: dict[str, int] = {}
    for _tag, raw in client.hscan_iter(key, count=1000):
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, TypeError, IndexError):
            continue
        counts[routing_key] = counts.get(routing_key, 0) + 1
    return counts


def _rabbitmq_depth(api: str, connection: Any, queue: str) -> Depth:
    parts = urllib.parse.urlsplit(api)
    vhost = urllib.parse.quote(connection.virtual_host or "/", safe="")
    url = f"{_safe(api)}/api/queues/{vhost}/{urllib.parse.quote(queue, safe='')}"
    user, password = (
        urllib.parse.unquote(parts.username or "guest"),
        urllib.parse.unquote(parts.password or "guest"),
    )
    request = urllib.request.Request(url)
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # not declared yet
            return Depth(queue, 0, 0)
        raise
    return Depth(queue, int(body.get("messages_ready", 0)), int(body.get("messages_unacknowledged", 0)))


def _declared_ready(connection: Any, queue: str) -> int | None:
    try:
        _name, ready, _consumers = connection.default_channel.queue_declare(queue, passive=True)
    except Exception:  # not declared yet
        return None
    return int(ready)


def management_api(settings: Settings) -> str:
    """RabbitMQ's management API: BABELQ_RABBITMQ_MANAGEMENT_URL, else the broker's host."""
    return settings.rabbitmq_management_url or _management_url_of(settings.broker_url)


def _management_url_of(broker_url: str) -> str:
    """http://user:pass@host:15672 from amqp://user:pass@host:5672/vhost."""
    parts = urllib.parse.urlsplit(broker_url)
    credentials = f"{parts.username or 'guest'}:{parts.password or 'guest'}@"
    return f"http://{credentials}{parts.hostname or '127.0.0.1'}:15672"


def _safe(url: str) -> str:
    """The URL without its credentials."""
    parts = urllib.parse.urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"
