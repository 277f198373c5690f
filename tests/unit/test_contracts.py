"""The wire contract (ChatJob), the input contract (MessageIn) and settings validation."""

import pytest
from pydantic import ValidationError

from core.errors import ConfigurationError, InvalidInput, UnsupportedJobVersion
from core.jobs import DEFAULT_MAX_TEXT_CHARS, ChatJob, new_id
from core.settings import load_settings
from producers.messages import MessageIn, message_model
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
        MessageIn.model_validate(body)


def test_a_channel_validates_under_its_configured_text_limit(tmp_path):
    assert message_model(8000).model_validate({"text": "x" * 6000}).text == "x" * 6000
    with pytest.raises(ValidationError, match="limit is 10"):
        message_model(10).model_validate({"text": "hello world"})
    assert message_model(10) is message_model(10) and message_model(DEFAULT_MAX_TEXT_CHARS) is MessageIn
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
