"""A runner that answers instantly without a model. For benchmarks of the queue path only.

It prices everything around inference (broker, batcher, persistence); never use it as a default.
"""

from __future__ import annotations

from collections.abc import Sequence

from workers.runners.base import ChatPrompt, FinishReason, Generation, TextListener

NULL_ANSWER = "[null runner] ok"


class NullRunner:
    """Answers every prompt with NULL_ANSWER; counts tokens as whitespace-separated words."""

    def __init__(self, model_name: str = "null", device: str = "cpu") -> None:
        self.model_name = model_name
        self.device = device

    def count_tokens(self, prompt: ChatPrompt) -> int:
        return sum(len(message["content"].split()) for message in prompt)

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        max_new_tokens: int,
        listeners: Sequence[TextListener | None] | None = None,
    ) -> list[Generation]:
        answers = [self._answer(prompt, max_new_tokens) for prompt in prompts]
        for answer, listener in zip(answers, listeners or [None] * len(prompts), strict=True):
            if listener is not None:  # a streamed answer grows a word at a time
                words = answer.text.split()
                for count in range(1, len(words) + 1):
                    listener(" ".join(words[:count]))
        return answers

    def _answer(self, prompt: ChatPrompt, max_new_tokens: int) -> Generation:
        words = NULL_ANSWER.split()
        kept = words[:max_new_tokens]
        reason: FinishReason = "stop" if len(kept) == len(words) else "length"
        return Generation(" ".join(kept), self.count_tokens(prompt), len(kept), reason)
