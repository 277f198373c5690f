"""The answer cache's pure parts: normalisation, keys, versions, the in-process LRU."""

from __future__ import annotations

from dataclasses import replace

import pytest

from persistence.answer_cache import AnswerLookup, MemoryAnswerCache, cache_key, normalise_question
from routing.table import load_table


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("  Where is   my parcel?? ", "where is my parcel"),
        ("WHERE IS MY PARCEL", "where is my parcel"),
        ("¿Dónde está mi pedido?", "dónde está mi pedido"),
        ("ｗｈｅｒｅ　ｉｓ ｍｙ ｐａｒｃｅｌ！", "where is my parcel"),  # full-width forms, ideographic space
        ("我的订单在哪里？", "我的订单在哪里"),
        ("Straße...", "strasse"),  # case folding, not just lower()
        ("Is it 5.5 kg?", "is it 5.5 kg"),  # punctuation inside is kept
        ("Tell me about C#!", "tell me about c#"),  # meaningful marks at an edge stay
        ("«Hola»", "hola"),
    ],
)
def test_normalisation(text: str, normalised: str):
    assert normalise_question(text) == normalised


def test_keys_match_variants_and_separate_languages_and_versions():
    key = cache_key("v1", "en", "en", "Where is my parcel?")
    assert key == cache_key("v1", "en", "en", "  where IS my parcel ")
    assert key != cache_key("v1", "es", "es", "Where is my parcel?")
    assert key != cache_key("v2", "en", "en", "Where is my parcel?")


def test_a_question_answered_in_another_language_is_another_entry():
    """Given one channel answering Portuguese in English (with a notice) and another in Spanish,
    expect two keys: neither channel's customers get the other's answer."""
    question = "Onde está a minha encomenda?"
    assert cache_key("v1", "pt", "en", question) != cache_key("v1", "pt", "es", question)
    assert cache_key("v1", "pt", "en", question) != cache_key("v1", "pt", "pt", question)


def test_a_profiles_model_prompt_or_length_changes_its_answer_version():
    profile = load_table().profiles["default"]
    base = profile.answer_version("m", 64)
    assert base == load_table().profiles["default"].answer_version("m", 64)
    assert profile.answer_version("other-model", 64) != base
    assert profile.answer_version("m", 32) != base
    assert replace(profile, system_prompts={"en": "Be terse."}).answer_version("m", 64) != base
    assert replace(profile, max_batch_size=3).answer_version("m", 64) == base  # batching: same answers


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_memory_cache_expires_entries_and_counts_hits_and_misses():
    clock = Clock()
    cache = MemoryAnswerCache(ttl_s=10, max_entries=5, clock=clock)
    cache.put("k", "answer")
    assert cache.get("k") == "answer"
    clock.now = 10.0
    assert cache.get("k") is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 0)


def test_memory_cache_keeps_at_most_max_entries_dropping_the_least_recently_used():
    cache = MemoryAnswerCache(ttl_s=100, max_entries=2, clock=Clock())
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"  # a is now the most recently used
    cache.put("c", "3")
    assert cache.get("b") is None and cache.get("a") == "1" and cache.get("c") == "3"


class BrokenCache:
    def get(self, key: str) -> str | None:
        raise ConnectionError("redis is down")

    def put(self, key: str, answer: str) -> None:
        raise ConnectionError("redis is down")

    def stats(self):  # pragma: no cover - not used
        raise ConnectionError("redis is down")


def test_a_failing_cache_is_a_miss_not_an_error():
    lookup = AnswerLookup(BrokenCache(), "m", 64)
    profile = load_table().profiles["default"]
    assert lookup.get(profile, "en", "en", "hello") is None
    lookup.put(profile, "en", "en", "hello", "hi")  # does not raise
