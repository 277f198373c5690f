"""Streamed answers, part by part: the rows' streamer, the runners, the in-process partial
answers, the stream's follower, and the responder that reports a streamed job's text."""

from __future__ import annotations

import asyncio

import pytest
import torch

from core.jobs import ChatJob, new_id
from persistence.db import SessionFactory
from persistence.partial_answers import LocalPartials
from producers.partial_feed import Follower, PartialFeed, Progress
from routing.table import load_table
from tests.support import store
from tests.support.prompts import PROMPTS
from workers.batcher import Batcher, BatchPolicy
from workers.feeders import PromptRequest
from workers.model_loader import LoadedModel
from workers.responder import Responder
from workers.runners.base import STREAM_EVERY_TOKENS, Generation, partial_text
from workers.runners.null import NULL_ANSWER, NullRunner
from workers.runners.row_streamer import RowStreamer
from workers.runners.static import StaticBatchRunner
from workers.runtime import run_requests

EOS = 0


def _words(tokens: list[int]) -> str:
    """A decoder that, like a tokenizer's with skip_special_tokens, drops the eos."""
    return " ".join(f"w{token}" for token in tokens if token != EOS)


def _steps(streamer: RowStreamer, rows: list[list[int]]) -> None:
    """Feed a streamer as `generate` does: the prompt once, then one token per row per step."""
    streamer.put(torch.zeros((len(rows), 3), dtype=torch.long))
    for step in zip(*rows, strict=True):
        streamer.put(torch.tensor(step))
    streamer.end()


def test_the_streamer_tells_streamed_rows_every_few_steps_and_stops_at_eos():
    told: dict[int, list[str]] = {0: [], 2: []}
    listeners = [told[0].append, None, told[2].append]
    streamer = RowStreamer(listeners, _words, frozenset({EOS}), every=2)
    # row 0 runs to the end, row 1 is not streamed, row 2 ends after two tokens (then pad = eos)
    _steps(streamer, [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, EOS, EOS, EOS]])
    assert told[0] == ["w1 w2", "w1 w2 w3 w4", "w1 w2 w3 w4 w5"]  # every 2 steps, and the end
    assert told[2] == ["w11 w12"]  # the eos and the pad after it are not text; told once


def test_a_failing_listener_costs_its_updates_not_the_batch(caplog):
    def broken(text: str) -> None:
        raise RuntimeError("gone")

    told: list[str] = []
    streamer = RowStreamer([broken, told.append], _words, frozenset({EOS}), every=1)
    _steps(streamer, [[1, 2], [3, 4]])
    assert told == ["w3", "w3 w4"]
    assert "a stream listener failed" in caplog.text


def test_partial_text_hides_a_character_still_being_spelled():
    assert partial_text(" Hola, ¿có\ufffd") == "Hola, ¿có"


def test_a_streamed_static_batch_answers_as_an_unstreamed_one(loaded: LoadedModel):
    runner = StaticBatchRunner(loaded)
    plain = runner.generate(PROMPTS, max_new_tokens=12)
    told: list[str] = []
    streamed = runner.generate(PROMPTS, max_new_tokens=12, listeners=[None, told.append, None, None])
    assert [g.text for g in streamed] == [g.text for g in plain]
    assert len(told) >= 12 // STREAM_EVERY_TOKENS - 1 or plain[1].completion_tokens < 12
    assert told and told[-1].strip() == plain[1].text  # the last text told is the answer


def test_the_null_runner_streams_its_answer_a_word_at_a_time():
    told: list[str] = []
    NullRunner().generate([[{"role": "user", "content": "hi"}]], 16, listeners=[told.append])
    assert told[-1] == NULL_ANSWER and len(told) == len(NULL_ANSWER.split())


def test_a_batch_passes_listeners_only_when_a_row_is_streamed():
    seen: list[object] = []

    class Recording(NullRunner):
        def generate(self, prompts, max_new_tokens, listeners=None):  # type: ignore[override]
            seen.append(listeners)
            return super().generate(prompts, max_new_tokens, listeners)

    message = [{"role": "user", "content": "hi"}]
    run_requests(Recording(), [PromptRequest(message, 4), PromptRequest(message, 4)])
    run_requests(Recording(), [PromptRequest(message, 4), PromptRequest(message, 4, print)])
    assert seen[0] is None and seen[1] == [None, print]


def test_local_marks_expire_with_their_time_to_live():
    now = [100.0]
    partials = LocalPartials(clock=lambda: now[0])
    partials.want("a", ttl_s=10)
    partials.want("b", ttl_s=60)
    assert partials.wanted(["a", "b", "c"]) == {"a", "b"}
    now[0] = 111.0
    assert partials.wanted(["a", "b", "c"]) == {"b"}


def test_a_follower_gives_what_is_new_and_the_whole_text():
    async def scenario() -> list[Progress | None]:
        follower = Follower()
        taken = []
        for text in ["Hola", "Hola, ¿en", "Hola, ¿en", "Bonjour"]:
            follower.offer(text)
            taken.append(follower.take())
        return taken

    first, grown, same, other = asyncio.run(scenario())
    assert first == Progress("Hola", "Hola")
    assert grown == Progress("Hola, ¿en", ", ¿en")
    assert same is None
    assert other == Progress("Bonjour", "Bonjour")  # not an extension: the whole text again


def test_the_feed_hands_texts_only_to_the_followers_of_that_job():
    partials = LocalPartials()
    feed = PartialFeed(partials)
    feed.start()

    async def scenario() -> tuple[Progress | None, Progress | None]:
        with feed.follow("job-1") as mine, feed.follow("job-2") as other:
            partials.report("job-1", "Hei")
            await asyncio.wait_for(mine.changed.wait(), 5)
            return mine.take(), other.take()

    mine, other = asyncio.run(scenario())
    assert mine == Progress("Hei", "Hei") and other is None


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_responder_reports_only_the_streamed_jobs_text(factory: SessionFactory):
    partials = LocalPartials()
    heard: list[tuple[str, str]] = []
    partials.listen(lambda job_id, text: heard.append((job_id, text)))
    runner = NullRunner()
    batcher: Batcher[PromptRequest, Generation] = Batcher(
        BatchPolicy(4, 1, 10_000), lambda requests: run_requests(runner, requests)
    )
    batcher.start()
    responder = Responder(
        factory,
        batcher,
        load_table(None).profiles["default"],
        "null",
        runner.count_tokens,
        history_turns=4,
        timeout_s=5,
        partials=partials,
    )
    streamed, quiet = (_job(factory) for _ in range(2))
    partials.want(streamed.job_id, ttl_s=60)
    for job in (streamed, quiet):
        answer = responder.answer(job, "w1")
        assert answer is not None and answer.text == NULL_ANSWER
    batcher.close()
    assert {job_id for job_id, _ in heard} == {streamed.job_id}
    assert heard[-1] == (streamed.job_id, NULL_ANSWER)


def _job(factory: SessionFactory) -> ChatJob:
    job = ChatJob(
        job_id=new_id(), conversation_id=new_id(), text="Where is my parcel?", language="en", queue="chat.en"
    )
    store.record_user_turn(factory, job, "explicit")
    return job


def test_a_text_that_cannot_be_decoded_costs_an_update_not_the_batch(caplog):
    told: list[str] = []

    def decode(tokens: list[int]) -> str:
        if len(tokens) == 1:
            raise ValueError("half a character")
        return _words(tokens)

    streamer = RowStreamer([told.append], decode, frozenset({EOS}), every=1)
    _steps(streamer, [[1, 2, 3]])
    assert told == ["w1 w2", "w1 w2 w3"] and "could not decode" in caplog.text
