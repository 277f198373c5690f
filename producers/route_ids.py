"""Ids in route paths: a job or conversation id that is not a UUID names nothing (404)."""

from __future__ import annotations

from fastapi import HTTPException

from core.errors import InvalidInput
from core.jobs import canonical_uuid


def uuid_or_404(value: str, what: str) -> str:
    """The id in its canonical form, or a 404 that says it is no UUID."""
    try:
        return canonical_uuid(value)
    except InvalidInput as exc:
        raise HTTPException(status_code=404, detail=f"no {what} {value!r} (not a UUID)") from exc
