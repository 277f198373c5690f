"""The answer cache on real Redis, and through the whole path: a repeated first question is
answered by the producer, without a worker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from persistence.answer_cache import KEY_PREFIX, RedisAnswerCache
from producers.api import create_app
from tests.support.api import TESTCLIENT_TIMEOUTS, answered, in_process, roles
from tests.support.jobs import fresh_stack
from tests.support.processes import babelq_env, babelq_process, wait_until

pytestmark = [pytest.mark.integration, TESTCLIENT_TIMEOUTS]


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)
    return redis_url


def test_redis_cache_stores_with_ttl_caps_its_size_and_counts(clean_redis: str):
    cache = RedisAnswerCache(clean_redis, ttl_s=60, max_entries=3)
    for i in range(5):
        cache.put(f"{KEY_PREFIX}test:{i}", f"answer {i}")
    assert [cache.get(f"{KEY_PREFIX}test:{i}") for i in range(5)] == [
        None,
        None,
        "answer 2",
        "answer 3",
        "answer 4",
    ]
    ttl = redis.Redis.from_url(clean_redis).pttl(f"{KEY_PREFIX}test:4")
    assert 0 < ttl <= 60_000
    stats = cache.stats()
    assert (stats.backend, stats.hits, stats.misses, stats.entries) == ("redis", 3, 2, 3)


def test_a_repeated_first_question_is_answered_from_the_cache_without_a_worker(
    clean_redis: str, tiny_model_dir: Path, tmp_path: Path
):
    store_url = f"sqlite:///{tmp_path / 'babelq.db'}"
    values = dict(
        broker_url=clean_redis,
        redis_url=clean_redis,
        database_url=store_url,
        model=str(tiny_model_dir),
        max_new_tokens="6",
        var_dir=str(tmp_path / "var"),
    )
    stack = fresh_stack(values)
    log = tmp_path / "worker.log"
    with (
        babelq_process(["worker"], babelq_env(**values), log, ready_marker="ready."),
        TestClient(create_app(stack)) as client,
    ):
        api = in_process(client)
        first = answered(api.send("Where is my parcel?", language="en", wait=30))
        assert first.status == "done" and not first.cached
        # (the cache's stats have no client method: read raw)
        wait_until(lambda: client.get("/v1/cache").json()["entries"] == 1, 10, "the answer cached", log)
        received = log.read_text().count("received")
        # The same question, written differently, opening another conversation
        started = time.perf_counter()
        reply = api.send("  where is my PARCEL ", language="en")
        elapsed = time.perf_counter() - started
        second = answered(reply)  # a 200 at once: no wait asked, no worker involved
        assert second.cached is True and second.status == "done"
        assert second.answer == first.answer
        assert second.conversation_id != first.conversation_id
        assert elapsed < 0.1
        assert roles(api.conversation(second.conversation_id)) == ["user", "assistant"]
        # A follow-up in that conversation depends on its history: it goes to a worker
        follow_up = answered(
            api.send("Where is my parcel?", language="en", conversation_id=second.conversation_id, wait=30)
        )
        assert follow_up.cached is False
        time.sleep(0.5)
        assert log.read_text().count("received") == received + 1  # only the follow-up reached a worker
        assert client.get("/v1/cache").json() | {"entries": 1} == {
            "backend": "redis",
            "hits": 1,
            "misses": 1,
            "entries": 1,
        }
    stack.close()
