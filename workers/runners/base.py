"""The runner contract: a batch of chat prompts in, one Generation per prompt out, in order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

log = logging.getLogger(__name__)

ChatMessage = dict[str, str]
"""One turn: {"role": "system" | "user" | "assistant", "content": "..."}."""
ChatPrompt = Sequence[ChatMessage]
FinishReason = Literal["stop", "length"]
TextListener = Callable[[str], None]
"""Told a streamed prompt's answer so far, every few tokens while it is generated."""
STREAM_EVERY_TOKENS = 4
"""How often a streamed answer is told: every token would decode each row at every step."""


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

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        max_new_tokens: int,
        listeners: Sequence[TextListener | None] | None = None,
    ) -> list[Generation]:
        """One Generation per prompt, in the order given; [] for no prompts. `listeners`, one per
        prompt (None for a prompt nobody streams), are told each answer so far as it grows."""
        ...


@runtime_checkable
class StreamingRunner(Runner, Protocol):
    """A runner that takes prompts one by one and schedules them itself (continuous batching):
    each request joins the running batch at once and leaves it when its own answer ends."""

    @property
    def size_cap(self) -> int:
        """How many requests may run together now."""
        ...

    @property
    def max_batch_size(self) -> int: ...

    @property
    def cache_tokens(self) -> int | None:
        """The most tokens (prompt and answer) one request may take."""
        ...

    def set_max_batch_size(self, size: int) -> None: ...

    def encode(self, prompt: ChatPrompt) -> list[int]:
        """The prompt's token ids, rendered with the chat template."""
        ...

    def submit_tokens(
        self,
        input_ids: list[int],
        max_new_tokens: int,
        on_text: TextListener | None = None,
        deadline: float | None = None,
    ) -> Future[Generation]:
        """Start one request; its Future resolves when its own answer ends. Past `deadline` (on
        time.monotonic) the request is aborted and the Future fails with ItemExpired;
        cancelling the Future aborts it too."""
        ...

    def close(self, timeout: float | None = None) -> None: ...


def tell(listener: TextListener, text: str) -> None:
    """A listener's failure is a lost stream update, never a failed batch or request."""
    try:
        listener(text)
    except Exception as exc:
        log.warning("a stream listener failed: %s", exc)


def partial_text(decoded: str) -> str:
    """An unfinished answer as a stream shows it: no leading space, and no U+FFFD from a
    multi-byte character whose last byte-level token has not come yet."""
    return decoded.lstrip().rstrip("\ufffd")


def completion(new_tokens: list[int], eos_ids: frozenset[int]) -> tuple[list[int], FinishReason]:
    """The tokens of one answer, up to and including its first eos, and why it ended.

    After a row's eos, `generate` fills it with pad tokens (often the eos id itself) until the
    whole batch is done, so only the first eos counts.
    """
    for index, token in enumerate(new_tokens):
        if token in eos_ids:
            return new_tokens[: index + 1], "stop"
    return new_tokens, "length"
