"""The two direct baselines, in-process, no queue, no store, every job submitted at once:

- same engine: the profile's own runner and batch policy — how much of its engine the queue
  delivers;
- direct_best: the best of plain transformers `generate` at the best batch size of a sweep and
  vLLM's offline `LLM.generate` (ops/bench/direct_best.py) — how much of the model the whole
  system delivers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from core.errors import BabelqError
from core.settings import Settings
from ops.bench.direct_best import DirectBest, direct_best
from routing.language import LanguageDetector
from routing.table import Profile
from workers.feeders import Feeder, PromptRequest
from workers.model_loader import release_memory
from workers.prompts import build_prompt
from workers.runners.base import ChatMessage, Runner
from workers.runtime import (
    WARM_UP_PROMPT,
    close_runner,
    effective_profile,
    make_feeder,
    make_runner,
    resolve_model,
    vllm_options,
)
from workers.vllm_options import unsupported_on, vllm_installed


def direct_jobs_per_s(settings: Settings, profile: Profile, texts: Sequence[str], jobs: int) -> float:
    """Jobs per second of the profile's runner behind its feeder (the micro-batcher, or straight
    into vLLM's engine), saturated, on `jobs` messages."""
    profile = effective_profile(settings, profile)
    runner, _facts = make_runner(settings, profile)
    try:
        runner.generate([WARM_UP_PROMPT], max_new_tokens=1)
        requests = prompt_requests(runner, profile, [texts[i % len(texts)] for i in range(jobs)])
        feeder = make_feeder(runner, profile)
        try:
            return saturated_jobs_per_s(feeder, requests)
        finally:
            feeder.close()
    finally:
        close_runner(runner)
        del runner
        release_memory()  # the model goes before the next one loads (the worker's, on a GPU)


def saturated_jobs_per_s(feeder: Feeder, requests: Sequence[tuple[PromptRequest, int]]) -> float:
    """Every request submitted at once, so the engine never waits for work: jobs per second."""
    started = time.perf_counter()
    futures = [feeder.submit(request, tokens) for request, tokens in requests]
    for future in futures:
        future.result()
    return len(requests) / (time.perf_counter() - started)


def direct_best_for(
    settings: Settings, profile: Profile, texts: Sequence[str], batch_sizes: Sequence[int], jobs: int = 128
) -> DirectBest:
    """direct_best on the profile's model, precision and device, with its prompts and answer cap."""
    from workers.model_loader import load_model

    profile = effective_profile(settings, profile)
    loaded = load_model(resolve_model(settings, profile), device=settings.device, dtype=profile.dtype)
    prompts = first_turn_prompts(profile, texts)
    try:
        best = direct_best(loaded, prompts, profile.max_new_tokens, profile.repetition_penalty, batch_sizes)
    finally:
        device, dtype = loaded.device, loaded.dtype
        del loaded
        release_memory()
    return best.with_vllm(*_vllm_offline(settings, profile, prompts, device=device, dtype=dtype, jobs=jobs))


def _vllm_offline(
    settings: Settings,
    profile: Profile,
    prompts: list[list[ChatMessage]],
    *,
    device: str,
    dtype: str,
    jobs: int,
) -> tuple[float | None, str | None]:
    """vLLM's offline jobs/s on the same prompts, or why it could not run (not installed, int8)."""
    model = resolve_model(settings, profile)
    if not vllm_installed():
        return None, "vLLM is not installed (make install-vllm)"
    if (why := unsupported_on(device, model)) is not None:
        return None, why
    try:
        options = vllm_options(settings, profile, model, device, dtype)
        from ops.bench.vllm_offline import offline_jobs_per_s

        return offline_jobs_per_s(options, prompts, jobs, profile.max_new_tokens), None
    except BabelqError as exc:
        return None, str(exc)
    except Exception as exc:  # vLLM's own failure to start: the baseline says why, the bench goes on
        return None, f"vLLM offline failed: {type(exc).__name__}: {exc}"[:300]


def first_turn_prompts(
    profile: Profile, texts: Sequence[str], detector: LanguageDetector | None = None
) -> list[list[ChatMessage]]:
    """Each text as the first message of a conversation: the system prompt of its language + it."""
    detector = detector or LanguageDetector()
    return [build_prompt(profile.system_prompt(detector.detect(t).language or "en"), [], t) for t in texts]


def prompt_requests(
    runner: Runner, profile: Profile, texts: Sequence[str]
) -> list[tuple[PromptRequest, int]]:
    """The texts as first-turn requests for the engine, each with its token count (prompt + cap)."""
    requests = []
    for messages in first_turn_prompts(profile, texts):
        tokens = runner.count_tokens(messages) + profile.max_new_tokens
        requests.append((PromptRequest(messages, profile.max_new_tokens), tokens))
    return requests
