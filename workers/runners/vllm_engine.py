"""vLLM's engine inside the worker process: each job is one request that vLLM schedules itself.

`AsyncLLM` (vLLM's V1 engine, as its OpenAI server uses it) runs in this process on an asyncio
loop of its own thread; its engine core and model runner run in processes vLLM starts with
spawn. vLLM does the batching: continuous batching (a request joins the running batch at the
next step and leaves when its own answer ends), chunked prefill, paged attention and prefix
caching (the system prompt and a conversation's earlier turns are computed once). babelq hands it
one request per job and gets one result per job, so every job keeps its own outcome:

- a request vLLM refuses (a prompt over max_model_len) fails alone, as ItemTooLarge;
- a job whose deadline passes while it runs is aborted inside vLLM, as ItemExpired;
- the engine dying (its process killed, a failed step) fails the requests it held, and every
  later one, as BatchError: the breaker counts them as model failures.

Import this module only where vLLM is installed (it imports vllm), and only after
`workers.vllm_env.prepare` has set vLLM's environment.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from vllm import SamplingParams
from vllm.config import VllmConfig
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.exceptions import VLLMClientError
from vllm.outputs import CompletionOutput
from vllm.sampling_params import RequestOutputKind
from vllm.v1.engine.async_llm import AsyncLLM
from vllm.v1.engine.exceptions import EngineDeadError
from vllm.v1.metrics.loggers import StatLoggerBase
from vllm.v1.metrics.stats import IterationStats, SchedulerStats

from core.errors import (
    BatcherClosed,
    BatchError,
    ConfigurationError,
    ItemExpired,
    ItemTooLarge,
    ModelLoadError,
)
from workers.engine_guardian import Guardian
from workers.engine_stats import EngineStats
from workers.model_loader import ChatTemplate, eos_ids_of, load_tokenizer
from workers.runners.base import (
    STREAM_EVERY_TOKENS,
    ChatPrompt,
    FinishReason,
    Generation,
    TextListener,
    partial_text,
    tell,
)
from workers.runners.static import answer_text
from workers.vllm_options import VllmOptions, engine_memory

log = logging.getLogger(__name__)


class VllmRunner:
    """Runs chat prompts on one model with vLLM; `close()` it to stop vLLM's processes."""

    def __init__(self, options: VllmOptions, stats: EngineStats | None = None) -> None:
        self.model_name = options.model
        self.device = options.device
        self.dtype = options.dtype
        self.options = options
        self.stats = stats or EngineStats()
        self._tokenizer = load_tokenizer(options.model)
        self._template = ChatTemplate(self._tokenizer)
        self._eos_ids = sorted(eos_ids_of(options.model, self._tokenizer))
        self._tokenizer_lock = threading.Lock()  # a fast tokenizer may not be used by two threads at once
        self._cap = options.max_num_seqs
        self._ids = itertools.count()
        self._closed = False
        self._guardian = Guardian.start()  # before vLLM starts the processes it must not leave behind
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vllm-engine", daemon=True)
        self._thread.start()
        try:
            self._engine = self._call(self._start_engine())
        except BaseException:
            self._stop_loop()
            self._guardian.close()
            raise

    @property
    def size_cap(self) -> int:
        return self._cap

    @property
    def max_batch_size(self) -> int:
        return self.options.max_num_seqs

    @property
    def cache_tokens(self) -> int:
        """The most tokens one request may take: its prompt and its answer (max_model_len)."""
        return self.options.max_model_len

    @property
    def engine_dead(self) -> bool:
        return self._closed or bool(self._engine.errored)

    def set_max_batch_size(self, size: int) -> None:
        """Run at most `size` requests together from now on (up to vLLM's max_num_seqs)."""
        if not 1 <= size <= self.options.max_num_seqs:
            raise ConfigurationError(
                f"the vllm engine takes a max_batch_size from 1 to {self.options.max_num_seqs} (its "
                f"max_num_seqs, set at start) without a restart, got {size}"
            )
        self._cap = size

    def encode(self, prompt: ChatPrompt) -> list[int]:
        """Token ids of the rendered prompt; no special tokens added (the template wrote them)."""
        text = self._template.render(prompt)
        with self._tokenizer_lock:
            ids: list[int] = self._tokenizer(text, add_special_tokens=False).input_ids
        return ids

    def count_tokens(self, prompt: ChatPrompt) -> int:
        return len(self.encode(prompt))

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        max_new_tokens: int,
        listeners: Sequence[TextListener | None] | None = None,
    ) -> list[Generation]:
        """Every prompt at once, vLLM batching them; the first failure is raised for the call."""
        futures: list[Future[Generation]] = []
        try:
            for prompt, listener in zip(prompts, listeners or [None] * len(prompts), strict=True):
                futures.append(self.submit_tokens(self.encode(prompt), max_new_tokens, listener))
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:  # the call fails as a whole: abort what nobody will read
                future.cancel()
            raise

    def submit_tokens(
        self,
        input_ids: list[int],
        max_new_tokens: int,
        on_text: TextListener | None = None,
        deadline: float | None = None,
    ) -> Future[Generation]:
        """One request; see StreamingRunner.submit_tokens."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if len(input_ids) + 1 > self.options.max_model_len:
            raise ItemTooLarge(
                f"the prompt takes {len(input_ids)} tokens; the vllm engine's max_model_len is "
                f"{self.options.max_model_len} (BABELQ_VLLM_MAX_MODEL_LEN)"
            )
        if self._closed:
            raise BatcherClosed("the vllm runner is closed and takes no more requests")
        if self._engine.errored:
            raise BatchError("the vLLM engine is dead; this worker must be restarted")
        request_id = f"babelq-{next(self._ids)}"
        work = self._request(input_ids, max_new_tokens, on_text, deadline, request_id)
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    def close(self, timeout: float | None = 30) -> None:
        """Stop vLLM's engine and its processes. Running requests fail with BatcherClosed."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call(self._shutdown(timeout), timeout)
        except Exception as exc:  # closing must go on: the guardian kills what is left
            log.warning("stopping the vLLM engine: %s", exc)
        self._stop_loop()
        self._guardian.close()

    def __enter__(self) -> VllmRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def _start_engine(self) -> AsyncLLM:
        try:
            return AsyncLLM.from_engine_args(
                engine_args(self.options), stat_loggers=[stat_logger_factory(self.stats)]
            )
        except ValueError as exc:  # vLLM checks its settings (KV cache, lengths) at start
            raise ConfigurationError(f"vLLM refused the engine's settings: {exc}") from exc
        except Exception as exc:
            raise ModelLoadError(f"vLLM could not start {self.options.model}: {exc}") from exc

    async def _shutdown(self, timeout: float | None) -> None:
        self._engine.shutdown(timeout)
        # Let it go now: its __del__ shuts down again, which fails once the interpreter is exiting.
        del self._engine

    async def _request(
        self,
        input_ids: list[int],
        max_new_tokens: int,
        on_text: TextListener | None,
        deadline: float | None,
        request_id: str,
    ) -> Generation:
        """One request's life in vLLM; every way it can end is one of babelq's errors."""
        params = self._sampling(max_new_tokens, streamed=on_text is not None)
        try:
            async with asyncio.timeout_at(deadline):  # loop.time() is time.monotonic()
                output = await self._outputs(input_ids, params, request_id, on_text)
        except TimeoutError as exc:
            raise ItemExpired("deadline passed while the answer was generated; aborted in vLLM") from exc
        except VLLMClientError as exc:
            raise ItemTooLarge(f"vLLM refused the request: {exc}") from exc
        except EngineDeadError as exc:
            raise BatchError("the vLLM engine died; this worker must be restarted") from exc
        except (BatchError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise BatchError(f"vLLM failed the request: {type(exc).__name__}: {exc}") from exc
        return self._generation(output, len(input_ids))

    async def _outputs(
        self, input_ids: list[int], params: SamplingParams, request_id: str, on_text: TextListener | None
    ) -> CompletionOutput:
        """The request's final output; a streamed one tells its listener the answer so far."""
        final: CompletionOutput | None = None
        told = 0
        async for output in self._engine.generate({"prompt_token_ids": input_ids}, params, request_id):
            final = output.outputs[0]
            if (
                on_text is not None
                and not output.finished
                and len(final.token_ids) >= told + STREAM_EVERY_TOKENS
            ):
                told = len(final.token_ids)
                tell(on_text, partial_text(final.text))
        if final is None or final.finish_reason not in ("stop", "length"):
            reason = None if final is None else final.finish_reason
            raise BatchError(f"vLLM ended the request without an answer (finish reason {reason})")
        return final

    def _sampling(self, max_new_tokens: int, streamed: bool) -> SamplingParams:
        """Greedy, as the static engine: the same answers on the same model and dtype."""
        kind = RequestOutputKind.CUMULATIVE if streamed else RequestOutputKind.FINAL_ONLY
        return SamplingParams(
            temperature=0.0,
            max_tokens=max_new_tokens,
            repetition_penalty=self.options.repetition_penalty,
            stop_token_ids=self._eos_ids,
            output_kind=kind,
        )

    def _generation(self, output: CompletionOutput, prompt_tokens: int) -> Generation:
        reason: FinishReason = "length" if output.finish_reason == "length" else "stop"
        return Generation(answer_text(output.text, reason), prompt_tokens, len(output.token_ids), reason)

    def _call(self, work: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the engine's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def engine_args(options: VllmOptions) -> AsyncEngineArgs:
    """vLLM's engine arguments for babelq's options: prefix caching and chunked prefill on."""
    return AsyncEngineArgs(
        model=options.model,
        dtype=options.dtype,  # type: ignore[arg-type]
        max_model_len=options.max_model_len,
        max_num_seqs=options.max_num_seqs,
        max_num_batched_tokens=options.max_num_batched_tokens,
        enable_prefix_caching=options.prefix_caching,
        enable_chunked_prefill=True,
        enforce_eager=options.enforce_eager,
        seed=0,
        disable_log_stats=False,
        **engine_memory(options),
    )


def stat_logger_factory(stats: EngineStats) -> Callable[[VllmConfig, int], StatLoggerBase]:
    """A per-engine stat logger that feeds `stats` (vLLM calls it with its config and index)."""
    return lambda _config, _index: _StatsLogger(stats)


class _StatsLogger(StatLoggerBase):
    """Hands vLLM's per-step stats to babelq's EngineStats (read by the /metrics scrape)."""

    def __init__(self, stats: EngineStats) -> None:  # vLLM's config is not needed here
        self._stats = stats

    def record(
        self,
        scheduler_stats: SchedulerStats | None,
        iteration_stats: IterationStats | None,
        mm_cache_stats: object = None,
        engine_idx: int = 0,
    ) -> None:
        if scheduler_stats is not None:
            prefix = scheduler_stats.prefix_cache_stats
            self._stats.state(
                scheduler_stats.num_running_reqs,
                scheduler_stats.num_waiting_reqs,
                scheduler_stats.kv_cache_usage,
                prefix.queries,
                prefix.hits,
            )
        if iteration_stats is not None:
            self._stats.tokens(
                iteration_stats.num_prompt_tokens,
                iteration_stats.num_generation_tokens,
                iteration_stats.num_preempted_reqs,
            )

    def log_engine_initialized(self) -> None:
        """Nothing to say: the worker logs its own start-up line."""
