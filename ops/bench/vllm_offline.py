"""vLLM's offline `LLM.generate` on every prompt at once: the other half of direct_best.

What a user who knows the field would run to get the most out of a model on a machine: vLLM's
own engine with its defaults, the whole workload handed over in one call so its scheduler is never
short of work, the same prompts (rendered by the same chat template), the same greedy decoding,
answer cap and repetition penalty, and the same KV-cache memory as babelq's vllm engine. The
engine's start is not timed; a one-prompt warm-up comes first.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

from workers.model_loader import ChatTemplate, eos_ids_of, load_tokenizer
from workers.runners.base import ChatPrompt
from workers.vllm_options import VllmOptions, engine_memory, prepare_environment


def offline_jobs_per_s(
    options: VllmOptions, prompts: Sequence[ChatPrompt], jobs: int, max_new_tokens: int
) -> float:
    """Jobs per second of one `LLM.generate` call over `jobs` prompts (cycled from `prompts`)."""
    prepare_environment()
    from vllm import LLM, SamplingParams

    tokenizer = load_tokenizer(options.model)
    template = ChatTemplate(tokenizer)
    work = [prompts[i % len(prompts)] for i in range(jobs)]
    inputs: list[Any] = [
        {"prompt_token_ids": tokenizer(template.render(p), add_special_tokens=False).input_ids} for p in work
    ]
    params = SamplingParams(
        temperature=0.0,
        max_tokens=max_new_tokens,
        repetition_penalty=options.repetition_penalty,
        stop_token_ids=sorted(eos_ids_of(options.model, tokenizer)),
    )
    llm = LLM(
        model=options.model,
        dtype=options.dtype,  # type: ignore[arg-type]
        max_model_len=options.max_model_len,
        enforce_eager=options.enforce_eager,
        seed=0,
        **engine_memory(options),
    )
    try:
        llm.generate(inputs[:1], params, use_tqdm=False)
        started = time.perf_counter()
        llm.generate(inputs, params, use_tqdm=False)
        return jobs / (time.perf_counter() - started)
    finally:
        with contextlib.suppress(Exception):  # the engine's processes go before the next one starts
            llm.llm_engine.engine_core.shutdown()
