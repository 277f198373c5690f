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
# ASCII handles only: in "#J30214のtrackingが更新されません" the Japanese after the order
# number is the customer's own text, which \w (it matches every script) would take along.
_HANDLE = re.compile(r"[@#][A-Za-z0-9_.]+")
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
    # Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam, Sinhala (their vowel
    # signs), Lao, Tibetan, Myanmar, Khmer, Ethiopic and Syriac: every combining mark of the block.
    "\u0981-\u0983\u09bc\u09be-\u09c4\u09c7-\u09c8\u09cb-\u09cd\u09d7\u09e2-\u09e3\u09fe"
    "\u0a01-\u0a03\u0a3c\u0a3e-\u0a42\u0a47-\u0a48\u0a4b-\u0a4d\u0a51\u0a70-\u0a71\u0a75"
    "\u0a81-\u0a83\u0abc\u0abe-\u0ac5\u0ac7-\u0ac9\u0acb-\u0acd\u0ae2-\u0ae3\u0afa-\u0aff"
    "\u0b01-\u0b03\u0b3c\u0b3e-\u0b44\u0b47-\u0b48\u0b4b-\u0b4d\u0b55-\u0b57\u0b62-\u0b63"
    "\u0b82\u0bbe-\u0bc2\u0bc6-\u0bc8\u0bca-\u0bcd\u0bd7\u0c00-\u0c04\u0c3c\u0c3e-\u0c44"
    "\u0c46-\u0c48\u0c4a-\u0c4d\u0c55-\u0c56\u0c62-\u0c63\u0c81-\u0c83\u0cbc\u0cbe-\u0cc4"
    "\u0cc6-\u0cc8\u0cca-\u0ccd\u0cd5-\u0cd6\u0ce2-\u0ce3\u0d00-\u0d03\u0d3b-\u0d3c"
    "\u0d3e-\u0d44\u0d46-\u0d48\u0d4a-\u0d4d\u0d57\u0d62-\u0d63\u0d81-\u0d83\u0dca"
    "\u0dcf-\u0dd4\u0dd6\u0dd8-\u0ddf\u0df2-\u0df3\u0eb1\u0eb4-\u0ebc\u0ec8-\u0ecd"
    "\u0f18-\u0f19\u0f35\u0f37\u0f39\u0f3e-\u0f3f\u0f71-\u0f84\u0f86-\u0f87\u0f8d-\u0f97"
    "\u0f99-\u0fbc\u0fc6\u102b-\u103e\u1056-\u1059\u105e-\u1060\u1062-\u1064\u1067-\u106d"
    "\u1071-\u1074\u1082-\u108d\u108f\u109a-\u109d\u17b4-\u17d3\u17dd\u135d-\u135f"
    "\u0730-\u074a"
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
