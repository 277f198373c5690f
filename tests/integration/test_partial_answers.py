"""Partial answers across processes on a real Redis: marks that expire, texts heard by another
connection (only the latest of a burst need arrive), and a Redis that is down costs nothing."""

from __future__ import annotations

import itertools
import time

import pytest

from core.jobs import new_id
from core.settings import load_settings
from persistence.partial_answers import LocalPartials, NoPartials, RedisPartials, open_partial_answers
from tests.support.processes import wait_until
from tests.support.services import free_port

pytestmark = pytest.mark.integration


def test_a_mark_is_seen_by_another_process_until_it_expires(redis_url: str):
    api, worker = RedisPartials(redis_url), RedisPartials(redis_url)
    streamed, short, other = new_id(), new_id(), new_id()
    try:
        api.want(streamed, ttl_s=60)
        api.want(short, ttl_s=0.2)
        assert worker.wanted([streamed, short, other]) == {streamed, short}
        time.sleep(0.4)
        assert worker.wanted([streamed, short, other]) == {streamed}
        assert worker.wanted([]) == set()
    finally:
        api.close()
        worker.close()


def test_texts_reach_a_listener_and_the_last_one_always_arrives(redis_url: str):
    api, worker = RedisPartials(redis_url), RedisPartials(redis_url)
    job_id = new_id()
    heard: list[tuple[str, str]] = []
    api.listen(lambda job, text: heard.append((job, text)) if job == job_id else None)
    try:
        wait_until(lambda: _subscribed(worker, job_id, heard), 5, "the subscription")
        words = [f"palabra{index}" for index in range(200)]
        for count in range(1, len(words) + 1):  # a burst: the sender may skip to the latest
            worker.report(job_id, " ".join(words[:count]))
        wait_until(lambda: heard[-1][1] == " ".join(words), 5, "the last text")
        texts = [text for _, text in heard if text.startswith("palabra")]
        assert all(b.startswith(a) for a, b in itertools.pairwise(texts))  # in order
    finally:
        api.close()
        worker.close()


def _subscribed(worker: RedisPartials, job_id: str, heard: list[tuple[str, str]]) -> bool:
    """Pub/sub keeps nothing for a listener not yet subscribed: probe until one is heard."""
    worker.report(job_id, "probe")
    time.sleep(0.05)
    return bool(heard)


def test_an_unreachable_redis_costs_marks_and_texts_not_errors_nor_time(caplog):
    down = RedisPartials(f"redis://127.0.0.1:{free_port()}/0")
    try:
        down.want(new_id(), ttl_s=60)  # fails once and says so
        started = time.monotonic()
        for _ in range(50):  # a worker's batches meanwhile: not asked again for RETRY_S
            assert down.wanted([new_id()]) == set()
        assert time.monotonic() - started < 0.5
        down.report(new_id(), "hola")  # queued for the sender thread, which drops it
    finally:
        down.close()
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "streamed" in r.getMessage()]
    assert len(warnings) == 1 and "could not mark a job as streamed" in warnings[0].getMessage()


def test_what_carries_partial_answers_follows_the_settings(redis_url: str, amqp_url: str):
    assert isinstance(open_partial_answers(load_settings()), LocalPartials)  # the embedded stack
    assert isinstance(open_partial_answers(load_settings(broker_url=redis_url)), RedisPartials)
    assert isinstance(open_partial_answers(load_settings(broker_url=amqp_url)), NoPartials)
    with_redis = load_settings(broker_url=amqp_url, redis_url=redis_url)
    assert isinstance(open_partial_answers(with_redis), RedisPartials)
