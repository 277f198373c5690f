"""English names of the languages babelq routes, used inside system prompts."""

from __future__ import annotations

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "zh": "Chinese", "es": "Spanish", "fr": "French", "de": "German",
    "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "uk": "Ukrainian",
    "pl": "Polish", "cs": "Czech", "sv": "Swedish", "da": "Danish", "no": "Norwegian",
    "fi": "Finnish", "tr": "Turkish", "ar": "Arabic", "he": "Hebrew", "fa": "Persian",
    "hi": "Hindi", "ja": "Japanese", "ko": "Korean", "th": "Thai", "vi": "Vietnamese",
    "id": "Indonesian", "ms": "Malay", "el": "Greek", "ro": "Romanian", "hu": "Hungarian",
}  # fmt: skip


def language_name(code: str) -> str:
    """The English name of a language, or its code when we have no name for it."""
    return LANGUAGE_NAMES.get(code, code)
