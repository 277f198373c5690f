"""A typed Python client of the babelq API, sync (`Client`) and async (`AsyncClient`).

    with Client("http://127.0.0.1:8000", api_key="bq_…") as babelq:
        job = babelq.send("¿Dónde está mi pedido?", wait=30)
        print(babelq.wait(job.job_id).answer)

Every error answer raises ApiError with the status and the API's detail (a 429 or 503 also
with the seconds `Retry-After` asked for).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import ApiError
from producers.schemas import Accepted, ConversationOut, JobOut

DEFAULT_URL = "http://127.0.0.1:8000"
# The longest single wait the API grants (BABELQ_MAX_WAIT_S's default); longer waits are chained.
WAIT_STEP_S = 60.0


@dataclass(frozen=True)
class Event:
    """One server-sent event of a job's stream: `status`, `token` or `answer`, and its data."""

    kind: str
    data: dict[str, Any]


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _post(headers: dict[str, str], text: str, wait: float, key: str | None, **fields: Any) -> dict[str, Any]:
    """The arguments of a message's POST: its body (fields left out are the API's defaults)."""
    body = {"text": text, **{name: value for name, value in fields.items() if value is not None}}
    return {
        "json": body,
        "params": {"wait": wait},
        **_longer(wait),
        "headers": {**headers, **({"Idempotency-Key": key} if key else {})},
    }


def _longer(wait: float) -> dict[str, Any]:
    """A request that waits `wait` seconds needs a timeout that long (and the usual margin)."""
    return {"timeout": wait + 30} if wait > 0 else {}


def _checked(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        body = response.json()
    except ValueError:
        body = None  # a proxy's HTML error page, say
    detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
    retry = response.headers.get("Retry-After")
    raise ApiError(
        response.status_code,
        detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False),
        float(retry) if retry and retry.isdigit() else None,
    )


def _reply(body: dict[str, Any]) -> Accepted | JobOut:
    """202's body is Accepted; 200's (an answer within the wait, or from the cache) a JobOut."""
    return JobOut.model_validate(body) if "answer" in body else Accepted.model_validate(body)


def _page(limit: int, before: int | None) -> dict[str, Any]:
    """The query of a conversation page (`before`: the previous page's `next_before`)."""
    return {"limit": limit, **({"before": before} if before else {})}


def _step(left: float) -> float:
    """One `?wait=` of a longer wait: what is left, at most what the API grants at once."""
    return max(0.0, min(WAIT_STEP_S, left))


class EventParser:
    """Server-sent events from a stream's lines, one line at a time (`event:` and `data:`
    fields; a blank line ends an event; comments, the keep-alives, are skipped)."""

    def __init__(self) -> None:
        self._kind, self._data = "message", list[str]()

    def feed(self, line: str) -> Event | None:
        if line:
            if line.startswith("event:"):
                self._kind = line[6:].strip()
            elif line.startswith("data:"):
                self._data.append(line[5:].lstrip())
            return None
        event = Event(self._kind, json.loads("\n".join(self._data))) if self._data else None
        self._kind, self._data = "message", []
        return event


class Client:
    """The API over HTTP, synchronously. `http`: an httpx.Client of your own (tests, proxies)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._own = http is None
        self._headers = _headers(api_key)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self._http.close()

    def send(
        self,
        text: str,
        *,
        conversation_id: str | None = None,
        language: str | None = None,
        user_ref: str | None = None,
        channel: str | None = None,
        deadline_s: float | None = None,
        wait: float = 0,
        idempotency_key: str | None = None,
        stream: bool = False,
    ) -> Accepted | JobOut:
        """Post a message; with `wait`, the answer if it comes within that many seconds. With
        `stream`, its answer is streamed as it is generated (see `stream`)."""
        arguments = _post(
            self._headers,
            text,
            wait,
            idempotency_key,
            conversation_id=conversation_id,
            language=language,
            user_ref=user_ref,
            channel=channel,
            deadline_s=deadline_s,
            stream=stream or None,
        )
        response = self._http.post("/v1/messages", **arguments)
        return _reply(_checked(response))

    def job(self, job_id: str, wait: float = 0) -> JobOut:
        response = self._http.get(
            f"/v1/jobs/{job_id}", params={"wait": wait}, headers=self._headers, **_longer(wait)
        )
        return JobOut.model_validate(_checked(response))

    def wait(self, job_id: str, timeout: float = 300.0) -> JobOut:
        """The job once it has ended, or as it is when `timeout` runs out."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            job = self.job(job_id, wait=_step(left))
            if job.status.final or left <= WAIT_STEP_S:
                return job

    def stream(self, job_id: str, timeout: float = 300.0) -> Iterator[Event]:
        """The job's events as they happen (status changes, tokens, the answer), until it ends."""
        with self._http.stream(
            "GET",
            f"/v1/jobs/{job_id}/events",
            headers=self._headers,
            timeout=httpx.Timeout(30.0, read=timeout),
        ) as response:
            if not response.is_success:
                response.read()
                _checked(response)
            parser = EventParser()
            for line in response.iter_lines():
                if (event := parser.feed(line)) is not None:
                    yield event

    def conversation(
        self, conversation_id: str, limit: int = 100, before: int | None = None
    ) -> ConversationOut:
        params = _page(limit, before)
        response = self._http.get(
            f"/v1/conversations/{conversation_id}", params=params, headers=self._headers
        )
        return ConversationOut.model_validate(_checked(response))


class AsyncClient:
    """The same API for asyncio code."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._own = http is None
        self._headers = _headers(api_key)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def send(
        self,
        text: str,
        *,
        conversation_id: str | None = None,
        language: str | None = None,
        user_ref: str | None = None,
        channel: str | None = None,
        deadline_s: float | None = None,
        wait: float = 0,
        idempotency_key: str | None = None,
        stream: bool = False,
    ) -> Accepted | JobOut:
        arguments = _post(
            self._headers,
            text,
            wait,
            idempotency_key,
            conversation_id=conversation_id,
            language=language,
            user_ref=user_ref,
            channel=channel,
            deadline_s=deadline_s,
            stream=stream or None,
        )
        response = await self._http.post("/v1/messages", **arguments)
        return _reply(_checked(response))

    async def job(self, job_id: str, wait: float = 0) -> JobOut:
        response = await self._http.get(
            f"/v1/jobs/{job_id}", params={"wait": wait}, headers=self._headers, **_longer(wait)
        )
        return JobOut.model_validate(_checked(response))

    async def wait(self, job_id: str, timeout: float = 300.0) -> JobOut:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            job = await self.job(job_id, wait=_step(left))
            if job.status.final or left <= WAIT_STEP_S:
                return job

    async def stream(self, job_id: str, timeout: float = 300.0) -> AsyncIterator[Event]:
        async with self._http.stream(
            "GET",
            f"/v1/jobs/{job_id}/events",
            headers=self._headers,
            timeout=httpx.Timeout(30.0, read=timeout),
        ) as response:
            if not response.is_success:
                await response.aread()
                _checked(response)
            parser = EventParser()
            async for line in response.aiter_lines():
                if (event := parser.feed(line)) is not None:
                    yield event

    async def conversation(
        self, conversation_id: str, limit: int = 100, before: int | None = None
    ) -> ConversationOut:
        params = _page(limit, before)
        response = await self._http.get(
            f"/v1/conversations/{conversation_id}", params=params, headers=self._headers
        )
        return ConversationOut.model_validate(_checked(response))
