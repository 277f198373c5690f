"""Prompt assembly: recent turns within a token budget, the oldest dropped first."""

from __future__ import annotations

from datetime import UTC, datetime

from persistence.views import Turn
from workers.prompts import build_prompt, build_prompt_within
from workers.runners.base import ChatMessage

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def words(messages: list[ChatMessage]) -> int:
    """A stand-in tokenizer: one token per word, plus 2 per message for the template."""
    return sum(len(m["content"].split()) + 2 for m in messages)


def _turn(role: str, text: str) -> Turn:
    return Turn(role=role, text=text, language="en", created_at=NOW, job_id="j")


HISTORY = [
    _turn("user", "one two three"),
    _turn("assistant", "four five"),
    _turn("user", "six seven eight nine"),
    _turn("assistant", "ten"),
]


def test_the_whole_history_fits_a_large_budget():
    prompt = build_prompt_within("Be kind.", HISTORY, "and now?", budget=1000, count_tokens=words)
    assert prompt == build_prompt("Be kind.", HISTORY, "and now?")
    assert [m["content"] for m in prompt][1] == "one two three"


def test_the_oldest_turns_go_first_and_the_budget_holds():
    base = words(build_prompt("Be kind.", [], "and now?"))
    for budget in range(0, 25):
        prompt = build_prompt_within("Be kind.", HISTORY, "and now?", budget=budget, count_tokens=words)
        assert words(prompt) - base <= budget
        kept = [m["content"] for m in prompt[1:-1]]
        assert kept == [t.text for t in HISTORY[len(HISTORY) - len(kept) :]]  # a suffix: newest kept
        assert not prompt[1:-1] or prompt[1]["role"] == "user"  # never opens with an orphan answer
    # 9 tokens hold the last question and its answer (6 + 3), not more
    assert [m["content"] for m in build_prompt_within("Be kind.", HISTORY, "and now?", 9, words)[1:-1]] == [
        "six seven eight nine",
        "ten",
    ]


def test_no_budget_means_no_history():
    assert build_prompt_within("S", HISTORY, "q", budget=0, count_tokens=words) == build_prompt("S", [], "q")
