"""Continuous (iteration-level) batching with the transformers ContinuousBatchingManager.

The manager runs one background thread that, at every decode step, admits waiting requests,
advances every running one by a token, and retires those that hit eos or their own
max_new_tokens. Short answers leave at once and new requests take their place, so nobody waits
for the longest answer of "their" batch. It keeps the KV cache in pages (PagedAttentionCache) and
runs the model on the flattened batch with SDPA or (paged) eager attention; both work on CPU in
float32, and greedy answers equal the static runner's (same model, same argmax).

What the manager does not do, and how this module fills the gap:
- repetition_penalty: transformers drops that logits processor in continuous batching, so we add
  our own per-request version (`cb_penalty`). It needs the synchronous loop, so asynchronous
  batching and CUDA graphs are off while a penalty is used.
- results by request: the manager has one output queue; a dispatcher thread of ours hands each
  result to the Future of its request.
- the token budget: `max_batch_tokens` (prompt + new tokens of every running sequence, as in the
  static batch policy) sizes the paged KV cache; a request that could never fit is refused.
- surviving a failed step: any exception in a decode step kills the manager's loop and fails
  every request in it. We start a new manager at once. Requests of a step that ran out of memory
  are submitted again while the cap on running sequences is halved (raised back by one after
  every `RECOVER_AFTER` answers); a request that runs out of memory alone fails by itself. Any
  other step error fails the requests that were in the loop (the caller retries or gives up).
- a live cap: `set_max_batch_size` lowers or restores the number of sequences that decode
  together without a restart (up to the size the manager was built for).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any, cast

from transformers.generation.continuous_batching import ContinuousBatchingManager
from transformers.generation.continuous_batching.requests import GenerationOutput

from core.errors import BatcherClosed, BatchError, ConfigurationError, ItemTooLarge
from workers.backoff import SizeCap, triage_dead_loop
from workers.model_loader import LoadedModel
from workers.runners.base import (
    STREAM_EVERY_TOKENS,
    ChatPrompt,
    Generation,
    TextListener,
    completion,
    partial_text,
)
from workers.runners.cb_manager import (
    batching_config,
    build_manager,
    cache_tokens,
    loop_died,
    release,
    set_sequence_cap,
    start_with_cap,
)
from workers.runners.static import answer_text, eos_token_ids

DEFAULT_MAX_BATCH_SIZE = 32
RECOVER_AFTER = 50
"""Answers in a row without running out of memory before the sequence cap climbs back by one."""
RESTART_PAUSES_S = (1.0, 2.0)
_POLL_S = 0.1
log = logging.getLogger(__name__)


@dataclass
class _Request:
    """One prompt in the runner: what is needed to resubmit it after the loop died, and its order
    of arrival (the manager schedules first come, first served)."""

    future: Future[Generation]
    input_ids: list[int]
    max_new_tokens: int
    order: int
    request_id: str = ""
    parked: bool = False
    on_text: TextListener | None = None  # a streamed request: told its answer so far


class ContinuousBatchRunner:
    """Runs chat prompts on one loaded model, each request joining and leaving the batch on its own.

    `max_batch_tokens` is the KV cache in tokens of all running sequences together (prompt and
    answer); None keeps the manager's choice on GPU (sized from free memory) and our CPU default.
    `max_batch_size` caps the sequences that decode together (others wait).

    Always `close()` it (or use it as a context manager): the manager's thread is not a daemon, so
    a runner left open keeps the interpreter from exiting.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        repetition_penalty: float = 1.0,
        max_batch_tokens: int | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    ) -> None:
        _check_options(repetition_penalty, max_batch_tokens, max_batch_size)
        self.loaded = loaded
        self.repetition_penalty = repetition_penalty
        self.model_name = loaded.name
        self.device = loaded.device
        self.restarts = 0
        self._eos_ids = eos_token_ids(loaded)
        self._lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()  # a fast tokenizer may not be used by two threads at once
        self._requests: dict[str, _Request] = {}
        self._ids = itertools.count()
        self._closed = False
        self._failure: str | None = None
        self._config = batching_config(loaded.device, max_batch_tokens, max_batch_size, repetition_penalty)
        self._capacity = cache_tokens(self._config)
        self._built_size = max_batch_size
        self._cap = SizeCap(max_batch_size, recover_after=RECOVER_AFTER)
        self._manager = self._start_manager()
        self._dispatcher = threading.Thread(target=self._dispatch, name="continuous-results", daemon=True)
        self._dispatcher.start()

    @property
    def size_cap(self) -> int:
        """How many sequences may decode together now (lower than asked while backing off)."""
        return self._cap.current

    @property
    def max_batch_size(self) -> int:
        return self._cap.ceiling

    @property
    def cache_tokens(self) -> int | None:
        """The token budget of all running sequences together (None: sized by the manager)."""
        return self._capacity

    def set_max_batch_size(self, size: int) -> None:
        """Change the cap on sequences decoding together, live; at most the size it was built for
        (the manager's buffers are sized by it)."""
        if not 1 <= size <= self._built_size:
            raise ConfigurationError(
                f"the continuous engine takes a max_batch_size from 1 to {self._built_size} (the size it "
                f"was started with) without a restart, got {size}"
            )
        with self._lock:  # not between a dead loop and its replacement
            self._cap.reset(size)
            set_sequence_cap(self._manager, self._cap.current)

    def render(self, prompt: ChatPrompt) -> str:
        return self.loaded.render_chat(prompt)

    def count_tokens(self, prompt: ChatPrompt) -> int:
        return len(self.encode(prompt))

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        max_new_tokens: int,
        listeners: Sequence[TextListener | None] | None = None,
    ) -> list[Generation]:
        """Submit every prompt, then wait for all; the first failure is raised for the whole call."""
        if not prompts:
            return []
        futures: list[Future[Generation]] = []
        try:
            for prompt, listener in zip(prompts, listeners or [None] * len(prompts), strict=True):
                futures.append(self.submit(prompt, max_new_tokens, listener))
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:  # the call fails as a whole: stop the work nobody will read
                future.cancel()
            raise

    def submit(
        self, prompt: ChatPrompt, max_new_tokens: int, on_text: TextListener | None = None
    ) -> Future[Generation]:
        """Queue one prompt now; its Future resolves as soon as its own answer ends.

        Cancelling the Future drops the request from the running batch. Raises ItemTooLarge for a
        request the KV cache could never hold, BatcherClosed after `close()`, and BatchError when
        no generation loop could be started again after a failure. `on_text` (a streamed
        request) is told the answer so far every STREAM_EVERY_TOKENS tokens.
        """
        return self.submit_tokens(self.encode(prompt), max_new_tokens, on_text)

    def submit_tokens(
        self, input_ids: list[int], max_new_tokens: int, on_text: TextListener | None = None
    ) -> Future[Generation]:
        """`submit` for a prompt already encoded (by `encode`, in the caller's thread)."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        self._check_fits(len(input_ids), max_new_tokens)
        future: Future[Generation] = Future()
        with self._lock:
            self._refuse_when_stopped()
            request = _Request(future, input_ids, max_new_tokens, next(self._ids), on_text=on_text)
            self._add(request)
        future.add_done_callback(lambda done: self._cancel(request, done))
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
        self._fail_pending(self._stopped_error())

    def __enter__(self) -> ContinuousBatchRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def encode(self, prompt: ChatPrompt) -> list[int]:
        """Token ids of the rendered prompt; no special tokens added (the template wrote them)."""
        text = self.render(prompt)
        with self._tokenizer_lock:
            ids = self.loaded.tokenizer(text, add_special_tokens=False).input_ids
        return cast("list[int]", ids)

    def _check_fits(self, prompt_tokens: int, max_new_tokens: int) -> None:
        """Refuse what the cache can never hold: the manager would otherwise stop for every request."""
        if self._capacity is not None and prompt_tokens + max_new_tokens > self._capacity:
            raise ItemTooLarge(
                f"{prompt_tokens} prompt tokens + {max_new_tokens} new tokens exceed the batch token "
                f"budget (KV cache) of {self._capacity} tokens"
            )

    def _refuse_when_stopped(self) -> None:
        if self._closed:
            raise BatcherClosed("the continuous runner is closed and takes no more requests")
        if self._failure is not None:
            raise BatchError(f"the continuous batching loop could not be restarted: {self._failure}")

    def _add(self, request: _Request) -> None:
        """Hand a request to the current manager under a fresh id (the lock is held). A manager
        whose loop just died refuses it: it waits, parked, for the loop that replaces it."""
        request.request_id = f"babelq-{next(self._ids)}"
        self._requests[request.request_id] = request
        added = self._manager.add_request(
            request.input_ids, request_id=request.request_id, max_new_tokens=request.max_new_tokens,
            eos_token_id=sorted(self._eos_ids), streaming=request.on_text is not None,
        )  # fmt: skip
        request.parked = added is None

    def _start_manager(self) -> ContinuousBatchingManager:
        """A new manager, its loop started under the current cap."""
        manager = build_manager(self.loaded, self._config, self._eos_ids, self.repetition_penalty)
        start_with_cap(manager, self._cap.current)
        return manager

    def _dispatch(self) -> None:
        """Hand each finished result to its Future; when the loop dies, start another and go on.
        Whatever ends this thread, no request is left unsettled and no later one is taken."""
        try:
            self._dispatch_until_stopped()
        except BaseException as exc:
            log.exception("the continuous runner's dispatcher failed")
            with self._lock:
                self._failure = f"dispatcher failed: {type(exc).__name__}: {exc}"
        finally:
            self._fail_pending(self._stopped_error())

    def _stopped_error(self) -> BatchError:
        if self._closed:
            return BatcherClosed("the continuous runner was closed before this request finished")
        return BatchError("the continuous batching loop stopped before this request ended")

    def _dispatch_until_stopped(self) -> None:
        while True:
            manager = self._manager
            output = manager.get_result(timeout=_POLL_S)
            if output is not None:
                self._deliver(manager, output)
            elif manager.is_running():
                if loop_died(manager):  # get_result no longer waits: let the thread finish
                    time.sleep(_POLL_S / 10)
            else:
                while (output := manager.get_result(timeout=0)) is not None:  # what came in meanwhile
                    self._deliver(manager, output)
                if self._closed or not self._recover(manager):
                    return

    def _deliver(self, manager: ContinuousBatchingManager, output: GenerationOutput) -> None:
        if not output.is_finished():
            self._stream(output)  # only streamed requests report before they finish
            return
        if output.error is not None and loop_died(manager):
            return  # every request of a dead loop is settled together by _recover
        with self._lock:
            request = self._requests.pop(output.request_id, None)
        if request is None:  # cancelled meanwhile
            return
        if output.error is not None:
            _settle(request.future.set_exception, BatchError(f"generation failed: {output.error}"))
            return
        try:
            result = self._result(output.generated_tokens, len(request.input_ids))
        except Exception as exc:  # e.g. the tokenizer cannot decode: this request's own failure
            _settle(request.future.set_exception, BatchError(f"decoding the answer failed: {exc}"))
            return
        _settle(request.future.set_result, result)
        self._cap.succeeded()
        set_sequence_cap(manager, self._cap.current)

    def _recover(self, dead: ContinuousBatchingManager) -> bool:
        """The loop died: fail or resubmit its requests on a new manager. False if none starts.
        The lock is held throughout, so no request slips between the dead loop and the new one."""
        error: BaseException = dead.background_thread_status.fatal_error or RuntimeError("the loop stopped")
        with self._lock:
            if self._closed:  # close() stops the loop it sees; never start one behind its back
                return False
            again, failed = self._triage(sorted(self._requests.values(), key=lambda r: r.order), error)
            self._requests.clear()
            release(dead)
            try:
                self._manager = self._start_manager_retrying()
            except Exception as exc:
                self._failure = f"{type(exc).__name__}: {exc}"
                failed, again = failed + again, []
            self.restarts += 1
            for request in again:
                self._add(request)
        log.warning("continuous batching loop died (%s: %s): %d requests resubmitted, %d failed; cap now %d",
                    type(error).__name__, error, len(again), len(failed), self._cap.current)  # fmt: skip
        # One error object for all: a loop death is one failure to the breaker, not one per request.
        shared = BatchError(f"generation failed: {error}")
        for request in failed:
            _settle(request.future.set_exception, shared)
        return self._failure is None

    def _start_manager_retrying(self) -> ContinuousBatchingManager:
        """A new manager; a failed start (memory still held, say) is tried again twice, then raised
        (the health checks then see every request refused, and the worker exits to be replaced)."""
        for pause_s in RESTART_PAUSES_S:
            try:
                return self._start_manager()
            except Exception as exc:
                log.warning(
                    "starting a new continuous batching loop failed (%s); again in %.0f s", exc, pause_s
                )
                time.sleep(pause_s)
        return self._start_manager()

    def _triage(self, victims: list[_Request], error: BaseException) -> tuple[list[_Request], list[_Request]]:
        """(to run again, to fail): see `triage_dead_loop`; cancelled requests are dropped."""
        victims = [request for request in victims if not request.future.done()]
        parked = [request for request in victims if request.parked]
        ran = [request for request in victims if not request.parked]
        return triage_dead_loop(ran, parked, error, self._cap)

    def _stream(self, output: GenerationOutput) -> None:
        """Tell a streamed request its answer so far, every STREAM_EVERY_TOKENS tokens."""
        tokens = output.generated_tokens
        with self._lock:
            request = self._requests.get(output.request_id)
        if request is None or request.on_text is None or not tokens or len(tokens) % STREAM_EVERY_TOKENS:
            return
        kept, _ = completion(tokens, self._eos_ids)
        try:
            request.on_text(partial_text(self._decode(kept)))
        except Exception as exc:  # a lost stream update, never a failed request
            log.warning("a stream listener failed: %s", exc)

    def _result(self, new_tokens: list[int], prompt_tokens: int) -> Generation:
        kept, reason = completion(new_tokens, self._eos_ids)
        return Generation(answer_text(self._decode(kept), reason), prompt_tokens, len(kept), reason)

    def _decode(self, tokens: list[int]) -> str:
        with self._tokenizer_lock:
            text = self.loaded.tokenizer.decode(tokens, skip_special_tokens=True)
        assert isinstance(text, str)  # one sequence of ids decodes to one string
        return text

    def _cancel(self, request: _Request, future: Future[Generation]) -> None:
        if not future.cancelled():
            return
        with self._lock:
            self._requests.pop(request.request_id, None)
            manager = self._manager
        manager.cancel_request(request.request_id)

    def _fail_pending(self, error: Exception) -> None:
        with self._lock:
            requests = list(self._requests.values())
            self._requests.clear()
        for request in requests:
            _settle(request.future.set_exception, error)


def _check_options(penalty: float, max_batch_tokens: int | None, max_batch_size: int) -> None:
    if not (math.isfinite(penalty) and penalty > 0):
        raise ConfigurationError(f"repetition_penalty must be a positive number, got {penalty!r}")
    if max_batch_tokens is not None and max_batch_tokens < 1:
        raise ConfigurationError(f"max_batch_tokens must be at least 1, got {max_batch_tokens}")
    if max_batch_size < 1:
        raise ConfigurationError(f"max_batch_size must be at least 1, got {max_batch_size}")


def _settle(action: Callable[[Any], None], value: object) -> None:
    """Set a Future's outcome unless the caller cancelled it first."""
    with contextlib.suppress(InvalidStateError):
        action(value)
