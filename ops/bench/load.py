"""Send a benchmark's jobs on schedule: through the HTTP API, or straight to the broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import httpx

from core.jobs import utcnow
from producers.intake import Intake
from producers.messages import MessageIn

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Sent:
    """One job the benchmark sent, and when (wall clock, to compare with the store's times)."""

    job_id: str
    sent_at: datetime


@dataclass
class LoadResult:
    sent: list[Sent]
    errors: list[str]


def _text(texts: Sequence[str], i: int) -> str:
    return texts[i % len(texts)]


def drive(send: Callable[[str], str], texts: Sequence[str], schedule: Sequence[float], progress: Progress,
          threads: int = 16) -> LoadResult:  # fmt: skip
    """Send every message at its scheduled time (open loop: sends never wait for answers).

    `send(text) -> job_id` runs on a pool of threads, so a slow send delays no other; threads
    with blocking clients outran one asyncio httpx client several times over on 2 cores.
    """
    result = LoadResult([], [])
    with ThreadPoolExecutor(threads, thread_name_prefix="bench-send") as pool:
        start = time.monotonic()
        futures: list[Future[Sent]] = []
        for i, at in enumerate(schedule):
            time.sleep(max(0.0, start + at - time.monotonic()))
            futures.append(pool.submit(_timed, send, _text(texts, i)))
        for future in futures:
            _collect(future, result)
            progress(1)
    return result


def _timed(send: Callable[[str], str], text: str) -> Sent:
    sent_at = utcnow()
    return Sent(send(text), sent_at)


def _collect(future: Future[Sent], result: LoadResult) -> None:
    try:
        result.sent.append(future.result())
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")


def http_sender(url: str) -> Callable[[str], str]:
    """POST /v1/messages with one keep-alive client per sending thread."""
    local = threading.local()

    def send(text: str) -> str:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=60)
        response = local.client.post("/v1/messages", json={"text": text, "channel": "bench"})
        response.raise_for_status()
        return str(response.json()["job_id"])

    return send


def publish_sender(intake: Intake) -> Callable[[str], str]:
    """Submit through the producer's Intake: store the user turn, publish to the broker."""
    return lambda text: intake.submit(MessageIn(text=text, channel="bench")).job.job_id
