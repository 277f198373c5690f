"""Token buckets for rate limits: in Redis, shared by every API process, or in this process
(the embedded stack). Both run the same arithmetic (`take`); Redis runs it as one Lua script,
on its own clock, so that API processes on several hosts share each bucket exactly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from core.channels import RateLimit

log = logging.getLogger(__name__)
KEY_PREFIX = "babelq:rate:"
LOCAL_BUCKETS_MAX = 100_000  # the least recently used go first (a full bucket is no loss)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0


def take(tokens: float, stamp: float, now: float, limit: RateLimit) -> tuple[float, Verdict]:
    """One request against a bucket holding `tokens` at `stamp`: the tokens left at `now`, and
    whether it may pass (else how long until a token is back)."""
    refill = limit.refill_per_s
    tokens = min(float(limit.burst), tokens + max(0.0, now - stamp) * refill)
    if tokens >= 1.0:
        return tokens - 1.0, Verdict(True)
    return tokens, Verdict(False, (1.0 - tokens) / refill)


class Buckets(Protocol):
    def take(self, key: str, limit: RateLimit) -> Verdict: ...


class LocalBuckets:
    """Buckets in this process (the embedded stack, or no Redis configured)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_buckets: int = LOCAL_BUCKETS_MAX):
        self._clock = clock
        self._max = max_buckets
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, limit: RateLimit) -> Verdict:
        with self._lock:
            now = self._clock()
            tokens, stamp = self._state.pop(key, (float(limit.burst), now))
            tokens, verdict = take(tokens, stamp, now, limit)
            self._state[key] = (tokens, now)
            if len(self._state) > self._max:
                self._state.popitem(last=False)
            return verdict


# The same arithmetic as `take`, atomically in Redis, timed by Redis's own clock.
_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1e6
local refill, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 't', 's')
local tokens, stamp = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, stamp = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * refill)
local allowed, wait = 0, 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 else wait = (1 - tokens) / refill end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / refill * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class RedisBuckets:
    """Buckets in Redis. When Redis cannot be reached the request passes (logged): a rate limit
    is not worth an outage of the API."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_TAKE)

    def take(self, key: str, limit: RateLimit) -> Verdict:
        try:
            allowed, wait = self._script(keys=[KEY_PREFIX + key], args=[limit.refill_per_s, limit.burst])
        except redis.RedisError as exc:
            log.warning("rate limit not checked (Redis: %s); the request passes", exc)
            return Verdict(True)
        return Verdict(bool(int(allowed)), float(wait))
