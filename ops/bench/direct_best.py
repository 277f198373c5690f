"""`direct_best`: the model's own limit, the yardstick a queue is judged against.

The best of what a user would write without babelq, on the same model, precision and machine,
the same prompts (system prompt + message through the chat template), answer cap and greedy
decoding, no queue, no store, no babelq runner:

- plain transformers `generate` on left-padded static batches in arrival order, at the best
  batch size of a sweep (stopping at the first size that runs out of memory);
- vLLM's offline `LLM.generate` on every prompt at once (ops/bench/vllm_offline.py), where vLLM
  is installed and runs the precision.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from core.errors import ConfigurationError
from workers.backoff import is_out_of_memory
from workers.model_loader import LoadedModel, release_memory
from workers.runners.base import ChatPrompt
from workers.runners.static import eos_token_ids

DEFAULT_BATCH_SIZES = (8, 16, 32, 64)
MIN_JOBS_PER_SIZE = 64


@dataclass(frozen=True)
class SweepPoint:
    """One batch size of the sweep: its jobs/s, or why it could not run."""

    batch_size: int
    jobs_s: float | None
    error: str | None = None


@dataclass(frozen=True)
class DirectBest:
    """The best of plain `generate`'s sweep and of vLLM's offline run."""

    batch_size: int
    jobs_s: float
    sweep: list[SweepPoint]
    engine: str = "generate"
    """Which won: "generate" (transformers, at `batch_size`) or "vllm" (offline, all at once)."""
    generate_jobs_s: float | None = None
    vllm_offline_jobs_s: float | None = None
    vllm_error: str | None = None

    def with_vllm(self, jobs_s: float | None, error: str | None = None) -> DirectBest:
        """This result with vLLM's offline run added: the faster of the two is the best."""
        generate = self.generate_jobs_s if self.generate_jobs_s is not None else self.jobs_s
        wins = jobs_s is not None and jobs_s > generate
        best = jobs_s if wins and jobs_s is not None else generate
        return replace(
            self,
            jobs_s=best,
            engine="vllm" if wins else "generate",
            generate_jobs_s=generate,
            vllm_offline_jobs_s=jobs_s,
            vllm_error=error,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def direct_best(
    loaded: LoadedModel,
    prompts: Sequence[ChatPrompt],
    max_new_tokens: int,
    repetition_penalty: float,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
) -> DirectBest:
    """Sweep the batch sizes in increasing order; the first that runs out of memory ends it."""
    plain = _PlainGenerate(loaded, max_new_tokens, repetition_penalty)
    sweep = [_measure(plain, prompts[:1], 1, jobs=1)]  # warm-up: first-call allocations are not speed
    if sweep[0].error is None:
        sweep = _sweep(plain, prompts, sorted(set(batch_sizes)))
    measured = [p for p in sweep if p.jobs_s is not None]
    if not measured:
        raise ConfigurationError(f"direct_best: no batch size fits on {loaded.device}: {sweep[0].error}")
    best = max(measured, key=lambda p: p.jobs_s or 0.0)
    return DirectBest(best.batch_size, best.jobs_s or 0.0, sweep, generate_jobs_s=best.jobs_s)


def _sweep(plain: _PlainGenerate, prompts: Sequence[ChatPrompt], sizes: list[int]) -> list[SweepPoint]:
    sweep: list[SweepPoint] = []
    for size in sizes:
        sweep.append(_measure(plain, prompts, size, jobs=max(MIN_JOBS_PER_SIZE, 2 * size)))
        if sweep[-1].error is not None:
            break
    return sweep


def _measure(plain: _PlainGenerate, prompts: Sequence[ChatPrompt], size: int, jobs: int) -> SweepPoint:
    work = [prompts[i % len(prompts)] for i in range(jobs)]
    started = time.perf_counter()
    try:
        for start in range(0, jobs, size):
            plain.run(work[start : start + size])
    except Exception as exc:
        if not is_out_of_memory(exc):  # torch.cuda.OutOfMemoryError, or MemoryError on a CPU
            raise
        release_memory()
        return SweepPoint(size, None, f"out of memory: {exc}"[:300])
    return SweepPoint(size, jobs / (time.perf_counter() - started))


class _PlainGenerate:
    """One left-padded `generate` call per batch, as the transformers docs show it."""

    def __init__(self, loaded: LoadedModel, max_new_tokens: int, repetition_penalty: float) -> None:
        self._loaded = loaded
        self._max_new_tokens = max_new_tokens
        self._repetition_penalty = repetition_penalty
        # The ids babelq's runners stop an answer at (generation config's and tokenizer's), so
        # that both sides write answers of the same length.
        self._eos_ids = list(eos_token_ids(loaded))

    def run(self, prompts: Sequence[ChatPrompt]) -> None:
        import torch

        tokenizer = self._loaded.tokenizer
        texts = [self._loaded.render_chat(prompt) for prompt in prompts]
        batch = tokenizer(
            texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False
        )
        with torch.inference_mode():
            self._loaded.model.generate(  # type: ignore[operator]
                **batch.to(self._loaded.device),
                max_new_tokens=self._max_new_tokens,
                do_sample=False,
                repetition_penalty=self._repetition_penalty,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=self._eos_ids,
            )
