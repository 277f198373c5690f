"""Problems in a data file (routing table, channels, notices), as people read them: each at its
key's path, an unknown key with the known one it is closest to."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


def problems(exc: ValidationError, models: Iterable[type[BaseModel]]) -> list[str]:
    """One line per problem pydantic found, `path.to.key: what is wrong`; the `models` the file
    is made of give the known keys an unknown one is compared with."""
    known = sorted({name for model in models for name in model.model_fields})
    # a check across the file may find several problems: one line each
    return sorted(line for error in exc.errors() for line in _line(error, known).splitlines())


def _line(error: ErrorDetails, known: Sequence[str]) -> str:
    where = key_path(error["loc"])
    if error["type"] == "extra_forbidden":
        guess = difflib.get_close_matches(str(error["loc"][-1]), known, n=1, cutoff=0.75)
        return f"{where}: unknown field" + (f"; did you mean {guess[0]}?" if guess else "")
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def key_path(loc: Sequence[Any]) -> str:
    """`profiles.default.max_batch_size` from pydantic's location of an error (list items by index)."""
    return ".".join(str(part) for part in loc if not _is_pydantic_tag(part))


def _is_pydantic_tag(part: Any) -> bool:
    # pydantic adds its own steps to a location: "[key]" for a dict's key, "function-after[…]"
    return isinstance(part, str) and "[" in part and part.endswith("]")


def numbered(title: str, lines: Sequence[str]) -> str:
    """`title: problem` for one, else `title: N problems:` and one indented line each."""
    if len(lines) == 1:
        return f"{title}: {lines[0]}"
    return f"{title}: {len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines)
