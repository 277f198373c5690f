"""Building, steering and releasing transformers' ContinuousBatchingManager: the internals the
continuous runner reaches (the batch processor's scheduler for a live cap, the thread status to
tell a dead loop from one request's error) are all here, so a transformers upgrade that moves
them breaks one small module (`transformers` is pinned; the runner's unit tests cover each)."""

from __future__ import annotations

import copy
import gc
import logging
import math
from collections.abc import Callable
from typing import Any, cast

import torch
from transformers import ContinuousBatchingConfig, GenerationConfig
from transformers.generation.continuous_batching import ContinuousBatchingManager

from core.errors import ConfigurationError, ModelLoadError
from workers.model_loader import LoadedModel
from workers.runners.cb_penalty import penalty_processors

CPU_CACHE_TOKENS = 16_384
"""KV cache on CPU when no budget is given, in tokens of all running sequences together."""
CPU_STEP_TOKENS = 512
"""Tokens per forward step on CPU (prefill chunks plus one per decoding sequence)."""
log = logging.getLogger(__name__)


def build_manager(
    loaded: LoadedModel, config: ContinuousBatchingConfig, eos_ids: frozenset[int], penalty: float
) -> ContinuousBatchingManager:
    """A manager for the model (not started); ConfigurationError if the model cannot be paged."""
    init = _init_method(loaded)
    generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        do_sample=False, max_new_tokens=1, eos_token_id=sorted(eos_ids),
        pad_token_id=loaded.tokenizer.pad_token_id,
    )  # fmt: skip
    try:
        manager = init(generation_config=generation_config, continuous_batching_config=copy.copy(config))
    except ValueError as error:  # e.g. an attention implementation the manager cannot page
        raise ConfigurationError(f"continuous batching cannot run {loaded.name}: {error}") from error
    if penalty != 1.0:
        manager.logit_processor = penalty_processors(penalty)
    return manager


def start_with_cap(manager: ContinuousBatchingManager, cap: int) -> None:
    """Start the loop with its batch processor built here first, so that the cap on running
    sequences holds from the first step (the loop would otherwise build it in its own thread)."""
    manager.batch_processor = manager._create_batch_processor()
    set_sequence_cap(manager, cap)
    manager.start()


def set_sequence_cap(manager: ContinuousBatchingManager, cap: int) -> None:
    """The scheduler reads its request budget at every step: a plain attribute write is live."""
    processor = getattr(manager, "batch_processor", None)
    if processor is not None:
        processor.scheduler.max_requests_per_batch = cap


def batching_config(
    device: str, cache_tokens: int | None, max_batch_size: int, penalty: float
) -> ContinuousBatchingConfig:
    on_cpu = device == "cpu"
    page_size = 64 if on_cpu else 256
    cache_tokens = cache_tokens or (CPU_CACHE_TOKENS if on_cpu else None)
    return ContinuousBatchingConfig(
        page_size=page_size,
        num_blocks=None if cache_tokens is None else math.ceil(cache_tokens / page_size),
        max_batch_tokens=CPU_STEP_TOKENS if on_cpu else None,
        max_requests_per_batch=max_batch_size,
        # Our penalty reads each step's token sets on the host: no graphs, no step ahead.
        use_async_batching=False if penalty != 1.0 else None,
        use_cuda_graph=False if penalty != 1.0 else None,
    )


def cache_tokens(config: ContinuousBatchingConfig) -> int | None:
    """Tokens the paged KV cache holds (None: the manager sizes it from free GPU memory)."""
    return None if config.num_blocks is None else config.num_blocks * config.page_size


def release(dead: ContinuousBatchingManager) -> None:
    """Free a dead manager's KV cache before the next one is built: on a GPU the new cache is sized
    from free memory, and the old one must not hold it."""
    try:
        dead.destroy()
        dead.batch_processor = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # a broken device may refuse even this; the next start will tell
        log.exception("releasing the dead continuous batching loop failed")


def loop_died(manager: ContinuousBatchingManager) -> bool:
    """Whether the manager's loop is going down hard (a step raised): its requests' error outputs
    then come from the loop's death, not from their own faults."""
    status = manager.background_thread_status
    return status.fatal_error is not None or status.local_status >= status.HARD_STOP


def _init_method(loaded: LoadedModel) -> Callable[..., ContinuousBatchingManager]:
    """The model's `init_continuous_batching`, refused early for a model that cannot generate."""
    init: Any = getattr(loaded.model, "init_continuous_batching", None)
    if init is None:
        raise ModelLoadError(f"{loaded.name} is not a generative (causal LM) model")
    return cast("Callable[..., ContinuousBatchingManager]", init)
