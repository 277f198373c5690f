"""`babelq publish FILE.jsonl`: validate every line first, publish them all, optionally wait."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO

import httpx
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress

from core.errors import InvalidInput
from persistence.db import SessionFactory
from persistence.views import get_job
from producers.intake import Intake
from producers.messages import MessageIn, message_model
from producers.schemas import JobOut


class Gateway(Protocol):
    """Where messages go: the broker directly, or an API over HTTP."""

    def submit(self, message: MessageIn) -> dict[str, Any]: ...
    def fetch(self, job_id: str) -> dict[str, Any]: ...


def read_messages(path: Path, max_text_chars: int) -> list[MessageIn]:
    """Parse the whole file; any bad line fails the lot before anything is published."""
    model = message_model(max_text_chars)
    problems: list[str] = []
    messages: list[MessageIn] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages.append(model.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            problems.append(f"line {number}: {_short(exc)}")
    if problems:
        raise InvalidInput(f"{path}: nothing published, {len(problems)} bad line(s):\n" + "\n".join(problems))
    return messages


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
    return f"invalid JSON: {exc}"


def publish_file(
    gateway: Gateway, messages: list[MessageIn], *, wait: bool, out: Path | None, timeout_s: float
) -> int:
    """Publish every message; returns 0 when all were accepted (and answered if waited)."""
    with _output(out) as sink:
        accepted = _submit_all(gateway, messages)
        results = _wait_all(gateway, accepted, timeout_s) if wait else accepted
        for result in results:
            sink.write(json.dumps(result, ensure_ascii=False) + "\n")
    failed = [r for r in results if r.get("status") not in ("queued", "done")]
    return 1 if failed else 0


def _submit_all(gateway: Gateway, messages: list[MessageIn]) -> list[dict[str, Any]]:
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("publishing", total=len(messages))
        accepted = []
        for message in messages:
            accepted.append(gateway.submit(message))
            progress.advance(task)
    return accepted


def _wait_all(gateway: Gateway, accepted: list[dict[str, Any]], timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    results: dict[str, dict[str, Any]] = {}
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("answering", total=len(accepted))
        while len(results) < len(accepted) and time.monotonic() < deadline:
            for item in accepted:
                if item["job_id"] not in results and _is_final(view := gateway.fetch(item["job_id"])):
                    results[item["job_id"]] = view
                    progress.advance(task)
            time.sleep(0.1)
    return [results.get(item["job_id"], item) for item in accepted]


def _is_final(view: dict[str, Any]) -> bool:
    return view.get("status") in ("done", "failed", "expired")


@contextmanager
def _output(out: Path | None) -> Iterator[TextIO]:
    if out is None:
        yield sys.stdout
        return
    with out.open("w", encoding="utf-8") as handle:
        yield handle


class HttpGateway:
    """Through a babelq API (the only way into the embedded stack's in-process broker)."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def submit(self, message: MessageIn) -> dict[str, Any]:
        response = self._client.post("/v1/messages", json=message.model_dump(exclude_none=True))
        response.raise_for_status()
        return dict(response.json())

    def fetch(self, job_id: str) -> dict[str, Any]:
        response = self._client.get(f"/v1/jobs/{job_id}")
        response.raise_for_status()
        return dict(response.json())


class BrokerGateway:
    """Straight to the broker, through this process's own intake and store."""

    def __init__(self, intake: Intake, factory: SessionFactory) -> None:
        self._intake = intake
        self._factory = factory

    def submit(self, message: MessageIn) -> dict[str, Any]:
        submitted = self._intake.submit(message)
        job = submitted.job
        return {"job_id": job.job_id, "conversation_id": job.conversation_id, "language": job.language,
                "queue": job.queue, "status": "queued"}  # fmt: skip

    def fetch(self, job_id: str) -> dict[str, Any]:
        view = get_job(self._factory, job_id)
        return JobOut.of(view).model_dump(mode="json") if view else {"job_id": job_id, "status": "unknown"}
