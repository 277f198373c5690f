"""`babelq bench --waiters N`: N callers holding `GET /v1/jobs/{id}?wait=` for the whole run, on
jobs stored as queued but never published (so never answered): what idle waiting callers cost the
API while the load runs beside them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from core.jobs import ChatJob, new_id
from persistence import job_lifecycle, user_turns
from persistence.db import SessionFactory

ARRIVALS_PER_S = 250.0
PARKED_TEXT = "babelq bench: a parked job that is never published"


@dataclass
class WaiterStats:
    requests: int = 0
    errors: int = 0


def park_jobs(factory: SessionFactory, queue: str, count: int) -> list[str]:
    """Store `count` queued jobs without publishing them."""
    jobs = [
        ChatJob(
            job_id=new_id(),
            conversation_id=new_id(),
            text=PARKED_TEXT,
            language="en",
            queue=queue,
            channel="bench",
        )
        for _ in range(count)
    ]
    user_turns.record_user_turns(factory, [user_turns.UserTurn(job, "explicit", True) for job in jobs])
    return [job.job_id for job in jobs]


def release_jobs(factory: SessionFactory, job_ids: list[str]) -> None:
    """End the parked jobs (failed), so that no worker re-publishes them later."""
    for job_id in job_ids:
        job_lifecycle.fail_job(factory, job_id, "a benchmark's parked job")


@contextmanager
def waiting_callers(url: str, job_ids: list[str], wait_s: float) -> Iterator[WaiterStats]:
    """One caller per job, each asking again as soon as its wait ends, until the block ends."""
    stats = WaiterStats()
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(_callers(url, job_ids, wait_s, stop, stats)),
        name="bench-waiters",
        daemon=True,
    )
    thread.start()
    try:
        yield stats
    finally:
        stop.set()
        thread.join(30)


async def _callers(
    url: str, job_ids: list[str], wait_s: float, stop: threading.Event, stats: WaiterStats
) -> None:
    limits = httpx.Limits(max_connections=len(job_ids), max_keepalive_connections=len(job_ids))
    async with httpx.AsyncClient(base_url=url, timeout=wait_s + 30, limits=limits) as client:
        callers = [
            asyncio.create_task(_caller(client, job_id, wait_s, stats, index=i, count=len(job_ids)))
            for i, job_id in enumerate(job_ids)
        ]
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for caller in callers:  # hang up at once, not at the end of each wait
            caller.cancel()
        await asyncio.gather(*callers, return_exceptions=True)


async def _caller(
    client: httpx.AsyncClient, job_id: str, wait_s: float, stats: WaiterStats, *, index: int, count: int
) -> None:
    """The `index`th of `count` callers: arrives in the first seconds (ARRIVALS_PER_S), and its first
    wait is cut to a share of a full one, so that the callers' next calls are spread over the
    wait, as independent callers' are, and do not all come back in the same second."""
    await asyncio.sleep(index / ARRIVALS_PER_S)
    wait = max(0.1, wait_s * (index + 1) / count)
    while True:
        try:
            response = await client.get(f"/v1/jobs/{job_id}", params={"wait": round(wait, 3)})
            wait = wait_s
            response.raise_for_status()
            stats.requests += 1
        except httpx.HTTPError:
            stats.errors += 1
            await asyncio.sleep(1)
