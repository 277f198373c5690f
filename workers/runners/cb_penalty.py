"""Repetition penalty for transformers' continuous batching, which drops the standard logits
processor: our own per-request version with transformers' formula and token set (the prompt and
the answer so far)."""

from __future__ import annotations

import torch
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingLogitsProcessor,
    ContinuousBatchingLogitsProcessorList,
)
from transformers.generation.continuous_batching.requests import FutureRequestState
from transformers.generation.logits_process import LogitsProcessorList


class RepetitionPenalty(ContinuousBatchingLogitsProcessor):
    """transformers' repetition penalty, per request: every token already in the prompt or the answer
    has its logit divided by `penalty` (multiplied when negative).

    `prepare_tensor_args` sees the requests of the coming step in the order of their logits rows;
    it keeps their token sets for `__call__`. Both run on the manager's thread, one step after the
    other, which holds only with synchronous batching and without CUDA graphs (a captured graph
    would replay the token sets of its capture).
    """

    def __init__(self, penalty: float) -> None:
        self.supported_kwargs: dict[str, type] = {}  # no per-request arguments
        self.ignored_kwargs: tuple[str, ...] = ()
        self.penalty = penalty
        self._seen: torch.Tensor | None = None

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        int32_tensor.fill_(0)

    def prepare_tensor_args(self, requests_with_new_token: list[FutureRequestState]) -> torch.Tensor:
        histories = [r.state.initial_tokens + r.state.generated_tokens for r in requests_with_new_token]
        width = max((len(history) for history in histories), default=0)
        # Short rows are filled with their own first token: a repeated id is penalised only once.
        rows = [history + history[:1] * (width - len(history)) for history in histories]
        self._seen = torch.tensor(rows, dtype=torch.long)
        return torch.zeros(len(rows), dtype=torch.int32)

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        seen = self._seen
        if seen is None or seen.shape[0] > scores.shape[0]:
            raise RuntimeError(  # a transformers change in how rows are prepared; never guess
                f"repetition penalty prepared {0 if seen is None else seen.shape[0]} rows "
                f"for {scores.shape[0]} logits rows"
            )
        if seen.numel() == 0:
            return scores
        seen = seen.to(scores.device)
        rows = scores[: seen.shape[0]]  # rows past the real requests are padding
        score = rows.gather(1, seen)
        score = torch.where(score < 0, score * self.penalty, score / self.penalty)
        return torch.cat([rows.scatter(1, seen, score), scores[seen.shape[0] :]])


def penalty_processors(penalty: float) -> ContinuousBatchingLogitsProcessorList:
    """The manager's processor list holding only our penalty (greedy decoding needs no other)."""
    processors = ContinuousBatchingLogitsProcessorList(LogitsProcessorList([RepetitionPenalty(penalty)]))
    processors.tensors_required = 1  # one argument row; the list counts only the processors it converts
    return processors
