"""`babelq publish FILE.jsonl`: validate every line first, publish them all, optionally wait.

Each line is published under an idempotency key made of the file's content hash and its line
number, so a rerun of the same file (after a failure at line 500, say) gets the 499 jobs it made
already instead of 499 new ones; each accepted line is appended to a journal as it goes, and
`--resume` skips the lines the journal holds without asking again.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress

from core.errors import ApiError, ConversationNotFound, InvalidInput
from persistence.db import SessionFactory
from persistence.views import get_job
from producers.client import Client
from producers.intake import Intake
from producers.messages import MessageIn, read_message
from producers.schemas import JobOut

REFUSED = "refused"


class Gateway(Protocol):
    """Where messages go: the broker directly, or an API over HTTP."""

    def submit(self, message: MessageIn, key: str) -> dict[str, Any]: ...
    def fetch(self, job_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Line:
    """One message of the file, with its line number and its idempotency key."""

    number: int
    message: MessageIn
    key: str


def read_messages(path: Path, max_text_chars: int) -> list[Line]:
    """Parse the whole file; any bad line fails the lot before anything is published."""
    source = path.read_text(encoding="utf-8")
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    problems: list[str] = []
    lines: list[Line] = []
    for number, text in enumerate(source.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            lines.append(
                Line(number, read_message(json.loads(text), max_text_chars), f"publish:{digest}:{number}")
            )
        except (json.JSONDecodeError, ValidationError) as exc:
            problems.append(f"line {number}: {_short(exc)}")
    if problems:
        raise InvalidInput(f"{path}: nothing published, {len(problems)} bad line(s):\n" + "\n".join(problems))
    return lines


def journaled(journal: Path) -> set[str]:
    """The keys of the lines a journal holds as published."""
    if not journal.exists():
        return set()
    keys = set()
    for text in journal.read_text(encoding="utf-8").splitlines():
        with suppress(json.JSONDecodeError, KeyError, TypeError):  # a last line cut by a crash
            keys.add(str(json.loads(text)["key"]))
    return keys


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
    return f"invalid JSON: {exc}"


def publish_file(
    gateway: Gateway, lines: list[Line], *, wait: bool, out: Path | None, timeout_s: float, journal: Path
) -> int:
    """Publish every line (each appended to `journal` once accepted); returns 0 when all were
    accepted (and answered if waited)."""
    with _output(out) as sink:
        accepted = _submit_all(gateway, lines, journal)
        results = _wait_all(gateway, accepted, timeout_s) if wait else accepted
        for result in results:
            sink.write(json.dumps(result, ensure_ascii=False) + "\n")
    failed = [r for r in results if r.get("status") not in ("queued", "running", "done")]
    return 1 if failed else 0


def _submit_all(gateway: Gateway, lines: list[Line], journal: Path) -> list[dict[str, Any]]:
    with Progress(console=Console(stderr=True)) as progress, journal.open("a", encoding="utf-8") as record:
        task = progress.add_task("publishing", total=len(lines))
        accepted = []
        for line in lines:
            result = _submit_line(gateway, line)
            accepted.append(result)
            progress.advance(task)
            if result["status"] == REFUSED:
                continue
            record.write(
                json.dumps({"line": line.number, "key": line.key, "job_id": result["job_id"]}) + "\n"
            )
            record.flush()  # as it goes: a rerun after a crash knows what was taken
    return accepted


def _submit_line(gateway: Gateway, line: Line) -> dict[str, Any]:
    """One line's outcome: accepted, or refused on its own (a conversation id that is another
    channel's) while the others go on."""
    try:
        return gateway.submit(line.message, line.key)
    except (ConversationNotFound, ApiError) as exc:
        if isinstance(exc, ApiError) and exc.status != 404:
            raise
        return {"line": line.number, "job_id": None, "status": REFUSED, "error": str(exc)}


def _wait_all(gateway: Gateway, accepted: list[dict[str, Any]], timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    results: dict[str, dict[str, Any]] = {}
    waiting = [item for item in accepted if item["status"] != REFUSED]
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("answering", total=len(waiting))
        while len(results) < len(waiting) and time.monotonic() < deadline:
            for item in waiting:
                if item["job_id"] not in results and _is_final(view := gateway.fetch(item["job_id"])):
                    results[item["job_id"]] = view
                    progress.advance(task)
            time.sleep(0.1)
    return [results.get(item["job_id"], item) if item["job_id"] else item for item in accepted]


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
    """Through a babelq API with the Python client (the only way into the embedded stack's
    in-process broker)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(self, message: MessageIn, key: str) -> dict[str, Any]:
        fields = message.model_dump(exclude_none=True, exclude={"text"})
        return self._client.send(message.text, idempotency_key=key, **fields).model_dump(mode="json")

    def fetch(self, job_id: str) -> dict[str, Any]:
        return self._client.job(job_id).model_dump(mode="json")


class BrokerGateway:
    """Straight to the broker, through this process's own intake and store."""

    def __init__(self, intake: Intake, factory: SessionFactory) -> None:
        self._intake = intake
        self._factory = factory

    def submit(self, message: MessageIn, key: str) -> dict[str, Any]:
        submitted = self._intake.submit_once(message, key)
        if isinstance(submitted, str):  # published by an earlier run of the same file
            return self.fetch(submitted)
        job = submitted.job
        return {
            "job_id": job.job_id,
            "conversation_id": job.conversation_id,
            "language": job.language,
            "queue": job.queue,
            "status": "queued",
        }

    def fetch(self, job_id: str) -> dict[str, Any]:
        view = get_job(self._factory, job_id)
        return JobOut.of(view).model_dump(mode="json") if view else {"job_id": job_id, "status": "unknown"}
