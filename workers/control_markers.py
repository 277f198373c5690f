"""Keep user text from becoming chat-template control tokens.

A rendered chat prompt is tokenised with its special tokens parsed: that is how the template's own
`<|im_start|>system` becomes one token. The same string typed by a customer would become the same
token, and a forged system turn would then sit in the conversation's history for good. Before
rendering, every marker the tokenizer would parse as one added token is broken with an invisible
WORD JOINER after its first character, so it tokenises as the plain characters it shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# U+2060 WORD JOINER: invisible, no line break, and not part of any marker.
JOINER = "\u2060"


@dataclass(frozen=True)
class ControlMarkers:
    """The strings a tokenizer turns into control tokens, and how to defuse them in text."""

    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, tokenizer: Any) -> ControlMarkers:
        """A tokenizer's special and added tokens (transformers' `all_special_tokens` and
        `added_tokens_encoder`: both are matched as whole tokens in text)."""
        markers = set(getattr(tokenizer, "all_special_tokens", []) or [])
        markers.update(getattr(tokenizer, "added_tokens_encoder", {}) or {})
        return cls.from_strings(markers)

    @classmethod
    def from_strings(cls, markers: Iterable[str]) -> ControlMarkers:
        # A one-character token cannot be split, and such tokens are not chat-template markers.
        usable = sorted((m for m in markers if len(m) > 1), key=len, reverse=True)  # longest first
        if not usable:
            return cls(None)
        return cls(re.compile("|".join(re.escape(marker) for marker in usable)))

    def defuse(self, text: str) -> str:
        """`text` with each marker broken after its first character (the text reads the same)."""
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda match: match[0][0] + JOINER + match[0][1:], text)
