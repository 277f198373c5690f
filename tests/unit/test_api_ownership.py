"""Every row of the attack table that concerns conversations and idempotency, through the API
with keys required: a conversation is its channel's from its first message, on every path."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ApiError
from producers.client import Client
from tests.unit.test_api_access import api


@pytest.fixture
def clients(tmp_path: Path):
    with api(tmp_path, require_api_keys=True) as (http, keys):
        yield {channel: Client(http=http, api_key=key) for channel, key in keys.items()}


def test_a_conversation_another_channel_made_is_not_found_for_posting_or_reading(clients):
    shop, bank = clients["shop"], clients["bank"]
    first = shop.send("Where is my parcel?")
    with pytest.raises(ApiError) as refused:
        bank.send("Let me in", conversation_id=first.conversation_id)
    assert refused.value.status == 404
    with pytest.raises(ApiError) as unread:
        bank.conversation(first.conversation_id)
    assert unread.value.status == 404
    later = shop.send("And when does it come?", conversation_id=first.conversation_id)
    assert later.conversation_id == first.conversation_id
    texts = [turn.text for turn in shop.conversation(first.conversation_id).turns]
    assert texts == ["Where is my parcel?", "And when does it come?"]


def test_a_client_chosen_new_id_is_the_callers_channels_from_then_on(clients):
    """The README's choice: a fresh id a client picks becomes its channel's conversation."""
    chosen = "0b6d2a4e-8f1c-4b7e-9a35-2c4d6e8f0a1b"
    assert clients["bank"].send("Hello", conversation_id=chosen).conversation_id == chosen
    with pytest.raises(ApiError) as refused:
        clients["shop"].send("Hello too", conversation_id=chosen)
    assert refused.value.status == 404


def test_idempotency_keys_of_channels_whose_names_hold_colons_do_not_meet(tmp_path: Path):
    from persistence import api_keys
    from tests.unit.test_api_access import _factory

    with api(tmp_path, require_api_keys=True) as (http, _keys):
        factory = _factory(tmp_path)
        eu = Client(http=http, api_key=api_keys.create(factory, "acme:eu"))
        acme = Client(http=http, api_key=api_keys.create(factory, "acme"))
        one = eu.send("Where is order 1?", idempotency_key="o-1")
        other = acme.send("Where is order 2?", idempotency_key="eu:o-1")  # "acme" + ":" + "eu:o-1"
        assert one.job_id != other.job_id
