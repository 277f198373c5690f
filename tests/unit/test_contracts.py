"""The wire contract (ChatJob), the input contract (MessageIn) and settings validation."""

import pytest
from pydantic import ValidationError

from core.errors import ConfigurationError, InvalidInput, UnsupportedJobVersion
from core.jobs import DEFAULT_MAX_TEXT_CHARS, ChatJob, new_id
from core.settings import load_settings
from producers.messages import MessageIn, read_message
from producers.publish import read_messages


def job(**overrides):
    fields = dict(job_id=new_id(), conversation_id=new_id(), text="hola", language="es", queue="chat.es")
    return ChatJob(**{**fields, **overrides})


def test_job_round_trips_over_the_wire():
    original = job()
    assert ChatJob.from_wire(original.to_wire()) == original


def test_newer_job_versions_are_refused_clearly():
    payload = job().to_wire() | {"v": 99}
    with pytest.raises(UnsupportedJobVersion, match="v=99"):
        ChatJob.from_wire(payload)


def test_a_job_without_a_version_is_malformed_not_newer():
    payload = {k: v for k, v in job().to_wire().items() if k != "v"}
    with pytest.raises(InvalidInput, match="malformed") as raised:
        ChatJob.from_wire(payload)
    assert not isinstance(raised.value, UnsupportedJobVersion)


def test_malformed_job_is_invalid_input():
    payload = job().to_wire() | {"text": ""}
    with pytest.raises(InvalidInput, match="malformed ChatJob"):
        ChatJob.from_wire(payload)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": "   "}, "empty or only whitespace"),
        ({"text": "x" * 4001}, "limit is 4000"),
        ({"text": "hi", "conversation_id": "42"}, "must be a UUID"),
        ({"text": "hi", "language": "english"}, "language"),
        ({"text": "hi", "channel": "bad channel"}, "channel"),
        ({"text": 5}, "string"),
        ({"text": "hi", "surprise": 1}, "Extra inputs"),
    ],
)
def test_bad_messages_are_refused_with_a_message_saying_why(body, message):
    with pytest.raises(ValidationError, match=message):
        read_message(body, DEFAULT_MAX_TEXT_CHARS)


def test_a_channel_validates_under_its_configured_text_limit(tmp_path):
    assert read_message({"text": "x" * 6000}, 8000).text == "x" * 6000
    with pytest.raises(ValidationError, match="limit is 10"):
        read_message({"text": "hello world"}, 10)
    assert read_message({"text": "  ten chars \n"}, 10).text == "ten chars"  # the text as stored
    # and a JSONL file is refused as a whole, before anything is published
    lines = tmp_path / "messages.jsonl"
    lines.write_text('{"text": "short"}\n{"text": "much too long"}\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"line 2: text: .*the limit is 10"):
        read_messages(lines, max_text_chars=10)


def test_message_language_is_folded_to_iso_639_1():
    assert MessageIn(text="oi", language="pt-BR").language == "pt"


def test_settings_reject_bad_values_with_the_variable_name(monkeypatch):
    monkeypatch.setenv("BABELQ_MAX_NEW_TOKENS", "0")
    with pytest.raises(ConfigurationError, match="BABELQ_MAX_NEW_TOKENS"):
        load_settings()


def test_production_refuses_the_embedded_broker(monkeypatch):
    monkeypatch.setenv("BABELQ_ENV", "production")
    with pytest.raises(ConfigurationError, match="real BABELQ_BROKER_URL"):
        load_settings()


PRODUCTION = {
    "env": "production",
    "broker_url": "redis://:pw@redis:6379/0",
    "database_url": "postgresql+psycopg://b:pw@pg/b",
}


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"broker_url": "redis://:change-me-redis@redis:6379/0"}, "BABELQ_BROKER_URL"),
        ({"secret_key": "change-me-secret-key-of-at-least-32-characters"}, "BABELQ_SECRET_KEY"),
        ({"flower_basic_auth": "admin:change-me-flower"}, "BABELQ_FLOWER_BASIC_AUTH"),
    ],
)
def test_production_refuses_a_placeholder_secret_naming_its_variable(change, variable):
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(**{**PRODUCTION, **change})


def test_a_short_secret_key_is_refused_and_an_api_in_production_needs_one(tmp_path):
    from core.deployment_key import deployment_key

    with pytest.raises(ConfigurationError, match="at least 32"):
        load_settings(secret_key="too-short")
    with pytest.raises(ConfigurationError, match="BABELQ_SECRET_KEY"):
        deployment_key(load_settings(**PRODUCTION, var_dir=str(tmp_path)))
    given = "k" * 32
    assert deployment_key(load_settings(**PRODUCTION, secret_key=given)) == given.encode()


def test_a_development_stack_keeps_the_key_it_makes(tmp_path):
    """Given no BABELQ_SECRET_KEY, expect one made once, private to its owner, and the same one
    at the next start (the chats' conversation ids outlive a restart)."""
    from core.deployment_key import KEY_FILE, deployment_key

    settings = load_settings(var_dir=str(tmp_path / "var"))
    first = deployment_key(settings)
    assert len(first) >= 32 and deployment_key(settings) == first
    assert (tmp_path / "var" / KEY_FILE).stat().st_mode & 0o777 == 0o600
