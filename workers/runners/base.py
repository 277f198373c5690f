"""The runner contract: a batch of chat prompts in, one Generation per prompt out, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

ChatMessage = dict[str, str]
"""One turn: {"role": "system" | "user" | "assistant", "content": "..."}."""
ChatPrompt = Sequence[ChatMessage]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Generation:
    """What a runner made of one prompt.

    `completion_tokens` includes the eos token when there was one; `finish_reason` is "stop" when
    the model ended its answer and "length" when max_new_tokens cut it off.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason


class Runner(Protocol):
    """Runs batches on one model and device."""

    model_name: str
    device: str

    def count_tokens(self, prompt: ChatPrompt) -> int:
        """Tokens the prompt takes once rendered with the chat template (no padding)."""
        ...

    def generate(self, prompts: Sequence[ChatPrompt], max_new_tokens: int) -> list[Generation]:
        """One Generation per prompt, in the order given; [] for no prompts."""
        ...
