"""Which language the model answers a job in, and the line put before that answer when it is not
the customer's own language (the routing table's `unanswered: default_language`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from core.errors import ConfigurationError
from routing.table import RoutingTable

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


@cache
def unanswered_notices() -> Mapping[str, str]:
    """The packaged notices, one line per language (read once, at a worker's start)."""
    try:
        text = resources.files("routing").joinpath(NOTICES_RESOURCE).read_text("utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {NOTICES_RESOURCE}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{NOTICES_RESOURCE} must map language codes to one line each")
    return {str(code): str(line) for code, line in data.items()}
