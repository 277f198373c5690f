"""Rate buckets in real Redis: shared by every API process, timed by Redis's clock, and an
unreachable Redis lets requests through rather than failing them."""

from __future__ import annotations

import time

import pytest

from core.channels import RateLimit
from core.jobs import new_id
from persistence.rate_buckets import RedisBuckets
from tests.support.services import free_port

pytestmark = pytest.mark.integration


def test_two_processes_share_one_bucket(redis_url: str):
    key = f"test:{new_id()}"
    limit = RateLimit(per_second=1, burst=3)
    first, second = RedisBuckets(redis_url), RedisBuckets(redis_url)  # as two API processes
    verdicts = [bucket.take(key, limit) for bucket in (first, second, first, second)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert 0 < verdicts[-1].retry_after_s <= 1.0
    time.sleep(verdicts[-1].retry_after_s + 0.05)
    assert second.take(key, limit).allowed
    assert first.take(f"test:{new_id()}", limit).allowed  # another key, another bucket


def test_a_bucket_expires_once_it_would_be_full_again(redis_url: str):
    import redis

    key = f"test:{new_id()}"
    RedisBuckets(redis_url).take(key, RateLimit(per_second=10, burst=5))
    ttl_ms = redis.Redis.from_url(redis_url).pttl(f"babelq:rate:{key}")
    assert 0 < ttl_ms <= 1500  # 5 tokens at 10/s: full in 0.5 s, kept 1 s more


def test_an_unreachable_redis_lets_requests_through():
    buckets = RedisBuckets(f"redis://127.0.0.1:{free_port()}/0")
    assert all(buckets.take("k", RateLimit(per_minute=1, burst=1)).allowed for _ in range(3))
