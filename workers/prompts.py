"""Prompt assembly: system prompt for the language + recent turns within a token budget + the
new message."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from persistence.tables import ASSISTANT, USER
from persistence.views import Turn
from workers.runners.base import ChatMessage


def build_prompt(system_prompt: str, history: Sequence[Turn], text: str) -> list[ChatMessage]:
    """Chat messages in the order the tokenizer's chat template expects."""
    messages: list[ChatMessage] = [{"role": "system", "content": system_prompt}]
    messages.extend(
        {"role": turn.role, "content": turn.text} for turn in history if turn.role in (USER, ASSISTANT)
    )
    messages.append({"role": USER, "content": text})
    return messages


def build_prompt_within(
    system_prompt: str,
    history: Sequence[Turn],
    text: str,
    budget: int,
    count_tokens: Callable[[list[ChatMessage]], int],
) -> list[ChatMessage]:
    """build_prompt with the oldest turns dropped until the history takes at most `budget` tokens
    (as the tokenizer counts the rendered prompt); a kept history never opens with an answer
    whose question was dropped. Binary search over where the kept turns start: a few renders,
    not one per turn."""
    base = count_tokens(build_prompt(system_prompt, [], text))

    def fits(start: int) -> bool:
        return count_tokens(build_prompt(system_prompt, history[start:], text)) - base <= budget

    low, high = 0, len(history)  # history[high:] (nothing) always fits
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    start = low + 1 if low < len(history) and history[low].role == ASSISTANT else low
    return build_prompt(system_prompt, history[start:], text)
