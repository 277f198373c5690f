"""How the language of a message is decided: pure rules, no I/O.

Order of precedence (see DESIGN.md): an explicit language always wins; a follow-up keeps its
conversation's language unless the new message is long and clearly in another one; a first
message uses a reliable detection, else the user's locale when the channel knows it (a
Telegram user's language setting, a profile's locale), else the channel's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# A follow-up switches language only when the detector is sure *and* the message has at least
# this many words: customers answer "ok", "thx", "sí" in whatever language they started in.
SWITCH_MIN_WORDS = 4

LanguageSource = Literal["explicit", "detected", "conversation", "locale", "channel"]


@dataclass(frozen=True)
class Detection:
    """What the detector saw in one message."""

    language: str | None
    confidence: float
    reliable: bool
    words: int


@dataclass(frozen=True)
class LanguageChoice:
    """The language a message is answered in, and why."""

    language: str
    source: LanguageSource


def choose_language(
    detection: Detection,
    *,
    explicit: str | None,
    conversation_language: str | None,
    channel_default: str,
    user_locale: str | None = None,
) -> LanguageChoice:
    """Apply the precedence rules to one message."""
    if explicit:
        return LanguageChoice(explicit, "explicit")
    if conversation_language:
        if _switches_language(detection, conversation_language):
            assert detection.language is not None
            return LanguageChoice(detection.language, "detected")
        return LanguageChoice(conversation_language, "conversation")
    if detection.reliable and detection.language:
        return LanguageChoice(detection.language, "detected")
    if user_locale:  # what the customer set in their profile beats the channel's guess
        return LanguageChoice(user_locale, "locale")
    return LanguageChoice(channel_default, "channel")


def _switches_language(detection: Detection, conversation_language: str) -> bool:
    return (
        detection.reliable
        and detection.language is not None
        and detection.language != conversation_language
        and detection.words >= SWITCH_MIN_WORDS
    )
