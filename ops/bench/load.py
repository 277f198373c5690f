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
Sender = Callable[[str], tuple[str, bool]]
"""Sends one text; returns its job id and whether its answer came back with it (`?wait=`)."""


@dataclass(frozen=True)
class Sent:
    """One job the benchmark sent, and when (wall clock, to compare with the store's times)."""

    job_id: str
    sent_at: datetime
    heard_at: datetime | None = None  # when a waiting send heard the job's answer


@dataclass
class LoadResult:
    sent: list[Sent]
    errors: list[str]


def _text(texts: Sequence[str], i: int) -> str:
    return texts[i % len(texts)]


def drive(
    send: Sender, texts: Sequence[str], schedule: Sequence[float], progress: Progress, threads: int = 16
) -> LoadResult:
    """Send every message at its scheduled time (open loop: sends never wait for answers).

    `send(text)` runs on a pool of threads, so a slow send delays no other; threads
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


def _timed(send: Sender, text: str) -> Sent:
    sent_at = utcnow()
    job_id, answered = send(text)
    return Sent(job_id, sent_at, utcnow() if answered else None)


def _collect(future: Future[Sent], result: LoadResult) -> None:
    try:
        result.sent.append(future.result())
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")


def http_sender(url: str, wait_s: float = 0) -> Sender:
    """POST /v1/messages with one keep-alive client per sending thread; with `wait_s`, each send
    waits for its answer (`?wait=`)."""
    local = threading.local()
    params = {"wait": wait_s} if wait_s else {}

    def send(text: str) -> tuple[str, bool]:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=60 + wait_s)
        response = local.client.post("/v1/messages", params=params, json={"text": text, "channel": "bench"})
        response.raise_for_status()
        return str(response.json()["job_id"]), response.status_code == 200  # 200: final, 202: queued

    return send


def publish_sender(intake: Intake) -> Sender:
    """Submit through the producer's Intake: store the user turn, publish to the broker."""
    return lambda text: (intake.submit(MessageIn(text=text, channel="bench")).job.job_id, False)
