"""The API as its users read it: through the Python client (producers/client.py).

`in_process(test_client)` drives an in-process app with it: FastAPI's TestClient is an httpx client.
What the HTTP status said, the client says by the type of a message's reply: a 200 (the job has
ended) is a JobOut, a 202 (stored and queued) an Accepted; an error answer raises ApiError.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from producers.client import Client
from producers.schemas import Accepted, ConversationOut, JobOut

# The client gives a request that waits (`wait=`) a timeout that long; a TestClient, with no network to
# time out, warns that it ignores it (StarletteDeprecationWarning, a UserWarning): noise, not a fault.
TESTCLIENT_TIMEOUTS = pytest.mark.filterwarnings(
    "ignore:You should not use the 'timeout' argument with the TestClient"
)


def in_process(http: TestClient) -> Client:
    """The client over an app run in-process. (With httpx2 installed, as huggingface_hub brings it,
    Starlette's TestClient is an httpx2.Client: the same methods as the httpx.Client the client's
    annotation names, but another class, hence the ignore.)"""
    return Client(http=http)  # type: ignore[arg-type]


def answered(reply: Accepted | JobOut) -> JobOut:
    """The reply of a message that has ended: the API's 200 (within the wait, or from the cache)."""
    assert isinstance(reply, JobOut), f"not ended when the reply came (a 202): {reply!r}"
    return reply


def queued(reply: Accepted | JobOut) -> Accepted:
    """The reply of a message that was stored and queued: the API's 202."""
    assert isinstance(reply, Accepted), f"ended at once (a 200), not queued: {reply!r}"
    return reply


def roles(conversation: ConversationOut) -> list[str]:
    """Who spoke each turn of a conversation's page, oldest first."""
    return [turn.role for turn in conversation.turns]
