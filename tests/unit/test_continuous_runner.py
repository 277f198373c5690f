"""ContinuousBatchRunner on the tiny random model: same answers as static batching, own lifetimes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.errors import BabelqError, BatcherClosed, BatchError, ConfigurationError, ItemTooLarge
from tests.support.prompts import PROMPTS as BASE_PROMPTS
from tests.support.prompts import ask
from workers.model_loader import LoadedModel
from workers.runners.base import STREAM_EVERY_TOKENS
from workers.runners.continuous import ContinuousBatchRunner
from workers.runners.static import StaticBatchRunner

PROMPTS = [*BASE_PROMPTS, ask("Guten Tag, meine Bestellung ist noch nicht da.")]


@pytest.fixture(scope="module")
def static(loaded: LoadedModel) -> StaticBatchRunner:
    return StaticBatchRunner(loaded)


@pytest.fixture(scope="module")
def runner(loaded: LoadedModel) -> Iterator[ContinuousBatchRunner]:
    with ContinuousBatchRunner(loaded) as continuous:
        yield continuous


def test_one_result_per_prompt_in_order_equal_to_static_batching(runner, static) -> None:
    # given the same prompts for both engines, greedy decoding
    expected = static.generate(PROMPTS, max_new_tokens=12)
    # when the continuous runner generates them
    results = runner.generate(PROMPTS, max_new_tokens=12)
    # expect the same answers, in order, with the same counts
    assert results == expected
    assert [r.prompt_tokens for r in results] == [runner.count_tokens(p) for p in PROMPTS]
    assert sum(bool(r.text) for r in results) >= len(PROMPTS) - 1


def test_repetition_penalty_gives_the_static_answers(loaded: LoadedModel) -> None:
    # given a penalty, which transformers' manager cannot apply itself (we add our own processor)
    expected = StaticBatchRunner(loaded, repetition_penalty=1.5).generate(PROMPTS, max_new_tokens=16)
    assert expected != StaticBatchRunner(loaded).generate(PROMPTS, max_new_tokens=16)  # it matters here
    # when / expect the same answers as static generation with that penalty
    with ContinuousBatchRunner(loaded, repetition_penalty=1.5) as penalised:
        assert penalised.generate(PROMPTS, max_new_tokens=16) == expected


def test_each_request_keeps_its_own_max_new_tokens(runner, static) -> None:
    # given limits that differ per request
    limits = [1, 7, 3, 12, 5]
    # when all are submitted at once
    futures = [runner.submit(prompt, limit) for prompt, limit in zip(PROMPTS, limits, strict=True)]
    results = [future.result(timeout=30) for future in futures]
    # expect each cut at its own limit (the tiny model hardly ever emits eos), as a lone run would be
    assert [r.completion_tokens for r in results] == limits
    assert all(r.finish_reason == "length" for r in results)
    assert results == [static.generate([p], n)[0] for p, n in zip(PROMPTS, limits, strict=True)]


def test_submit_from_several_threads(runner, static) -> None:
    # given callers on their own threads, each submitting while the others' requests run
    jobs = [(prompt, 4 + 3 * index) for index, prompt in enumerate(PROMPTS * 2)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: runner.submit(*job).result(timeout=60), jobs))
    # expect every caller to get the answer of its own prompt
    assert results == [static.generate([prompt], n)[0] for prompt, n in jobs]


def test_a_short_request_leaves_while_a_long_one_runs(runner) -> None:
    # given a long request already decoding
    long = runner.submit(PROMPTS[1], max_new_tokens=600)
    # when a short one joins after it
    short = runner.submit(PROMPTS[3], max_new_tokens=2)
    # expect the short one done while the long one still runs; the long one can be cancelled
    assert short.result(timeout=30).completion_tokens == 2
    assert not long.done()
    assert long.cancel()
    assert runner.generate([PROMPTS[0]], max_new_tokens=2)[0].completion_tokens == 2


def test_close_is_idempotent_and_refuses_later_requests(loaded: LoadedModel) -> None:
    # given a runner that answered, then was closed twice
    closing = ContinuousBatchRunner(loaded)
    pending = closing.submit(PROMPTS[0], max_new_tokens=5)
    closing.close()
    closing.close()
    # expect the request taken before close answered, and later requests refused with our error
    assert pending.result(timeout=0).completion_tokens == 5
    with pytest.raises(BatcherClosed):
        closing.submit(PROMPTS[0], max_new_tokens=2)
    with pytest.raises(BabelqError):
        closing.generate(PROMPTS[:1], max_new_tokens=2)


def test_empty_and_invalid_requests(runner) -> None:
    assert runner.generate([], max_new_tokens=8) == []
    with pytest.raises(ValueError, match="max_new_tokens"):
        runner.submit(PROMPTS[0], max_new_tokens=0)
    # a request the KV cache could never hold is refused up front, not left to stop the loop
    with pytest.raises(ItemTooLarge):
        runner.submit(PROMPTS[0], max_new_tokens=1_000_000)


def test_a_failing_step_fails_its_requests_and_a_new_loop_takes_later_ones(
    loaded: LoadedModel, monkeypatch, static
) -> None:
    # given a model whose forward pass breaks (a lost device, say)
    real_forward = loaded.model.forward

    def broken_forward(*args, **kwargs):
        raise RuntimeError("device lost")

    monkeypatch.setattr(loaded.model, "forward", broken_forward)
    with ContinuousBatchRunner(loaded) as failing:
        # expect the request in the dead loop failed with our error, and a new loop started
        with pytest.raises(BatchError, match="device lost"):
            failing.submit(PROMPTS[0], max_new_tokens=3).result(timeout=30)
        assert failing.restarts >= 1
        # when the device is back, expect the new loop to answer as before
        monkeypatch.setattr(loaded.model, "forward", real_forward)
        expected = static.generate(PROMPTS[:2], max_new_tokens=6)
        assert failing.generate(PROMPTS[:2], max_new_tokens=6) == expected


def test_an_answer_that_cannot_be_decoded_fails_alone(loaded: LoadedModel, monkeypatch, static) -> None:
    with ContinuousBatchRunner(loaded) as runner:
        real_result = runner._result
        monkeypatch.setattr(runner, "_result", lambda *_: (_ for _ in ()).throw(UnicodeError("bad bytes")))
        with pytest.raises(BatchError, match="bad bytes"):
            runner.submit(PROMPTS[0], max_new_tokens=3).result(timeout=30)
        monkeypatch.setattr(runner, "_result", real_result)
        assert runner.generate(PROMPTS[:1], max_new_tokens=3) == static.generate(
            PROMPTS[:1], max_new_tokens=3
        )


def test_requests_beyond_the_token_budget_wait_for_room_and_all_answer(loaded: LoadedModel, static) -> None:
    # given a budget (KV cache) of 256 tokens and 8 requests needing about 740 together
    prompts = PROMPTS * 2
    expected = static.generate(prompts, max_new_tokens=40)
    with ContinuousBatchRunner(loaded, max_batch_tokens=256, max_batch_size=8) as runner:
        assert runner.cache_tokens == 256
        assert sum(runner.count_tokens(p) + 40 for p in prompts) > 2 * 256
        # expect every one answered, as static batching answers it, without a failed step
        assert runner.generate(prompts, max_new_tokens=40) == expected
        assert runner.restarts == 0


def _out_of_memory_above(loaded: LoadedModel, monkeypatch, sequences: int) -> list[int]:
    """Make every forward step with more than `sequences` sequences raise MemoryError (an OOM on
    CPU); returns the list of step widths that did run."""
    real_forward = loaded.model.forward
    widths: list[int] = []

    def forward(*args, **kwargs):
        width = int(kwargs["logits_indices"].shape[0])
        if width > sequences:
            raise MemoryError(f"{width} sequences do not fit")
        widths.append(width)
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(loaded.model, "forward", forward)
    return widths


def test_out_of_memory_halves_the_cap_and_every_request_is_answered(
    loaded: LoadedModel, monkeypatch, static
) -> None:
    # given a device that holds at most 2 sequences per step, and 6 prompts submitted together
    prompts = PROMPTS * 2
    expected = static.generate(prompts, max_new_tokens=8)
    widths = _out_of_memory_above(loaded, monkeypatch, sequences=2)
    with ContinuousBatchRunner(loaded, max_batch_size=8) as runner:
        # when they run
        results = runner.generate(prompts, max_new_tokens=8)
        # expect no request failed: the loop restarted with a lower cap and the same answers came out
        assert results == expected
        assert runner.restarts >= 1
        assert runner.size_cap <= 2
        assert 2 in widths  # it then ran two at a time


def test_a_request_out_of_memory_alone_fails_by_itself(loaded: LoadedModel, monkeypatch, static) -> None:
    # given a device on which even one sequence does not fit
    _out_of_memory_above(loaded, monkeypatch, sequences=0)
    with ContinuousBatchRunner(loaded, max_batch_size=4) as runner:
        # expect the request to fail on its own error once the cap is 1, not to loop for ever
        with pytest.raises(BatchError, match="do not fit"):
            runner.submit(PROMPTS[0], max_new_tokens=3).result(timeout=60)
        assert runner.size_cap == 1
    monkeypatch.undo()


def test_the_cap_on_running_sequences_changes_live(loaded: LoadedModel, monkeypatch, static) -> None:
    # given a runner built for 4 sequences
    prompts = PROMPTS * 2
    expected = static.generate(prompts, max_new_tokens=6)
    with ContinuousBatchRunner(loaded, max_batch_size=4) as runner:
        # expect a size above the one it was built for refused with a clear error
        with pytest.raises(ConfigurationError, match="from 1 to 4"):
            runner.set_max_batch_size(5)
        # when lowered to 2 while it runs
        runner.set_max_batch_size(2)
        widths = _out_of_memory_above(loaded, monkeypatch, sequences=2)
        # expect no step wider than 2, and the same answers
        assert runner.generate(prompts, max_new_tokens=6) == expected
        assert runner.size_cap == 2 and runner.restarts == 0
        assert max(widths) == 2


@pytest.mark.parametrize(
    "options",
    [{"repetition_penalty": 0.0}, {"max_batch_tokens": 0}, {"max_batch_size": 0}],
)
def test_unsupported_options_are_refused_at_construction(loaded: LoadedModel, options) -> None:
    with pytest.raises(ConfigurationError):
        ContinuousBatchRunner(loaded, **options)


def test_a_streamed_request_is_told_its_answer_as_it_grows(runner) -> None:
    plain = runner.submit(PROMPTS[0], 12).result(timeout=60)
    told: list[str] = []
    future = runner.submit(PROMPTS[0], 12, on_text=told.append)
    quiet = runner.submit(PROMPTS[1], 12)
    answer = future.result(timeout=60)
    assert answer == plain  # streaming changes nothing
    assert quiet.result(timeout=60).completion_tokens > 0
    if answer.completion_tokens > STREAM_EVERY_TOKENS:  # told every few tokens before it ended
        assert told and answer.text.startswith(told[-1].strip())
