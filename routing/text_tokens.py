"""Chat text as the detector reads it: noise stripped, split into words tagged with their script."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_TLDS = (
    "com|net|org|info|biz|io|ai|app|shop|store|online|site|co|me|tv|eu|uk|us|de|fr|es|it|nl|"
    "pt|br|ru|ua|pl|cz|se|dk|no|fi|tr|gr|ro|hu|jp|kr|cn|tw|hk|vn|id|my|sg|th|in|ir|il|ae|sa|"
    "au|ca|mx|ar|cl|be|at|ch"
)
_URL = re.compile(rf"(?:https?://|www\.)\S+|\b(?:[\w-]+\.)+(?:{_TLDS})\b(?:/\S*)?", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+\.\S+")
_HANDLE = re.compile(r"[@#]\w+")
# Scripts written without spaces: a digit next to them must not take their words with it.
_UNSPACED = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff"
_DIGIT_TOKEN = re.compile(rf"[^\s{_UNSPACED}]*\d[^\s{_UNSPACED}]*")
# Combining marks of the scripts we read: Python's \w does not include them, and a Hindi or
# Thai word split at every vowel sign would fall apart into letters.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
    "\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963"
    "\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u200c\u200d\u3099\u309a"
)
_LETTER = rf"(?:[^\W\d_]|[{_MARKS}])"
_WORD = re.compile(rf"{_LETTER}+(?:['’]{_LETTER}+)*")
UNSPACED_SCRIPTS = frozenset({"HAN", "KANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR"})


def strip_noise(text: str) -> str:
    """The message without URLs, e-mails, @mentions, #tags and tokens containing digits."""
    text = unicodedata.normalize("NFKC", text)
    for pattern in (_EMAIL, _URL, _HANDLE, _DIGIT_TOKEN):
        text = pattern.sub(" ", text)
    return text


@dataclass(frozen=True)
class Token:
    """One word of one script; `text` keeps its case (brand names are told by it)."""

    text: str
    script: str

    @property
    def key(self) -> str:
        """Lowercase form for lexicon look-ups (Turkish İ lowercases to a plain i)."""
        return self.text.replace("İ", "i").lower().replace("’", "'")

    @property
    def words(self) -> int:
        """How many words this token is worth: unspaced scripts count two characters a word."""
        return math.ceil(len(self.text) / 2) if self.script in UNSPACED_SCRIPTS else 1


@functools.lru_cache(maxsize=8192)
def script_of(char: str) -> str:
    """Script of one letter, named after its Unicode name ('LATIN', 'HAN', 'KANA'...)."""
    if unicodedata.category(char).startswith("M"):
        return ""  # combining marks belong to the letter before them
    first = unicodedata.name(char, "").split(" ", 1)[0]
    if first in ("CJK", "IDEOGRAPHIC"):
        return "HAN"
    if first in ("HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"):
        return "KANA"
    return first


def tokenize(text: str) -> list[Token]:
    """Letter-only words of an already de-noised text, split where the script changes."""
    return [token for word in _WORD.findall(text) for token in _split_by_script(word)]


def _split_by_script(word: str) -> Iterator[Token]:
    start, current = 0, ""
    for i, char in enumerate(word):
        script = script_of(char) if char not in "'’" else ""
        if script and current and script != current:
            yield Token(word[start:i], current)
            start = i
        current = script or current
    yield Token(word[start:], current or "UNKNOWN")


def count_words(tokens: Iterable[Token]) -> int:
    """Word tokens in a message; see the module docstring for unspaced scripts."""
    return sum(token.words for token in tokens)


def dominant_script(tokens: Iterable[Token]) -> str | None:
    """The script with the most letters; any kana makes Han text Japanese."""
    weights: dict[str, float] = {}
    for token in tokens:
        unspaced = token.script in UNSPACED_SCRIPTS
        weights[token.script] = weights.get(token.script, 0) + len(token.text) * (2 if unspaced else 1)
    if "KANA" in weights and "HAN" in weights:
        weights["KANA"] += weights.pop("HAN")
    return max(weights, key=weights.__getitem__) if weights else None
