"""Who may do what (the README's "Security" table), through the API with keys required: the web
page's visitors hold sessions and reach only their own conversations; agents, not channel keys
and not visitors, list and answer the jobs handed to people, under their own names; an admin key
reads every channel; the keys' scopes are checked when they are made."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from core.errors import InvalidInput, Unauthenticated
from core.settings import load_settings
from persistence import api_keys, views
from persistence.db import SessionFactory
from persistence.migrate import upgrade
from producers.api import create_app
from producers.stack import build_stack
from producers.visitor_sessions import VisitorSessions
from tests.unit.test_unanswered import TAGALOG, _table_data

KEY = b"a deployment key of at least 32 characters"


@dataclass
class Desk:
    http: TestClient
    keys: dict[str, str]
    factory: SessionFactory

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def session(self) -> dict[str, str]:
        response = self.http.post("/v1/sessions")
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    """Keys required; Tagalog handed to people; keys for the shop's and the web page's
    integrations, the shop's agent Ana, the bank's agent Ben, and an admin."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(yaml.safe_dump(_table_data("human"), allow_unicode=True), encoding="utf-8")
    settings = load_settings(var_dir=str(tmp_path), routes_file=str(routes), require_api_keys=True)
    upgrade(settings.store_url)
    stack = build_stack(settings)
    keys = {
        "shop": api_keys.create(stack.factory, "shop"),
        "web": api_keys.create(stack.factory, "web"),
        "ana": api_keys.create(stack.factory, "shop", "agent", "Ana"),
        "ben": api_keys.create(stack.factory, "bank", "agent", "Ben"),
        "admin": api_keys.create(stack.factory, "*", "admin"),
    }
    with TestClient(create_app(stack)) as http:
        yield Desk(http, keys, stack.factory)
    stack.close()


def test_a_visitor_reaches_its_own_conversations_and_no_other_visitors(desk: Desk):
    alice, bob = desk.session(), desk.session()
    posted = desk.http.post("/v1/messages", json={"text": "Where is my parcel?"}, headers=alice)
    assert posted.status_code == 202, posted.text
    job, conversation = posted.json()["job_id"], posted.json()["conversation_id"]
    assert desk.http.get(f"/v1/jobs/{job}", headers=alice).status_code == 200
    assert views.get_job(desk.factory, job).channel == "web"  # type: ignore[union-attr]
    assert desk.http.get(f"/v1/conversations/{conversation}", headers=alice).status_code == 200
    for path in (f"/v1/jobs/{job}", f"/v1/conversations/{conversation}", f"/v1/jobs/{job}/events"):
        assert desk.http.get(path, headers=bob).status_code == 404, path
    intrusion = {"text": "Let me in", "conversation_id": conversation}
    assert desk.http.post("/v1/messages", json=intrusion, headers=bob).status_code == 404
    # The channel serving the visitor (its integration) reads the conversation; another does not;
    # and no one but the visitor writes into it (no text shows in it as the visitor's but its own).
    assert desk.http.get(f"/v1/conversations/{conversation}", headers=desk.as_("web")).status_code == 200
    assert desk.http.get(f"/v1/conversations/{conversation}", headers=desk.as_("shop")).status_code == 404
    assert desk.http.post("/v1/messages", json=intrusion, headers=desk.as_("web")).status_code == 404


def test_two_visitors_equal_idempotency_keys_are_two_jobs(desk: Desk):
    alice, bob = desk.session(), desk.session()
    first = desk.http.post("/v1/messages", json={"text": "Hi"}, headers={**alice, "Idempotency-Key": "k-1"})
    second = desk.http.post("/v1/messages", json={"text": "Hi"}, headers={**bob, "Idempotency-Key": "k-1"})
    assert first.json()["job_id"] != second.json()["job_id"]


def test_a_visitor_is_no_agent_and_posts_only_as_the_web_channel(desk: Desk):
    alice = desk.session()
    assert desk.http.get("/v1/human/jobs", headers=alice).status_code == 403
    as_shop = desk.http.post("/v1/messages", json={"text": "Hi", "channel": "shop"}, headers=alice)
    assert as_shop.status_code == 403
    named = desk.http.post("/v1/messages", json={"text": "Hi", "user_ref": "someone-else"}, headers=alice)
    assert named.status_code == 202
    stored = views.get_job(desk.factory, named.json()["job_id"])
    assert stored is not None and (stored.user_ref or "").startswith("visitor:")  # the session's own


def test_a_session_is_renewed_for_its_visitor_and_a_forged_one_is_refused(desk: Desk):
    first = desk.http.post("/v1/sessions").json()
    renewed = desk.http.post("/v1/sessions", headers={"Authorization": f"Bearer {first['token']}"}).json()
    assert renewed["visitor"] == first["visitor"] and renewed["channel"] == "web"
    payload, mac = first["token"].split(".")
    forged = f"{payload[:-2]}xx.{mac}"
    assert desk.http.post("/v1/sessions", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert desk.http.get("/v1/human/jobs", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert desk.http.post("/v1/sessions", headers=desk.as_("shop")).status_code == 401


def test_new_sessions_from_one_address_are_a_persons_limit(desk: Desk):
    """The shipped per-user limit (a burst of 5): a script cannot mint visitors without end."""
    statuses = [desk.http.post("/v1/sessions").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_sessions_expire_and_another_deployments_key_does_not_verify_them():
    now = [1_000_000.0]
    sessions = VisitorSessions(KEY, ttl_s=3600, clock=lambda: now[0])
    token = sessions.issue("web").token
    assert sessions.check(token).visitor is not None
    with pytest.raises(Unauthenticated, match="does not verify"):
        VisitorSessions(b"another deployment's key, also 32 chars", 3600).check(token)
    now[0] += 3600
    with pytest.raises(Unauthenticated, match="expired"):
        sessions.check(token)
    for bad in ("bqv_", "bqv_abc", "bqv_" + "a" * 600 + ".b", "bqv_é.é"):
        with pytest.raises(Unauthenticated):
            sessions.check(bad)


def test_agents_list_and_answer_their_channels_handed_jobs_under_their_own_name(desk: Desk):
    handed = desk.http.post(
        "/v1/messages", json={"text": TAGALOG, "user_ref": "u-7"}, headers=desk.as_("shop")
    )
    job = handed.json()["job_id"]
    assert [row["job_id"] for row in desk.http.get("/v1/human/jobs", headers=desk.as_("ana")).json()] == [job]
    assert desk.http.get("/v1/human/jobs", headers=desk.as_("ben")).json() == []  # another channel's agent
    answer = {"text": "Pasensya na po.", "agent": "Support team"}
    assert desk.http.post(f"/v1/jobs/{job}/answer", json=answer, headers=desk.as_("ben")).status_code == 404
    for channel_key in ("shop", "web"):
        assert desk.http.get("/v1/human/jobs", headers=desk.as_(channel_key)).status_code == 403
        assert (
            desk.http.post(f"/v1/jobs/{job}/answer", json=answer, headers=desk.as_(channel_key)).status_code
            == 403
        )
    answered = desk.http.post(f"/v1/jobs/{job}/answer", json=answer, headers=desk.as_("ana"))
    assert answered.status_code == 200 and answered.json()["model"] == "human:Ana"  # not the body's name
    assert desk.http.post("/v1/messages", json={"text": "Hi"}, headers=desk.as_("ana")).status_code == 403


def test_an_admin_reads_every_channel_and_the_counters_a_channel_key_does_not(desk: Desk):
    job = desk.http.post("/v1/messages", json={"text": "Hi"}, headers=desk.as_("shop")).json()["job_id"]
    assert desk.http.get(f"/v1/jobs/{job}", headers=desk.as_("admin")).status_code == 200
    assert desk.http.get("/v1/cache", headers=desk.as_("admin")).status_code == 200
    assert desk.http.get("/v1/cache", headers=desk.as_("shop")).status_code == 403
    assert desk.http.post("/v1/messages", json={"text": "Hi"}, headers=desk.as_("admin")).status_code == 403


@pytest.mark.parametrize(
    ("channel", "scope", "name", "fragment"),
    [
        ("shop", "agent", None, "needs --name"),
        ("shop", "admin", None, "every channel"),
        ("*", "channel", None, "channel must be"),
        ("shop", "root", None, "scope must be one of"),
    ],
)
def test_a_key_of_a_wrong_shape_is_refused_when_made(tmp_path: Path, channel, scope, name, fragment):
    settings = load_settings(var_dir=str(tmp_path))
    upgrade(settings.store_url)
    stack = build_stack(settings)
    with pytest.raises(InvalidInput, match=fragment):
        api_keys.create(stack.factory, channel, scope, name)
    assert api_keys.list_keys(stack.factory) == []
    stack.close()


def test_keys_create_takes_the_scope_and_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from ops.cli import app

    monkeypatch.setenv("BABELQ_VAR_DIR", str(tmp_path))
    made = CliRunner().invoke(
        app, ["keys", "create", "--channel", "shop", "--scope", "agent", "--name", "Ana"]
    )
    assert made.exit_code == 0, made.output
    listed = CliRunner().invoke(app, ["keys", "list"])
    assert '"scope": "agent"' in listed.output and '"name": "Ana"' in listed.output
    refused = CliRunner().invoke(app, ["keys", "create", "--channel", "shop", "--scope", "agent"])
    assert refused.exit_code != 0 and "needs --name" in str(refused.exception)  # main() prints it


def test_an_admins_answers_are_signed_admin_whatever_the_body_says(desk: Desk):
    handed = desk.http.post(
        "/v1/messages", json={"text": TAGALOG, "user_ref": "u-8"}, headers=desk.as_("shop")
    )
    answer = {"text": "Pasensya na po.", "agent": "Ana"}
    answered = desk.http.post(
        f"/v1/jobs/{handed.json()['job_id']}/answer", json=answer, headers=desk.as_("admin")
    )
    assert answered.status_code == 200 and answered.json()["model"] == "human:admin"
