"""Continuous (iteration-level) batching with the transformers ContinuousBatchingManager.

The manager runs one background thread that, at every decode step, admits waiting requests,
advances every running one by a token, and retires those that hit eos or their own
max_new_tokens. Short answers leave at once and new requests take their place, so nobody waits
for the longest answer of "their" batch. It keeps the KV cache in pages (PagedAttentionCache) and
runs the model on the flattened batch with SDPA or (paged) eager attention; both work on CPU in
float32, and greedy answers equal the static runner's (same model, same argmax).

What the manager does not do, and how this module fills the gap:
- repetition_penalty: its logits processor is not supported in continuous batching (transformers
  drops it), so we add our own per-request version (`RepetitionPenalty` below), with the same
  formula as transformers' and the same token set (the prompt and the answer so far). It needs
  the synchronous loop, so asynchronous batching and CUDA graphs are off while a penalty is used.
- results by request: the manager has one output queue; a dispatcher thread of ours hands each
  result to the Future of its request.
- cache size on CPU: the manager would size its cache from host RAM (60 %); we give it a fixed
  number of tokens instead.

The manager is started in `__init__` and stopped by `close()`; sampling, beams and streaming are
not used (greedy, one answer per prompt).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any, cast

import torch
from transformers import ContinuousBatchingConfig, GenerationConfig
from transformers.generation.continuous_batching import ContinuousBatchingManager
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingLogitsProcessor,
    ContinuousBatchingLogitsProcessorList,
)
from transformers.generation.continuous_batching.requests import FutureRequestState, GenerationOutput
from transformers.generation.logits_process import LogitsProcessorList

from ops.errors import BatcherClosed, BatchError, ConfigurationError, ItemTooLarge, ModelLoadError
from workers.model_loader import LoadedModel
from workers.runners.base import ChatPrompt, Generation
from workers.runners.static import _eos_token_ids, answer_text, completion

CPU_CACHE_TOKENS = 16_384
"""KV cache on CPU, in tokens of all running sequences together (about 0.75 GB for SmolLM2-135M)."""
CPU_MAX_BATCH_TOKENS = 512
"""Tokens per forward step on CPU (prefill chunks plus one per decoding sequence)."""
_POLL_S = 0.1


class ContinuousBatchRunner:
    """Runs chat prompts on one loaded model, each request joining and leaving the batch on its own.

    `max_batch_tokens` caps the tokens of one forward step (prefill chunks plus one per decoding
    sequence); `max_batch_size` caps the sequences that decode together (others wait). None keeps
    the manager's choice on GPU and our CPU defaults.

    Always `close()` it (or use it as a context manager): the manager's thread is not a daemon, so
    a runner left open keeps the interpreter from exiting.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        repetition_penalty: float = 1.0,
        max_batch_tokens: int | None = None,
        max_batch_size: int | None = None,
    ) -> None:
        _check_options(repetition_penalty, max_batch_tokens, max_batch_size)
        self.loaded = loaded
        self.repetition_penalty = repetition_penalty
        self.model_name = loaded.name
        self.device = loaded.device
        self._eos_ids = _eos_token_ids(loaded)
        self._lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()  # a fast tokenizer may not be used by two threads at once
        self._pending: dict[str, Future[Generation]] = {}
        self._prompt_tokens: dict[str, int] = {}
        self._ids = itertools.count()
        self._closed = False
        self._failure: str | None = None
        config = _batching_config(loaded.device, max_batch_tokens, max_batch_size, repetition_penalty)
        self._capacity = None if config.num_blocks is None else config.num_blocks * config.page_size
        self._manager = self._build_manager(config)
        self._manager.start()
        self._dispatcher = threading.Thread(target=self._dispatch, name="continuous-results", daemon=True)
        self._dispatcher.start()

    def render(self, prompt: ChatPrompt) -> str:
        return self.loaded.render_chat(prompt)

    def count_tokens(self, prompt: ChatPrompt) -> int:
        return len(self._encode(prompt))

    def generate(self, prompts: Sequence[ChatPrompt], max_new_tokens: int) -> list[Generation]:
        """Submit every prompt, then wait for all; the first failure is raised for the whole call."""
        if not prompts:
            return []
        futures: list[Future[Generation]] = []
        try:
            futures += [self.submit(prompt, max_new_tokens) for prompt in prompts]
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:  # the call fails as a whole: stop the work nobody will read
                future.cancel()
            raise

    def submit(self, prompt: ChatPrompt, max_new_tokens: int) -> Future[Generation]:
        """Queue one prompt now; its Future resolves as soon as its own answer ends.

        Cancelling the Future drops the request from the running batch. Raises ItemTooLarge for a
        request the KV cache could never hold, BatcherClosed after `close()`, and BatchError once
        the generation loop has died.
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        input_ids = self._encode(prompt)
        self._check_fits(len(input_ids), max_new_tokens)
        future: Future[Generation] = Future()
        with self._lock:
            self._refuse_when_stopped()
            request_id = f"babelq-{next(self._ids)}"
            self._pending[request_id] = future
            self._prompt_tokens[request_id] = len(input_ids)
            added = self._manager.add_request(
                input_ids, request_id=request_id, max_new_tokens=max_new_tokens,
                eos_token_id=sorted(self._eos_ids),
            )  # fmt: skip
            if added is None:  # the manager refuses requests once its loop has stopped
                self._forget(request_id)
                raise BatchError("the continuous batching loop is not running")
        future.add_done_callback(lambda done: self._cancel(request_id, done))
        return future

    def close(self, timeout: float | None = None) -> None:
        """Take no more requests, let running ones finish, stop the loop. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._manager.stop(block=True, timeout=timeout)
        if threading.current_thread() is not self._dispatcher:  # close() may come from a Future callback
            self._dispatcher.join(timeout)
        self._manager.destroy()
        self._fail_pending(BatcherClosed("the continuous runner was closed before this request finished"))

    def __enter__(self) -> ContinuousBatchRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _encode(self, prompt: ChatPrompt) -> list[int]:
        """Token ids of the rendered prompt; no special tokens added (the template wrote them)."""
        text = self.render(prompt)
        with self._tokenizer_lock:
            ids = self.loaded.tokenizer(text, add_special_tokens=False).input_ids
        return cast("list[int]", ids)

    def _check_fits(self, prompt_tokens: int, max_new_tokens: int) -> None:
        """Refuse what the cache can never hold: the manager would otherwise stop for every request."""
        if self._capacity is not None and prompt_tokens + max_new_tokens > self._capacity:
            raise ItemTooLarge(
                f"{prompt_tokens} prompt tokens + {max_new_tokens} new tokens exceed the KV cache of "
                f"{self._capacity} tokens"
            )

    def _refuse_when_stopped(self) -> None:
        if self._closed:
            raise BatcherClosed("the continuous runner is closed and takes no more requests")
        if self._failure is not None:
            raise BatchError(f"the continuous batching loop died: {self._failure}")

    def _build_manager(self, config: ContinuousBatchingConfig) -> ContinuousBatchingManager:
        init = _init_method(self.loaded)
        generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
            do_sample=False, max_new_tokens=1, eos_token_id=sorted(self._eos_ids),
            pad_token_id=self.loaded.tokenizer.pad_token_id,
        )  # fmt: skip
        try:
            manager = init(generation_config=generation_config, continuous_batching_config=config)
        except ValueError as error:  # e.g. an attention implementation the manager cannot page
            raise ConfigurationError(f"continuous batching cannot run {self.model_name}: {error}") from error
        if self.repetition_penalty != 1.0:
            manager.logit_processor = _penalty_processors(self.repetition_penalty)
        return manager

    def _dispatch(self) -> None:
        """Hand each finished result to its Future until the manager's loop has stopped and drained."""
        while True:
            output = self._manager.get_result(timeout=_POLL_S)
            if output is not None:
                self._deliver(output)
            elif not self._manager.is_running():
                break
        while (output := self._manager.get_result(timeout=0)) is not None:  # what came in meanwhile
            self._deliver(output)
        with self._lock:
            if not self._closed:
                self._failure = "the generation thread stopped unexpectedly (see the transformers log)"
        self._fail_pending(BatchError("the continuous batching loop stopped before this request finished"))

    def _deliver(self, output: GenerationOutput) -> None:
        if not output.is_finished():
            return
        with self._lock:
            future = self._pending.pop(output.request_id, None)
            prompt_tokens = self._prompt_tokens.pop(output.request_id, 0)
        if future is None:  # cancelled meanwhile
            return
        if output.error is not None:
            _settle(future.set_exception, BatchError(f"generation failed: {output.error}"))
        else:
            _settle(future.set_result, self._result(output.generated_tokens, prompt_tokens))

    def _result(self, new_tokens: list[int], prompt_tokens: int) -> Generation:
        kept, reason = completion(new_tokens, self._eos_ids)
        with self._tokenizer_lock:
            text = self.loaded.tokenizer.decode(kept, skip_special_tokens=True)
        assert isinstance(text, str)  # one sequence of ids decodes to one string
        return Generation(answer_text(text, reason), prompt_tokens, len(kept), reason)

    def _cancel(self, request_id: str, future: Future[Generation]) -> None:
        if not future.cancelled():
            return
        with self._lock:
            self._forget(request_id)
        self._manager.cancel_request(request_id)

    def _forget(self, request_id: str) -> None:
        self._pending.pop(request_id, None)
        self._prompt_tokens.pop(request_id, None)

    def _fail_pending(self, error: Exception) -> None:
        with self._lock:
            futures = list(self._pending.values())
            self._pending.clear()
            self._prompt_tokens.clear()
        for future in futures:
            _settle(future.set_exception, error)


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


def _penalty_processors(penalty: float) -> ContinuousBatchingLogitsProcessorList:
    """The manager's processor list holding only our penalty (greedy decoding needs no other)."""
    processors = ContinuousBatchingLogitsProcessorList(LogitsProcessorList([RepetitionPenalty(penalty)]))
    processors.tensors_required = 1  # one argument row; the list counts only the processors it converts
    return processors


def _batching_config(
    device: str, max_batch_tokens: int | None, max_batch_size: int | None, penalty: float
) -> ContinuousBatchingConfig:
    on_cpu = device == "cpu"
    page_size = 64 if on_cpu else 256
    return ContinuousBatchingConfig(
        page_size=page_size,
        num_blocks=math.ceil(CPU_CACHE_TOKENS / page_size) if on_cpu else None,
        max_batch_tokens=max_batch_tokens or (CPU_MAX_BATCH_TOKENS if on_cpu else None),
        max_requests_per_batch=max_batch_size,
        # Our penalty reads each step's token sets on the host: no graphs, no step ahead.
        use_async_batching=False if penalty != 1.0 else None,
        use_cuda_graph=False if penalty != 1.0 else None,
    )


def _check_options(penalty: float, max_batch_tokens: int | None, max_batch_size: int | None) -> None:
    if not (math.isfinite(penalty) and penalty > 0):
        raise ConfigurationError(f"repetition_penalty must be a positive number, got {penalty!r}")
    if max_batch_tokens is not None and max_batch_tokens < 1:
        raise ConfigurationError(f"max_batch_tokens must be at least 1, got {max_batch_tokens}")
    if max_batch_size is not None and max_batch_size < 1:
        raise ConfigurationError(f"max_batch_size must be at least 1, got {max_batch_size}")


def _init_method(loaded: LoadedModel) -> Callable[..., ContinuousBatchingManager]:
    """The model's `init_continuous_batching`, refused early for a model that cannot generate."""
    init: Any = getattr(loaded.model, "init_continuous_batching", None)
    if init is None:
        raise ModelLoadError(f"{loaded.name} is not a generative (causal LM) model")
    return cast("Callable[..., ContinuousBatchingManager]", init)


def _settle(action: Callable[[Any], None], value: object) -> None:
    """Set a Future's outcome unless the caller cancelled it first."""
    with contextlib.suppress(InvalidStateError):
        action(value)
