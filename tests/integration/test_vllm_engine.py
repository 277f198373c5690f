"""The vllm engine on a real vLLM (its CPU build) and a tiny model, in this process: one engine
start for the module, with the shipped settings (max_model_len, KV cache, batch limits, eager).

Each request has its own outcome: one vLLM refuses fails alone, one past its deadline is aborted
inside vLLM, a cancelled one leaves the engine, a streamed one hears its answer grow; the engine's
state reaches /metrics; `babelq tune` measures it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from core.errors import ItemExpired, ItemTooLarge
from core.settings import load_settings
from ops.bench.tune import measure
from routing.table import load_table
from tests.conftest import IN_CI
from tests.support.processes import wait_until
from workers.engine_stats import EngineStatsCollector
from workers.feeders import PromptRequest
from workers.model_loader import resolve_dtype
from workers.runners.base import StreamingRunner
from workers.runtime import make_feeder, vllm_runner

if not IN_CI:
    pytest.importorskip("vllm")
pytestmark = pytest.mark.integration

PROMPT = [
    {"role": "system", "content": "You help customers."},
    {"role": "user", "content": "Where is my order?"},
]
TEXTS = ["Where is my parcel?", "¿Dónde está mi pedido?", "我的订单在哪里？", "Bonjour"]


@pytest.fixture(scope="module")
def engine(vllm_model_dir: Path) -> Iterator[StreamingRunner]:
    """vLLM's engine as a worker starts it from the shipped profile and settings."""
    settings = load_settings(model=str(vllm_model_dir), device="cpu")
    profile = load_table().profiles["default"]
    runner, facts = vllm_runner(settings, profile, str(vllm_model_dir), "cpu", resolve_dtype("auto", "cpu"))
    assert facts.engine == "vllm" and facts.footprint_mib > 0
    assert isinstance(runner, StreamingRunner)
    yield runner
    runner.close()


def _idle(engine: StreamingRunner) -> bool:
    return engine.stats.snapshot().running == 0  # type: ignore[attr-defined]


def test_each_request_gets_its_own_outcome(engine: StreamingRunner) -> None:
    ids = engine.encode(PROMPT)
    good = [engine.submit_tokens(ids, 8) for _ in range(4)]
    refused_by_vllm = engine.submit_tokens([*ids[:-1], 10**6], 8)  # a token id the model has not
    with pytest.raises(ItemTooLarge, match="max_model_len"):
        engine.submit_tokens(list(range(3, 300)) * 8, 8)  # 2,376 tokens: refused before vLLM
    results = [future.result(60) for future in good]
    assert all(r.completion_tokens == 8 and r.finish_reason == "length" and r.text for r in results)
    assert len({r.text for r in results}) == 1  # greedy: one prompt, one answer
    with pytest.raises(ItemTooLarge, match="vLLM refused"):
        refused_by_vllm.result(60)
    assert engine.generate([PROMPT], 8)[0].text == results[0].text  # the engine is fine after it


def test_a_request_past_its_deadline_is_aborted_inside_vllm(engine: StreamingRunner) -> None:
    started = time.monotonic()
    doomed = engine.submit_tokens(engine.encode(PROMPT), 1900, deadline=started + 0.5)
    with pytest.raises(ItemExpired, match="aborted in vLLM"):
        doomed.result(60)
    assert time.monotonic() - started < 5  # 1,900 tokens would take far longer
    wait_until(lambda: _idle(engine), 10, "the aborted request to leave the engine")


def test_a_cancelled_request_leaves_the_engine(engine: StreamingRunner) -> None:
    future = engine.submit_tokens(engine.encode(PROMPT), 1900)
    wait_until(lambda: not _idle(engine), 10, "the request to run")
    assert future.cancel()
    wait_until(lambda: _idle(engine), 10, "the cancelled request to leave the engine")


def test_a_streamed_request_hears_its_answer_grow(engine: StreamingRunner) -> None:
    told: list[str] = []
    answer = engine.submit_tokens(engine.encode(PROMPT), 24, on_text=told.append).result(60)
    assert len(told) >= 3 and all(later.startswith(earlier) for earlier, later in itertools.pairwise(told))
    assert answer.text.startswith(told[-1].strip()[:5])
    assert answer == engine.generate([PROMPT], 24)[0]  # streaming does not change the answer


def test_the_engine_state_reaches_metrics_and_a_repeated_prefix_is_cached(engine: StreamingRunner) -> None:
    registry = CollectorRegistry()
    registry.register(EngineStatsCollector(engine.stats, "vllm"))  # type: ignore[attr-defined]
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}: " + "my order " * 20}
        for i in range(8)
    ]
    conversation = [PROMPT[0], *history, {"role": "user", "content": "and now?"}]
    engine.generate([conversation], 4)
    before = engine.stats.snapshot()  # type: ignore[attr-defined]
    engine.generate([conversation], 4)  # the same earlier turns: their KV blocks are reused
    after = engine.stats.snapshot()  # type: ignore[attr-defined]
    assert after.prefix_cache_hits - before.prefix_cache_hits > 0
    assert after.generation_tokens > before.generation_tokens
    text = generate_latest(registry).decode()
    names = ["running_requests", "kv_cache_usage", "prefix_cache_hits_total", "generation_tokens_total"]
    for name in (f"babelq_engine_{name}" for name in names):
        assert f'{name}{{engine="vllm"}}' in text


def test_the_feeder_hands_back_waiting_jobs_and_lets_running_ones_finish(engine: StreamingRunner) -> None:
    profile = replace(load_table().profiles["default"], max_batch_size=2)
    engine.set_max_batch_size(2)
    feeder = make_feeder(engine, profile)
    try:
        futures: list[Future] = [feeder.submit(PromptRequest(PROMPT, 200)) for _ in range(5)]
        assert feeder.drain() == 3  # two run, three wait in the feeder's line
        results = [_outcome(f) for f in futures]
        assert [type(r).__name__ for r in results].count("Batched") == 2
        assert [type(r).__name__ for r in results].count("WorkerDraining") == 3
    finally:
        engine.set_max_batch_size(engine.max_batch_size)


def test_tune_measures_the_vllm_engine_capped_live(engine: StreamingRunner) -> None:
    profile = replace(load_table().profiles["default"], engine="vllm", max_batch_size=4, max_new_tokens=3)

    def capped(p):
        engine.set_max_batch_size(p.max_batch_size)
        return engine

    try:
        trial = measure(capped, profile, TEXTS, jobs=8)
    finally:
        engine.set_max_batch_size(engine.max_batch_size)
    assert trial.error is None and trial.jobs_s and trial.jobs_s > 0 and trial.p99_ms


def _outcome(future: Future) -> object:
    try:
        return future.result(60)
    except Exception as exc:
        return exc
