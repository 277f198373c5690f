"""Static batching with transformers: the whole batch is one left-padded `generate` call.

Every prompt of a batch waits for the longest answer in it; simple, and good when answers are
short and alike. Decoding is greedy, so the same prompt gives the same answer in any batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import cast

import torch
from transformers import GenerationMixin

from core.errors import ModelLoadError
from workers.model_loader import LoadedModel, eos_ids
from workers.runners.base import ChatPrompt, FinishReason, Generation, TextListener, completion
from workers.runners.row_streamer import RowStreamer


class StaticBatchRunner:
    """Runs batches of chat prompts on one loaded model."""

    def __init__(self, loaded: LoadedModel, repetition_penalty: float = 1.0) -> None:
        self.loaded = loaded
        # Small greedy models loop ("Cómo está mi pedido? ¡Cómo está…"); a penalty > 1 curbs it.
        self.repetition_penalty = repetition_penalty
        self.model_name = loaded.name
        self.device = loaded.device
        self._eos_ids = eos_token_ids(loaded)
        self._generate = _generate_method(loaded)

    def render(self, prompt: ChatPrompt) -> str:
        return self.loaded.render_chat(prompt)

    def count_tokens(self, prompt: ChatPrompt) -> int:
        return len(self.loaded.tokenizer(self.render(prompt), add_special_tokens=False).input_ids)

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        max_new_tokens: int,
        listeners: Sequence[TextListener | None] | None = None,
    ) -> list[Generation]:
        if not prompts:
            return []
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        batch = self._encode(prompts)
        with torch.inference_mode(), _release_cuda_cache_on_oom():
            output = self._generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=self.repetition_penalty,
                streamer=self._streamer(listeners),
                pad_token_id=self.loaded.tokenizer.pad_token_id,
                eos_token_id=list(self._eos_ids),
            )
        new_tokens = output[:, batch["input_ids"].shape[1] :].tolist()
        prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
        return [self._result(row, n) for row, n in zip(new_tokens, prompt_lengths, strict=True)]

    def _streamer(self, listeners: Sequence[TextListener | None] | None) -> RowStreamer | None:
        """A streamer only for a batch that has a streamed row: the others run as before."""
        if listeners is None or not any(listeners):
            return None
        return RowStreamer(listeners, self._decode, self._eos_ids)

    def _decode(self, tokens: list[int]) -> str:
        text = self.loaded.tokenizer.decode(tokens, skip_special_tokens=True)
        assert isinstance(text, str)  # one sequence of ids decodes to one string
        return text

    def _encode(self, prompts: Sequence[ChatPrompt]) -> dict[str, torch.Tensor]:
        """Left-pad the batch so every prompt ends at the last column, where generation starts.

        No special tokens are added: the chat template already wrote the ones the model expects.
        """
        encoded = self.loaded.tokenizer(
            [self.render(prompt) for prompt in prompts],
            return_tensors="pt",
            padding=True,
            padding_side="left",
            add_special_tokens=False,
        )
        return {key: value.to(self.device) for key, value in encoded.items()}

    def _result(self, new_tokens: list[int], prompt_tokens: int) -> Generation:
        kept, reason = completion(new_tokens, self._eos_ids)
        return Generation(answer_text(self._decode(kept), reason), prompt_tokens, len(kept), reason)


def answer_text(decoded: str, reason: FinishReason) -> str:
    """The decoded answer without surrounding space.

    An answer cut off by the length limit can end in the middle of a multi-byte character (one
    Chinese character is often two or three byte-level tokens); decoding turns that stub into
    U+FFFD, which we drop rather than show to a customer.
    """
    text = decoded.strip()
    return text.rstrip("\ufffd").rstrip() if reason == "length" else text


def _generate_method(loaded: LoadedModel) -> Callable[..., torch.Tensor]:
    """The model's `generate`, refused early for a model that cannot generate.

    Typed loosely on purpose: transformers types `generate` for its own checker (a private
    Protocol as `self`), which mypy cannot match against PreTrainedModel.
    """
    generate = getattr(loaded.model, "generate", None)
    if generate is None or not isinstance(loaded.model, GenerationMixin):
        raise ModelLoadError(f"{loaded.name} is not a generative (causal LM) model")
    return cast("Callable[..., torch.Tensor]", generate)


def eos_token_ids(loaded: LoadedModel) -> frozenset[int]:
    """Every id that ends an answer: the generation config's (one or a list) and the tokenizer's."""
    return eos_ids(loaded.model.generation_config.eos_token_id, loaded.tokenizer, loaded.name)


@contextmanager
def _release_cuda_cache_on_oom() -> Iterator[None]:
    """On a CUDA OOM, hand the cached blocks back before the batcher retries with half the batch."""
    try:
        yield
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        raise
