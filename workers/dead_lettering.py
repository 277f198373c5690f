"""The worker's Celery consumer, with the messages it cannot hand to any task dead-lettered.

Celery's consumer drops what it cannot run, with a log line: a message of a task name this worker
does not know, one in no format Celery reads, one whose headers or body cannot be decoded. On a
babelq queue such a message is a job that would never end (a producer of another version, a
typo in a task name, a corrupted body), so it goes to the dead-letter queue instead, with the
reason, the error and what could be read of it, for `babelq dead` to show.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from celery.worker.consumer import Consumer

from transport.dead_letters import dead_letter
from workers.bulk_consumer import pipeline_of

log = logging.getLogger(__name__)
DEAD_LETTERING_CONSUMER = "workers.dead_lettering:DeadLetteringConsumer"
RAW_BODY_LIMIT = 64 * 1024  # a dead letter keeps this much of an unreadable body


class DeadLetteringConsumer(Consumer):  # type: ignore[misc]
    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        task = message.headers.get("task") if isinstance(message.headers, dict) else None
        self._dead_letter(message, "unknown task", f"no task named {task!r} on this worker ({exc!r})")

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._dead_letter(message, "unknown message", "not a Celery task message")

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._dead_letter(message, "invalid message", repr(exc))

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._dead_letter(message, "undecodable", repr(exc))

    def _dead_letter(self, message: Any, reason: str, error: str) -> None:
        source = (message.delivery_info or {}).get("routing_key")
        try:
            queue = pipeline_of(self.app).dead_letter_queue
            dead_letter(self.app, queue, readable(message), reason=reason, error=error, source=source)
        except Exception:
            # The broker did not take the letter: the message goes back, for another try.
            log.exception("could not dead-letter a message from %s (%s); it goes back", source, reason)
            message.reject_log_error(log, self.connection_errors, requeue=True)
            return
        log.error("dead-lettered a message from %s (%s): %s", source, reason, error)
        message.ack_log_error(log, self.connection_errors)


def readable(message: Any) -> dict[str, Any]:
    """What a dead letter keeps of a message no task could take: its headers and content type,
    and its body as text where it is text, else base64 (at most RAW_BODY_LIMIT bytes of it)."""
    body = message.body if isinstance(message.body, bytes | str) else repr(message.body)
    raw = body.encode() if isinstance(body, str) else body
    kept: dict[str, Any] = {
        "headers": {str(k): _plain(v) for k, v in (message.headers or {}).items()},
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        "body_bytes": len(raw),
    }
    try:
        kept["body"] = raw[:RAW_BODY_LIMIT].decode()
    except UnicodeDecodeError:
        kept["body_base64"] = base64.b64encode(raw[:RAW_BODY_LIMIT]).decode()
    return kept


def _plain(value: Any) -> Any:
    """A header as JSON keeps it: plain values as they are, anything else as its repr."""
    return value if value is None or isinstance(value, str | int | float | bool) else repr(value)
