"""Which language the model answers a job in, and the line put before that answer when it is not
the customer's own language (the routing table's `unanswered: default_language`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated

import yaml
from pydantic import ConfigDict, Field, RootModel, ValidationError

from core.data_files import numbered, problems
from core.errors import ConfigurationError
from routing.table import RoutingTable
from routing.table_spec import Language

NOTICES_RESOURCE = "unanswered_notices.yaml"
FALLBACK_NOTICE = "Sorry, we cannot answer in your language yet, so we are replying in another language."


@dataclass(frozen=True)
class ReplyPlan:
    """The language the model writes in, and a line in the customer's language before it."""

    language: str
    notice: str | None = None

    def shown(self, answer: str) -> str:
        """The answer as the customer sees it."""
        return f"{self.notice}\n\n{answer}" if self.notice else answer


class Replies:
    """Reply plans from the routing table: the same table the intake routed the job with."""

    def __init__(self, table: RoutingTable, notices: Mapping[str, str]) -> None:
        self._table = table
        self._notices = notices

    def plan(self, language: str, channel: str) -> ReplyPlan:
        handling = self._table.handling(language, channel)
        if handling.kind != "default_language":
            return ReplyPlan(language)
        return ReplyPlan(handling.answer_language, self._notices.get(language, FALLBACK_NOTICE))


class NoticesSpec(RootModel[dict[Language, Annotated[str, Field(min_length=1)]]]):
    """unanswered_notices.yaml: one line per language code."""

    model_config = ConfigDict(strict=True)


@cache
def unanswered_notices() -> Mapping[str, str]:
    """The packaged notices, one line per language (read and checked once, at a worker's start)."""
    try:
        text = resources.files("routing").joinpath(NOTICES_RESOURCE).read_text("utf-8")
        return NoticesSpec.model_validate(yaml.safe_load(text)).root
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {NOTICES_RESOURCE}: {exc}") from exc
    except ValidationError as exc:
        raise ConfigurationError(numbered(NOTICES_RESOURCE, problems(exc, ()))) from exc
