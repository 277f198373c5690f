"""The answer cache: common first questions answered without a model.

A first-turn message is looked up by its normalised text + language + the profile's version (a
hash of what shapes its answers: model, system prompts, answer length, repetition penalty), so
changing a profile's model or prompt makes its old entries unreachable; they expire by TTL.
Redis in real mode (shared by every API and worker), an in-process LRU in the embedded mode.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from core.settings import Settings

log = logging.getLogger(__name__)
KEY_PREFIX = "babelq:answer:"


def normalise_question(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed, surrounding spaces and punctuation trimmed."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return folded.strip("".join(ch for ch in set(folded) if _is_trimmable(ch)))


# Punctuation that carries meaning at an edge ("C#", "100%", "@support") is kept.
_KEPT_AT_EDGES = frozenset("#%&*@/\\+-_$€£¥")


def _is_trimmable(ch: str) -> bool:
    return ch.isspace() or (unicodedata.category(ch).startswith("P") and ch not in _KEPT_AT_EDGES)


def cache_key(profile_version: str, language: str, answer_language: str, text: str) -> str:
    """Everything an answer depends on: the profile's version, the question's language, the
    language it is answered in (a channel may answer some languages in its default one, with a
    notice in the customer's language before it) and the question itself."""
    digest = hashlib.sha256(normalise_question(text).encode()).hexdigest()[:40]
    return f"{KEY_PREFIX}{profile_version}:{language}:{answer_language}:{digest}"


@dataclass(frozen=True)
class CacheStats:
    backend: str
    hits: int
    misses: int
    entries: int


class AnswerCache(Protocol):
    def get(self, key: str) -> str | None: ...

    def put(self, key: str, answer: str) -> None: ...

    def stats(self) -> CacheStats: ...


class _Counters:
    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def count(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1


class MemoryAnswerCache:
    """In-process LRU with a TTL (the embedded stack: API and worker share one process)."""

    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._counters = _Counters()

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= self._clock():
                del self._entries[key]
                entry = None
            if entry is not None:
                self._entries.move_to_end(key)
        self._counters.count(entry is not None)
        return None if entry is None else entry[1]

    def put(self, key: str, answer: str) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl_s, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def stats(self) -> CacheStats:
        return CacheStats("memory", self._counters.hits, self._counters.misses, len(self._entries))


class RedisAnswerCache:
    """Entries as Redis strings with a TTL; an index (sorted by time written) enforces the size
    cap; hit and miss counters are Redis counters, so they add up across the fleet."""

    def __init__(self, url: str, ttl_s: float, max_entries: int) -> None:
        self._redis = redis.Redis.from_url(
            # short: the lookup is on the request path, and a slow cache is better skipped
            url,
            socket_timeout=0.25,
            socket_connect_timeout=0.25,
            decode_responses=True,
        )
        self._ttl_ms = int(ttl_s * 1000)
        self._max = max_entries

    def get(self, key: str) -> str | None:
        value = self._redis.get(key)
        self._redis.incr(f"{KEY_PREFIX}{'hits' if value is not None else 'misses'}")
        return None if value is None else str(value)

    def put(self, key: str, answer: str) -> None:
        index = f"{KEY_PREFIX}index"
        pipe = self._redis.pipeline()
        pipe.set(key, answer, px=self._ttl_ms)
        pipe.zadd(index, {key: time.time()})
        pipe.zremrangebyscore(index, 0, time.time() - self._ttl_ms / 1000)  # expired anyway
        pipe.zcard(index)
        size = int(pipe.execute()[-1])
        if size > self._max:
            popped: list[tuple[str, float]] = self._redis.zpopmin(index, size - self._max)  # type: ignore[assignment]
            evicted = [key for key, _score in popped]
            self._redis.delete(*evicted)

    def stats(self) -> CacheStats:
        hits, misses = self._redis.mget(f"{KEY_PREFIX}hits", f"{KEY_PREFIX}misses")
        entries = int(self._redis.zcard(f"{KEY_PREFIX}index"))
        return CacheStats("redis", int(hits or 0), int(misses or 0), entries)


class NoAnswerCache:
    """Caching switched off (BABELQ_CACHE_TTL_S=0, or a real broker without BABELQ_REDIS_URL)."""

    def get(self, key: str) -> str | None:
        return None

    def put(self, key: str, answer: str) -> None:
        return None

    def stats(self) -> CacheStats:
        return CacheStats("off", 0, 0, 0)


class VersionedProfile(Protocol):
    """What the cache needs of a routing profile: its model and the hash of what shapes answers."""

    @property
    def model(self) -> str: ...

    def answer_version(self, model_id: str, max_new_tokens_cap: int) -> str: ...


class AnswerLookup:
    """The cache seen from both sides, keyed the same way: the producer looks a first question
    up, the worker fills the entry after answering a question asked without earlier turns. A
    cache that fails is a miss, never an error."""

    def __init__(self, cache: AnswerCache, model_id: str, max_new_tokens_cap: int) -> None:
        self.cache = cache
        self._model_id = model_id
        self._max_new_tokens_cap = max_new_tokens_cap

    def key(self, profile: VersionedProfile, language: str, answer_language: str, text: str) -> str:
        version = profile.answer_version(profile.model or self._model_id, self._max_new_tokens_cap)
        return cache_key(version, language, answer_language, text)

    def get(self, profile: VersionedProfile, language: str, answer_language: str, text: str) -> str | None:
        try:
            return self.cache.get(self.key(profile, language, answer_language, text))
        except Exception as exc:  # Redis down or slow: answer through the model instead
            log.warning("answer cache lookup failed: %s", exc)
            return None

    def put(
        self, profile: VersionedProfile, language: str, answer_language: str, text: str, answer: str
    ) -> None:
        try:
            self.cache.put(self.key(profile, language, answer_language, text), answer)
        except Exception as exc:
            log.warning("answer cache write failed: %s", exc)


def open_answer_cache(settings: Settings) -> AnswerCache:
    """In-process in the embedded stack, Redis with BABELQ_REDIS_URL, else (or with a TTL of 0) off."""
    if settings.cache_ttl_s == 0:
        return NoAnswerCache()
    if settings.embedded:
        return MemoryAnswerCache(settings.cache_ttl_s, settings.cache_max_entries)
    if settings.redis_url:
        return RedisAnswerCache(settings.redis_url, settings.cache_ttl_s, settings.cache_max_entries)
    return NoAnswerCache()


def answer_lookup(cache: AnswerCache, settings: Settings) -> AnswerLookup:
    """Producers and workers key the cache alike: by the profile's model (else BABELQ_MODEL, else
    the default model) and the answer-length cap. A null-runner worker (benchmarks) writes under
    keys no producer reads, so it can never fill the cache with its fixed text."""
    model = settings.model or "babelq-default"
    return AnswerLookup(
        cache, model if settings.runner != "null" else f"null-runner:{model}", settings.max_new_tokens
    )
