"""Jobs in a language their profile's model does not answer well: answered in the channel's
default language after a line in the customer's own, or handed to people on the human queue."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from core.errors import ConfigurationError
from core.jobs import ChatJob, new_id
from core.settings import load_settings
from persistence.db import SessionFactory
from persistence.migrate import upgrade
from producers.api import create_app
from producers.stack import build_stack
from routing.replies import FALLBACK_NOTICE, Replies, ReplyPlan, unanswered_notices
from routing.table import load_table, table_from_dict
from tests.support import store
from transport.queues import declared_queues
from workers.batcher import Batcher, BatchPolicy
from workers.feeders import PromptRequest
from workers.responder import Responder
from workers.runners.base import Generation
from workers.runners.null import NULL_ANSWER, NullRunner
from workers.runtime import run_requests

TAGALOG = "Kumusta, hindi pa dumarating ang order ko, dalawang linggo na"


def _table_data(action: str | None = None) -> dict:
    data = yaml.safe_load(Path("routing/default_routes.yaml").read_text(encoding="utf-8"))
    data["profiles"]["default"]["answers_in"] = ["en", "es", "zh"]
    if action:
        data["unanswered"] = {"action": action, "human_queue": "chat.human"}
    return data


def test_a_language_the_model_does_not_answer_is_answered_in_the_channels_default():
    table = table_from_dict(_table_data())
    handling = table.handling("tl", "web")
    assert (handling.kind, handling.language, handling.answer_language) == ("default_language", "tl", "en")
    assert handling.queue == "chat.en"  # the queue whose model answers the reply's language
    assert table.handling("es", "web").kind == "model"
    assert load_table().handling("tl", "web").kind == "model"  # the shipped table: every language


def test_a_table_may_hand_such_jobs_to_people_on_a_queue_no_worker_reads():
    table = table_from_dict(_table_data("human"))
    handling = table.handling("tl", "web")
    assert (handling.kind, handling.queue) == ("human", "chat.human")
    assert "chat.human" not in table.queue_names  # workers consume every one of those
    assert "chat.human" in [queue.name for queue in declared_queues(table)]  # but it is declared


@pytest.mark.parametrize(
    ("unanswered", "message"),
    [
        ({"action": "drop"}, "unanswered.action"),
        ({"action": "human", "human_queue": "chat.en"}, "neither a chat queue"),
        ({"action": "human", "human_queue": "Bad Name!"}, "bad queue name"),
    ],
)
def test_a_wrong_unanswered_setting_is_refused_with_its_field(unanswered, message):
    data = _table_data()
    data["unanswered"] = unanswered
    with pytest.raises(ConfigurationError, match=message):
        table_from_dict(data)


def test_the_line_before_such_an_answer_is_in_the_customers_language():
    notices = unanswered_notices()
    assert len(notices) >= 50 and all(line.strip() for line in notices.values())
    plan = Replies(table_from_dict(_table_data()), notices).plan("tl", "web")
    assert plan.language == "en" and plan.notice == notices["tl"]
    assert plan.shown("Hello!") == f"{notices['tl']}\n\nHello!"
    unknown = Replies(table_from_dict(_table_data()), {}).plan("tl", "web")
    assert unknown.notice == FALLBACK_NOTICE
    assert Replies(table_from_dict(_table_data()), notices).plan("es", "web") == ReplyPlan("es")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_worker_prompts_in_the_reply_language_and_puts_the_line_first(factory: SessionFactory):
    prompts: list[list[dict[str, str]]] = []

    def run(requests: list[PromptRequest]) -> list[Generation]:
        prompts.extend(request.messages for request in requests)
        return run_requests(NullRunner(), requests)

    batcher: Batcher[PromptRequest, Generation] = Batcher(BatchPolicy(4, 1, 10_000), run)
    batcher.start()
    table = table_from_dict(_table_data())
    responder = Responder(
        factory,
        batcher,
        table.profiles["default"],
        "null",
        NullRunner().count_tokens,
        history_turns=4,
        timeout_s=5,
        replies=Replies(table, unanswered_notices()).plan,
    )
    job = ChatJob(job_id=new_id(), conversation_id=new_id(), text=TAGALOG, language="tl", queue="chat.en")
    store.record_user_turn(factory, job, "detected")
    answer = responder.answer(job, "w1")
    batcher.close()
    assert "Answer in English only" in prompts[0][0]["content"]
    assert answer is not None and answer.language == "tl"  # the store keeps the customer's language
    assert answer.text == f"{unanswered_notices()['tl']}\n\n{NULL_ANSWER}"


@contextmanager
def _api(tmp_path: Path, action: str | None) -> Iterator[TestClient]:
    routes = tmp_path / "routes.yaml"
    routes.write_text(yaml.safe_dump(_table_data(action), allow_unicode=True), encoding="utf-8")
    values = load_settings(var_dir=str(tmp_path), routes_file=str(routes))
    upgrade(values.store_url)
    stack = build_stack(values)
    with TestClient(create_app(stack)) as client:
        yield client
    stack.close()


@pytest.mark.parametrize(
    ("action", "handling", "queue"),
    [(None, "default_language", "chat.en"), ("human", "human", "chat.human")],
)
def test_the_api_says_how_such_a_message_is_handled(tmp_path: Path, action, handling, queue):
    with _api(tmp_path, action) as client:
        body = client.post("/v1/messages", json={"text": TAGALOG}).json()
        assert (body["language"], body["handling"], body["queue"]) == ("tl", handling, queue)
        assert client.get(f"/v1/jobs/{body['job_id']}").json()["handling"] == handling
        spanish = client.post("/v1/messages", json={"text": "Hola, ¿dónde está mi pedido?"}).json()
        assert spanish["handling"] == "model"


def test_people_answer_a_job_handed_to_them_and_it_ends_like_any_other(tmp_path: Path):
    with _api(tmp_path, "human") as client:
        handed = client.post("/v1/messages", json={"text": TAGALOG, "user_ref": "u-7"}).json()
        client.post("/v1/messages", json={"text": "Hola, ¿dónde está mi pedido?"})  # the model's
        waiting = client.get("/v1/human/jobs").json()
        assert [(j["job_id"], j["text"], j["user_ref"], j["language"]) for j in waiting] == [
            (handed["job_id"], TAGALOG, "u-7", "tl")
        ]
        job = f"/v1/jobs/{handed['job_id']}"
        answered = client.post(
            f"{job}/answer", json={"text": "Pasensya na po, titingnan namin.", "agent": "ana"}
        )
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert (body["status"], body["answer"], body["model"], body["handling"]) == (
            "done",
            "Pasensya na po, titingnan namin.",
            "human:ana",
            "human",
        )
        assert client.get("/v1/human/jobs").json() == []  # answered: no longer waiting
        turns = client.get(f"/v1/conversations/{handed['conversation_id']}").json()["turns"]
        assert [turn["role"] for turn in turns] == ["user", "assistant"]
        again = client.post(f"{job}/answer", json={"text": "Second answer"})
        assert again.status_code == 409 and "ended" in again.text
        spanish = client.post("/v1/messages", json={"text": "Hola, ¿dónde está mi pedido?"}).json()
        by_model = client.post(f"/v1/jobs/{spanish['job_id']}/answer", json={"text": "Hola"})
        assert by_model.status_code == 409 and "model" in by_model.text
        assert client.post("/v1/jobs/not-a-job/answer", json={"text": "x"}).status_code == 404
        assert client.post(f"{job}/answer", json={"text": ""}).status_code == 422


def test_jobs_waiting_for_people_are_not_republished_nor_given_a_models_deadline(tmp_path: Path):
    from datetime import timedelta

    from persistence import job_lifecycle, views
    from persistence.db import make_engine, make_session_factory

    with _api(tmp_path, "human") as client:
        handed = client.post("/v1/messages", json={"text": TAGALOG}).json()
        spanish = client.post("/v1/messages", json={"text": "Hola, ¿dónde está mi pedido?"}).json()
        assert client.get(f"/v1/jobs/{handed['job_id']}").json()["deadline_at"] is None
        assert client.get(f"/v1/jobs/{spanish['job_id']}").json()["deadline_at"] is not None
    engine = make_engine(load_settings(var_dir=str(tmp_path)).store_url)
    factory = make_session_factory(engine)
    claimed = job_lifecycle.claim_unstarted(factory, timedelta(0), skip_queues=["chat.human"])
    mine = views.handed_jobs(factory, "chat.human", "api", 10)  # a key of channel "api" sees it
    others = views.handed_jobs(factory, "chat.human", "shop", 10)  # one of another channel: not
    engine.dispose()
    assert [job.job_id for job in claimed] == [spanish["job_id"]]
    assert [job.job_id for job in mine] == [handed["job_id"]] and others == []


def test_a_blank_answer_from_a_person_is_refused(tmp_path: Path):
    with _api(tmp_path, "human") as client:
        handed = client.post("/v1/messages", json={"text": TAGALOG}).json()
        blank = client.post(f"/v1/jobs/{handed['job_id']}/answer", json={"text": "   "})
        assert blank.status_code == 422 and "blank" in blank.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda data: data["channels"].update({"*": "tl"}), "does not answer"),
        (
            lambda data: data.update({"unanswered": {"action": "human", "human_queue": "chat.dead"}}),
            "dead-letter",
        ),
    ],
)
def test_a_table_whose_fallbacks_cannot_work_is_refused(change, message):
    data = _table_data()
    change(data)
    with pytest.raises(ConfigurationError, match=message):
        table_from_dict(data)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_streamed_answer_in_the_default_language_shows_the_line_first(factory: SessionFactory):
    from persistence.partial_answers import LocalPartials

    partials = LocalPartials()
    heard: list[str] = []
    partials.listen(lambda job_id, text: heard.append(text))
    batcher: Batcher[PromptRequest, Generation] = Batcher(
        BatchPolicy(4, 1, 10_000), lambda requests: run_requests(NullRunner(), requests)
    )
    batcher.start()
    table = table_from_dict(_table_data())
    responder = Responder(
        factory,
        batcher,
        table.profiles["default"],
        "null",
        NullRunner().count_tokens,
        history_turns=4,
        timeout_s=5,
        replies=Replies(table, unanswered_notices()).plan,
        partials=partials,
    )
    job = ChatJob(job_id=new_id(), conversation_id=new_id(), text=TAGALOG, language="tl", queue="chat.en")
    store.record_user_turn(factory, job, "detected")
    partials.want(job.job_id, 60)
    answer = responder.answer(job, "w1")
    batcher.close()
    assert heard and all(text.startswith(unanswered_notices()["tl"]) for text in heard)
    assert answer is not None and heard[-1] == answer.text


def test_a_cached_answer_in_one_channels_default_language_is_not_another_channels(tmp_path: Path):
    """Given Tagalog answered in English for "shop" (the "*" default) and in Spanish for "latam",
    and the shop's answer in the cache, keyed as the worker keys it, expect the shop's next
    customer to get it from the cache and the latam customer not."""
    from persistence.answer_cache import answer_lookup

    data = _table_data()
    data["channels"] = {"*": "en", "latam": "es"}
    routes = tmp_path / "routes.yaml"
    routes.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    settings = load_settings(var_dir=str(tmp_path), routes_file=str(routes))
    upgrade(settings.store_url)
    stack = build_stack(settings)
    plan = Replies(stack.table, unanswered_notices()).plan("tl", "shop")  # what the worker answers in
    handling = stack.table.handling("tl", "shop")
    profile = stack.table.profiles[handling.profile]
    answer_lookup(stack.cache, settings).put(profile, "tl", plan.language, TAGALOG, plan.shown("Sorry."))
    with TestClient(create_app(stack)) as client:
        shop = client.post("/v1/messages", json={"text": TAGALOG, "channel": "shop"})
        latam = client.post("/v1/messages", json={"text": TAGALOG, "channel": "latam"})
    stack.close()
    assert shop.status_code == 200 and shop.json()["answer"] == plan.shown("Sorry.")
    assert latam.status_code == 202 and stack.table.handling("tl", "latam").profile == handling.profile
