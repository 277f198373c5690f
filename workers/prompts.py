"""Prompt assembly: system prompt for the language + recent turns within a token budget + the
new message."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from persistence.repository import ASSISTANT, USER, Turn
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
    whose question was dropped."""
    base = count_tokens(build_prompt(system_prompt, [], text))
    kept = list(history)
    while kept:
        prompt = build_prompt(system_prompt, kept, text)
        if count_tokens(prompt) - base <= budget:
            return prompt
        kept = _without_oldest(kept)
    return build_prompt(system_prompt, [], text)


def _without_oldest(turns: list[Turn]) -> list[Turn]:
    rest = turns[1:]
    return rest[1:] if rest and rest[0].role == ASSISTANT else rest
