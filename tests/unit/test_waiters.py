"""Waiters on `?wait=` are woken by an answer notice from another thread, and only their own."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import ExitStack

from persistence.answer_notices import LocalNotices, NoNotices, RedisNotices, started
from producers.waiters import SAFETY_RECHECK_S, AnswerWaiters
from tests.support.services import free_port


def test_a_notice_from_another_thread_wakes_the_waiter_of_that_job_only():
    notices = LocalNotices()
    waiters = AnswerWaiters(notices)
    waiters.start()

    async def scenario() -> tuple[bool, float]:
        with waiters.watch("job-1") as mine, waiters.watch("job-2") as other:
            started = time.perf_counter()
            threading.Timer(0.05, notices.announce, args=[["job-1"]]).start()
            await waiters.until_announced(mine, timeout_s=5)
            return other.is_set(), time.perf_counter() - started

    other_woken, waited = asyncio.run(scenario())
    # expect it woken by the notice (not by the safety re-check), the other job's waiter not
    assert not other_woken and waited < SAFETY_RECHECK_S
    assert waiters._waiting.jobs() == []  # both unregistered when their blocks ended


def test_without_notices_a_waiter_returns_at_its_timeout():
    waiters = AnswerWaiters(NoNotices())
    assert not waiters.live

    async def scenario() -> float:
        with waiters.watch("job-1") as event:
            started = time.perf_counter()
            await waiters.until_announced(event, timeout_s=0.05)
            return time.perf_counter() - started

    assert 0.04 < asyncio.run(scenario()) < SAFETY_RECHECK_S


def test_an_unreachable_redis_neither_fails_listening_nor_holds_up_announcing():
    # given notices on a Redis URL where nothing listens (Redis down when the API starts)
    notices = RedisNotices(f"redis://127.0.0.1:{free_port()}/0")
    notices.listen(lambda _job_id: None)  # expect no error: the listener retries on its own thread
    started = time.perf_counter()
    notices.announce(["job-1"])
    # expect announcing to return at once (it only queues), whatever Redis does
    assert time.perf_counter() - started < 0.05
    notices.close()


def test_a_lost_notice_is_made_up_by_one_recheck_for_every_waiter():
    asked: list[list[str]] = []

    def final_among(job_ids: list[str]) -> set[str]:
        asked.append(sorted(job_ids))
        return {"job-7"}  # stored, but its notice never came

    waiters = AnswerWaiters(LocalNotices(), final_among)
    waiters.start()

    async def scenario() -> tuple[float, list[bool]]:
        with ExitStack() as stack:
            events = [stack.enter_context(waiters.watch(f"job-{i}")) for i in range(50)]
            started = time.perf_counter()
            await waiters.until_announced(events[7], timeout_s=5)
            return time.perf_counter() - started, [e.is_set() for i, e in enumerate(events) if i != 7]

    try:
        waited, others = asyncio.run(scenario())
    finally:
        waiters.close()
    assert waited < SAFETY_RECHECK_S * 1.5  # woken by the re-check, not at its 5 s timeout
    assert not any(others)
    assert asked and asked[0] == sorted(f"job-{i}" for i in range(50))  # one query for all 50


def test_a_started_job_wakes_its_streams_but_not_the_callers_waiting_for_its_answer():
    notices = LocalNotices()
    waiters = AnswerWaiters(notices)
    waiters.start()

    async def scenario() -> tuple[bool, bool]:
        with waiters.watch("job-1", every_change=True) as stream, waiters.watch("job-1") as answer:
            notices.announce(started(["job-1"]))
            await asyncio.sleep(0.05)  # the wake-ups are scheduled on this loop
            return stream.is_set(), answer.is_set()

    assert asyncio.run(scenario()) == (True, False)
