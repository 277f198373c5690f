"""Prompt assembly: system prompt for the language + recent turns + the new message."""

from __future__ import annotations

from collections.abc import Sequence

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
