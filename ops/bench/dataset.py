"""The benchmark's messages: the shipped multilingual set, or a JSONL file of {text, ...}."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from core.errors import InvalidInput


def load_texts(path: Path | None) -> list[str]:
    """Message texts, mixed languages and lengths; a bad file is one clear InvalidInput."""
    source = path.read_text(encoding="utf-8") if path else _shipped()
    texts: list[str] = []
    for number, line in enumerate(source.splitlines(), start=1):
        if line.strip():
            texts.append(_text(line, number))
    if not texts:
        raise InvalidInput(f"bench dataset {path} has no messages")
    return texts


def _shipped() -> str:
    return resources.files("ops.bench").joinpath("dataset.jsonl").read_text(encoding="utf-8")


def _text(line: str, number: int) -> str:
    try:
        text = json.loads(line)["text"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidInput(f'bench dataset line {number}: expected {{"text": ...}}: {exc}') from exc
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"bench dataset line {number}: text must be a non-empty string")
    return text
