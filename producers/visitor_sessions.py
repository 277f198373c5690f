"""Visitor sessions: what the web page holds instead of a channel key, as chat widgets do.

`POST /v1/sessions` gives a browser a short-lived token for one visitor of the web channel; with
it the page posts into and reads only that visitor's own conversations, within a person's rate
limit. The page renews its token while it is open (a renewed token keeps its visitor); a token
past its expiry is refused, and its visitor's conversations are out of reach from then on.

A token is `bqv_<payload>.<mac>`: the payload (channel, visitor id, expiry) in base64url JSON and
its HMAC-SHA256 under a key derived from the deployment's secret. Nothing is stored: any API
process of the deployment checks any token. Pure: the clock is injected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import Unauthenticated
from persistence.api_keys import Caller

PREFIX = "bqv_"
_PURPOSE = b"babelq visitor sessions v1"  # a key for this use alone, derived from the deployment's
MAX_TOKEN_CHARS = 512


@dataclass(frozen=True)
class Session:
    token: str
    channel: str
    visitor: str
    expires_at: float  # Unix seconds


class VisitorSessions:
    def __init__(self, key: bytes, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(key, _PURPOSE, hashlib.sha256).digest()
        self._ttl_s = ttl_s
        self._clock = clock

    def issue(self, channel: str, visitor: str | None = None) -> Session:
        """A new visitor's session, or (`visitor`) a renewal of a live session's."""
        visitor = visitor or secrets.token_hex(16)
        expires_at = int(self._clock() + self._ttl_s)
        payload = _b64(
            json.dumps({"c": channel, "v": visitor, "e": expires_at}, separators=(",", ":")).encode()
        )
        token = f"{PREFIX}{payload}.{_b64(self._mac(payload))}"
        return Session(token, channel, visitor, expires_at)

    def check(self, token: str) -> Caller:
        """The visitor a token speaks for; Unauthenticated when it is malformed, forged or expired."""
        payload, _, mac = token.removeprefix(PREFIX).partition(".")
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS or not mac:
            raise Unauthenticated("malformed visitor session (expected bqv_<payload>.<mac>)")
        if not hmac.compare_digest(_b64(self._mac(payload)).encode(), mac.encode("latin-1", "replace")):
            raise Unauthenticated("visitor session does not verify")
        channel, visitor, expires_at = _fields(payload)
        if expires_at <= self._clock():
            raise Unauthenticated("visitor session expired: ask POST /v1/sessions for a new one")
        return Caller(key_id=f"visitor:{visitor}", channel=channel, scope="visitor", visitor=visitor)

    def _mac(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode("ascii", "replace"), hashlib.sha256).digest()


def is_session_token(credential: str) -> bool:
    return credential.startswith(PREFIX)


def _fields(payload: str) -> tuple[str, str, float]:
    """A verified payload's fields (it was signed by us, so a bad shape is a bug or a key reuse)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(data["c"]), str(data["v"]), float(data["e"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise Unauthenticated("visitor session does not verify") from exc


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
