"""direct_best: plain `generate` swept over batch sizes, the best one kept, an OOM ends the sweep."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from core.errors import ConfigurationError
from ops.bench.direct_best import MIN_JOBS_PER_SIZE, DirectBest, SweepPoint, direct_best
from tests.support.prompts import PROMPTS
from workers.model_loader import LoadedModel


class _OutOfMemoryAbove:
    """A model whose generate runs out of memory on batches larger than `limit` rows."""

    def __init__(self, model: Any, limit: int) -> None:
        self._model, self._limit, self.batches = model, limit, []

    def __getattr__(self, name: str) -> Any:  # everything but generate is the real model's
        return getattr(self._model, name)

    def generate(self, **kwargs: Any) -> Any:
        rows = kwargs["input_ids"].shape[0]
        self.batches.append(rows)
        if rows > self._limit:
            raise MemoryError(f"CUDA out of memory: {rows} rows")
        return self._model.generate(**kwargs)


def test_every_size_is_measured_and_the_fastest_is_the_best(loaded: LoadedModel):
    result = direct_best(loaded, PROMPTS, max_new_tokens=2, repetition_penalty=1.2, batch_sizes=[4, 1, 2])
    assert [p.batch_size for p in result.sweep] == [1, 2, 4]
    assert all(p.jobs_s and p.jobs_s > 0 and p.error is None for p in result.sweep)
    fastest = max(result.sweep, key=lambda p: p.jobs_s or 0)
    assert (result.batch_size, result.jobs_s) == (fastest.batch_size, fastest.jobs_s)


def test_the_first_size_out_of_memory_ends_the_sweep(loaded: LoadedModel):
    model = _OutOfMemoryAbove(loaded.model, limit=2)
    result = direct_best(replace(loaded, model=model), PROMPTS, 2, 1.0, batch_sizes=[1, 2, 4, 8])
    assert [(p.batch_size, p.error is None) for p in result.sweep] == [(1, True), (2, True), (4, False)]
    assert "out of memory" in (result.sweep[-1].error or "") and result.batch_size in (1, 2)
    assert 8 not in model.batches  # never tried after the OOM
    # and each measured size ran its jobs in full batches of that size (plain generate, no split)
    assert model.batches.count(2) == MIN_JOBS_PER_SIZE // 2


def test_no_size_that_fits_is_a_clear_error(loaded: LoadedModel):
    model = _OutOfMemoryAbove(loaded.model, limit=0)
    with pytest.raises(ConfigurationError, match="no batch size fits"):
        direct_best(replace(loaded, model=model), PROMPTS, 2, 1.0, batch_sizes=[1])


def test_direct_best_is_the_faster_of_generate_and_vllm_offline() -> None:
    plain = DirectBest(32, 4.0, [SweepPoint(32, 4.0)], generate_jobs_s=4.0)
    faster = plain.with_vllm(9.0)
    assert (faster.engine, faster.jobs_s, faster.generate_jobs_s, faster.vllm_offline_jobs_s) == (
        "vllm",
        9.0,
        4.0,
        9.0,
    )
    slower = plain.with_vllm(3.0)
    assert (slower.engine, slower.jobs_s) == ("generate", 4.0)
    missing = plain.with_vllm(None, "vLLM is not installed (make install-vllm)")
    assert (missing.engine, missing.jobs_s, missing.vllm_error) == (
        "generate",
        4.0,
        "vLLM is not installed (make install-vllm)",
    )
    assert missing.to_json()["vllm_error"].startswith("vLLM is not installed")
