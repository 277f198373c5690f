"""Which language a chat message is written in.

Chat is hard for statistical language identification: messages are short, full of order
numbers, links, emoji and brand names, and customers mix in English commerce words. So the
detector works in steps, each removing a way to be wrong:

1. Strip noise: URLs, e-mail addresses, @mentions, #tags, any token containing a digit
   (order and ticket numbers), then keep only letters (emoji and punctuation go).
2. Script first: the dominant script narrows the candidates (Hangul is Korean, kana is
   Japanese, Cyrillic is Russian or Ukrainian, ...). Only when a script has several supported
   languages do the next steps run, restricted to those languages.
3. Weigh the candidates with three kinds of evidence, combined like independent experts
   (naive Bayes in log space): py3langid's probability restricted to the candidates (trusted
   more the more words it read), every word of the chat lexicon (routing/lexicon.py), and
   every word with marker letters (ñ, ã, ø, ł, і, پ ...). Brand-shaped tokens (iPhone,
   PlayStation, DHL) are ignored; English loanwords (order, refund) count half a word when
   other words are there to be the customer's own language.
4. Code-mixed messages thus go to the language with the most word evidence: "hola, my order
   no llegó" is Spanish because hola/no/llegó outweigh my + half of order.

`Detection.confidence` is the winner's probability against its strongest rival, and
`reliable` (may the routing rules act on it?) needs 0.75 of it, 0.85 against a close language
(da/no/sv, id/ms, es/pt, ru/uk), plus at least one word of evidence that tells the winner from
that rival: a lexicon or marker word the rival lacks, or two words the model read that are not
lexicon words of both. So "ok", "tak" (Polish yes, Danish thanks), "ja tak" (both words Danish
and Polish), "terima kasih" (Indonesian and Malay) or a lone unknown word stay unreliable and
the conversation's or the channel's language is used instead. Text the model is sure is an
unsupported language (Swahili, Catalan) is unreliable too.

Romanized Hindi ("mera order kab aayega") is a Latin-script candidate only when Hinglish words
of the lexicon are in the message: py3langid knows Hindi only in Devanagari, so for it the
model is silent and the lexicon alone must outweigh the model's favourite.

`Detection.words` counts word tokens after noise stripping; scripts written without spaces
(Chinese, Japanese, Thai, ...) count one word per two characters, rounded up.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ops.errors import InvalidLanguage
from routing.lexicon import (
    ALSO_LATIN,
    CLOSE_LANGUAGES,
    LOANWORDS,
    MARKER_CHARS,
    ROMANIZED_WORDS,
    SCRIPT_LANGUAGES,
    SHORT_WORDS,
    SIBLING_WORDS,
    UNIVERSAL,
)
from routing.rules import Detection

DEFAULT_SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "en", "zh", "es", "fr", "de", "it", "pt", "nl", "ru", "uk", "pl", "cs", "sv", "da", "no",
    "fi", "tr", "ar", "he", "fa", "hi", "ja", "ko", "th", "vi", "id", "ms", "el", "ro", "hu",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Language codes
# ---------------------------------------------------------------------------------------------

# Primary subtag of 2-3 letters, then any number of 1-8 character subtags ("zh-Hant-TW").
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")

# Deprecated, macrolanguage-member and ISO 639-2/3 codes that mean one of our ISO 639-1 codes.
_CODE_ALIASES: dict[str, str] = {
    "nb": "no", "nn": "no", "nob": "no", "nno": "no", "nor": "no",
    "iw": "he", "heb": "he", "hbo": "he", "in": "id", "ind": "id", "ji": "yi", "yid": "yi",
    "ydd": "yi", "jw": "jv", "fil": "tl", "tgl": "tl", "mo": "ro", "mol": "ro", "ron": "ro",
    "rum": "ro", "sh": "sr", "srp": "sr", "hbs": "sr",
    "zsm": "ms", "zlm": "ms", "msa": "ms", "may": "ms",
    "zho": "zh", "chi": "zh", "cmn": "zh", "yue": "zh", "wuu": "zh", "hak": "zh", "nan": "zh",
    "gan": "zh", "hsn": "zh", "cjy": "zh", "cdo": "zh",
    "ara": "ar", "arb": "ar", "arz": "ar", "ary": "ar", "arq": "ar", "apc": "ar", "ajp": "ar",
    "acm": "ar", "afb": "ar", "aeb": "ar", "ayl": "ar", "apd": "ar",
    "fas": "fa", "per": "fa", "pes": "fa", "prs": "fa",
    "eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "ita": "it",
    "por": "pt", "nld": "nl", "dut": "nl", "rus": "ru", "ukr": "uk", "pol": "pl", "ces": "cs",
    "cze": "cs", "swe": "sv", "dan": "da", "fin": "fi", "tur": "tr", "hin": "hi", "jpn": "ja",
    "kor": "ko", "tha": "th", "vie": "vi", "ell": "el", "gre": "el", "grc": "el", "hun": "hu",
}  # fmt: skip


def normalize_language_code(code: str) -> str:
    """Fold a BCP 47-ish tag to its ISO 639-1 primary language: 'pt-BR' -> 'pt', 'nb' -> 'no'.

    Well-formed codes we do not know ('xh') come back lowercased; the routing table sends
    them to the fallback queue. Anything that is not a language tag raises InvalidLanguage.
    """
    tag = code.strip() if isinstance(code, str) else ""
    if not _TAG.fullmatch(tag):
        raise InvalidLanguage(
            f"not a language code: {code!r}; expected an ISO 639 code such as 'en' "
            "or a BCP 47 tag such as 'pt-BR'"
        )
    primary = re.split(r"[-_]", tag, maxsplit=1)[0].lower()
    return _CODE_ALIASES.get(primary, primary)


# ---------------------------------------------------------------------------------------------
# Noise stripping and tokens
# ---------------------------------------------------------------------------------------------

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
_UNSPACED_SCRIPTS = frozenset({"HAN", "KANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR"})


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
        return math.ceil(len(self.text) / 2) if self.script in _UNSPACED_SCRIPTS else 1


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
        unspaced = token.script in _UNSPACED_SCRIPTS
        weights[token.script] = weights.get(token.script, 0) + len(token.text) * (2 if unspaced else 1)
    if "KANA" in weights and "HAN" in weights:
        weights["KANA"] += weights.pop("HAN")
    return max(weights, key=weights.__getitem__) if weights else None


# ---------------------------------------------------------------------------------------------
# Evidence and scoring
# ---------------------------------------------------------------------------------------------

# The three kinds of evidence are combined like independent experts (naive Bayes in log space):
# the model's probability, raised to a power that grows with the words it saw (py3langid reads
# one word poorly), and a fixed bonus for every word the lexicon or a marker letter ties to a
# language. Words shared by several languages add the same bonus to each, so they cancel out.
LEXICON_BONUS = math.log(10.0)  # a chat-lexicon word makes its languages 10x likelier
MARKER_BONUS = math.log(3.0)  # a word with marker letters makes their languages 3x likelier
LOANWORD_SHARE = 0.5  # English loanwords inside another language count half a word
LID_FULL_WORDS = 4  # from this many words on, the model's probability counts in full
LID_FLOOR = 1e-4  # keeps log() finite; the model never rules a language out entirely
# Reliable needs the winner to be this likely against its strongest rival ...
MIN_CONFIDENCE = 0.75
# ... or this one when the runner-up is a close language (da/no/sv, id/ms, es/pt, ru/uk),
# so that a follow-up does not switch language on a few ambiguous words.
MIN_SIBLING_CONFIDENCE = 0.85
# ... and at least one word of evidence the rival lacks (a lexicon word, or two words for the model).
MIN_EVIDENCE = 1.0
# A language the model cannot read in this script (romanized Hindi) starts this far behind the
# model's favourite: Latin-script chat is rarely Hindi, so one Hinglish-looking word in another
# language ("hai" is Indonesian hello) must not be enough.
ROMANIZED_HANDICAP = LEXICON_BONUS
# The model gives less than this to all candidates together: probably another language.
MIN_CANDIDATE_MASS = 0.1
_PHRASE_LENGTHS = (3, 2, 1)


def build_lexicon(languages: Collection[str]) -> dict[str, frozenset[str]]:
    """Chat word or phrase -> the languages (of `languages`) it belongs to."""
    index: dict[str, set[str]] = {}
    for table in (SHORT_WORDS, SIBLING_WORDS, ROMANIZED_WORDS):
        for language in languages:
            for word in table.get(language, ()):
                index.setdefault(word, set()).add(language)
    return {word: frozenset(langs) for word, langs in index.items() if word not in UNIVERSAL}


def build_markers(languages: Collection[str]) -> dict[str, frozenset[str]]:
    """Marker letter -> the languages (of `languages`) that use it."""
    index: dict[str, set[str]] = {}
    for language in languages:
        for char in MARKER_CHARS.get(language, ()):
            index.setdefault(char, set()).add(language)
    return {char: frozenset(langs) for char, langs in index.items()}


def is_brand(token: Token, shouting: bool) -> bool:
    """iPhone, PlayStation, eBay (inner capitals) or DHL, USB (acronyms, unless all caps)."""
    text = token.text
    if len(text) < 2 or token.script in _UNSPACED_SCRIPTS:
        return False
    if text.isupper():
        return not shouting
    return any(c.isupper() for c in text[1:])


def _is_shouting(tokens: list[Token]) -> bool:
    """Mostly capitals: then "GRACIAS" or "THX" are words, not acronyms."""
    letters = "".join(t.text for t in tokens if t.script not in _UNSPACED_SCRIPTS)
    return bool(letters) and sum(c.isupper() for c in letters) >= 0.6 * len(letters)


@dataclass(frozen=True)
class _Hit:
    """One lexicon entry or marker word found in a message."""

    languages: frozenset[str]  # the candidates it is evidence for
    weight: float  # words it is worth (a loanword among native words counts half)
    words: int  # words of the message it covers


@dataclass
class _Evidence:
    """What one message says about each candidate language."""

    candidates: tuple[str, ...]  # the script's candidates, less lexicon-only ones without words
    lexicon_hits: list[_Hit]
    marker_hits: list[_Hit]
    log_scores: dict[str, float]  # unnormalised log-probability per candidate
    lid_words: int  # words the model read
    lid_mass: float  # the model's probability for all candidates together
    letters: int  # letters of the words that count (not brands)
    lexicon_only: frozenset[str]  # candidates the model cannot read (romanized Hindi)

    @property
    def lexicon(self) -> dict[str, float]:
        """Lexicon words per language."""
        return _totals(self.lexicon_hits)

    @property
    def markers(self) -> dict[str, float]:
        """Words with marker letters per language."""
        return _totals(self.marker_hits)


class LanguageDetector:
    """Detects the language of chat messages among `supported` languages (ISO 639-1)."""

    def __init__(self, supported: Collection[str] = DEFAULT_SUPPORTED_LANGUAGES) -> None:
        self.supported: tuple[str, ...] = tuple(dict.fromkeys(normalize_language_code(c) for c in supported))
        self._by_script = _candidates_by_script(self.supported)
        self._romanized = frozenset(ROMANIZED_WORDS) & frozenset(self.supported)
        self._lexicon = build_lexicon(self.supported)
        self._markers = build_markers(self.supported)
        self._model: Any = None  # py3langid identifier, loaded on first use (~0.4 s)
        self._labels: dict[str, str] = {}  # model label -> folded code
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------

    def detect(self, text: str) -> Detection:
        """Detect the language of one message; see the module docstring for the steps."""
        tokens = tokenize(strip_noise(text))
        words = count_words(tokens)
        script = dominant_script(tokens)
        candidates = self._by_script.get(script or "", ())
        if not candidates:
            return Detection(None, 0.0, False, words)
        own = [t for t in tokens if t.script == script or {t.script, script} == {"HAN", "KANA"}]
        lexicon_only = self._romanized if script == "LATIN" else frozenset()
        evidence = self._evidence(own, candidates, lexicon_only)
        if not evidence.candidates:
            return Detection(None, 0.0, False, words)  # only a lexicon-only language could be it
        return self._decide(evidence, words)

    def warm_up(self) -> None:
        """Load the model now rather than on the first message."""
        self._identifier()

    # -- evidence -----------------------------------------------------------------------------

    def _evidence(
        self, tokens: list[Token], candidates: tuple[str, ...], lexicon_only: frozenset[str]
    ) -> _Evidence:
        shouting = _is_shouting(tokens)
        content = [t for t in tokens if not is_brand(t, shouting)]
        lexicon_hits = self._lexicon_hits(content, candidates)
        # A language the model cannot read is a candidate only on words of its own.
        worded = frozenset(language for hit in lexicon_hits for language in hit.languages)
        candidates = tuple(c for c in candidates if c not in lexicon_only or c in worded)
        marker_hits = self._marker_hits(content, candidates)
        log_scores = dict.fromkeys(candidates, 0.0)
        _add_scaled(log_scores, _totals(lexicon_hits), LEXICON_BONUS)
        _add_scaled(log_scores, _totals(marker_hits), MARKER_BONUS)
        lid_tokens = self._lid_tokens(content)
        lid_words = count_words(lid_tokens)
        model, mass = self._model_scores(lid_tokens, tuple(c for c in candidates if c not in lexicon_only))
        # The model is silent on a language it cannot read: such a candidate gets the score of
        # the model's favourite, less a handicap, and its lexicon words must make up the rest.
        silent = max(model.values(), default=0.0) - ROMANIZED_HANDICAP
        for language in candidates:
            log_scores[language] += model.get(language, silent)
        letters = sum(len(t.text) for t in content)
        only = lexicon_only & frozenset(candidates)
        return _Evidence(candidates, lexicon_hits, marker_hits, log_scores, lid_words, mass, letters, only)

    def _model_scores(self, tokens: list[Token], readable: tuple[str, ...]) -> tuple[dict[str, float], float]:
        """The model's log-probability per readable candidate, tempered by the words it read,
        and the probability mass it gave the candidates together."""
        words = count_words(tokens)
        if not words or not readable:
            return {}, 1.0
        probs, mass = self._lid_probabilities(" ".join(t.text for t in tokens), readable)
        power = min(1.0, words / LID_FULL_WORDS)
        return {language: power * math.log(prob + LID_FLOOR) for language, prob in probs.items()}, mass

    def _lexicon_hits(self, tokens: list[Token], candidates: tuple[str, ...]) -> list[_Hit]:
        """Chat-lexicon entries in the message and their candidates (a phrase counts its words)."""
        hits: list[_Hit] = []
        # Loanwords only count less when other words could be the customer's own language.
        borrowed = any(t.key not in LOANWORDS and t.key not in UNIVERSAL for t in tokens)
        allowed = frozenset(candidates)
        for phrase in _phrases(tokens, self._lexicon):
            languages = self._lexicon[phrase] & allowed
            words = phrase.count(" ") + 1
            share = LOANWORD_SHARE if borrowed and phrase in LOANWORDS else 1.0
            if languages:
                hits.append(_Hit(languages, share * words, words))
        return hits

    def _marker_hits(self, tokens: list[Token], candidates: tuple[str, ...]) -> list[_Hit]:
        """Words with marker letters, for the languages all the word's markers share."""
        hits: list[_Hit] = []
        allowed = frozenset(candidates)
        for token in tokens:
            sets = [self._markers[c] & allowed for c in token.key if c in self._markers]
            sets = [s for s in sets if s]
            if sets:
                hits.append(_Hit(frozenset.intersection(*sets) or frozenset.union(*sets), 1.0, 1))
        return hits

    def _lid_tokens(self, tokens: list[Token]) -> list[Token]:
        """What the model reads: no universal words, and no loanwords if anything else is left."""
        words = [t for t in tokens if t.key not in UNIVERSAL]
        native = [t for t in words if t.key not in LOANWORDS]
        return native if native else words

    # -- the model ----------------------------------------------------------------------------

    def _identifier(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:  # several threads may detect before the model is loaded
            if self._model is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                self._labels = _fold_labels(model.labels)
                self._model = model
        return self._model

    def _lid_probabilities(self, text: str, candidates: tuple[str, ...]) -> tuple[dict[str, float], float]:
        """Model probabilities renormalised over the candidates, and the mass they had."""
        ranked = self._identifier().rank(text)
        probs = dict.fromkeys(candidates, 0.0)
        for label, prob in ranked:
            folded = self._labels.get(label)
            # The best of a language's labels, not their sum: py3langid has two Norwegians
            # (no, nn) and three Arabics, and summing would give them two or three votes each
            # against a sibling with one (Danish, Swedish).
            if folded in probs:
                probs[folded] = max(probs[folded], prob)
        mass = sum(probs.values())
        if mass <= 0:
            return {c: 1.0 / len(candidates) for c in candidates}, 0.0
        return {c: p / mass for c, p in probs.items()}, mass

    # -- decision -----------------------------------------------------------------------------

    def _decide(self, evidence: _Evidence, words: int) -> Detection:
        if not (evidence.lid_words or evidence.lexicon_hits or evidence.marker_hits):
            return Detection(None, 0.0, False, words)  # only universal words ("ok", "hello")
        scores = evidence.log_scores
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)
        best, runner_up = ranked[0], ranked[1] if len(ranked) > 1 else None
        confidence = _pairwise(scores, best, runner_up)
        needed = MIN_SIBLING_CONFIDENCE if _close(best, runner_up) else MIN_CONFIDENCE
        reliable = (
            confidence >= needed
            and _own_evidence(evidence, best, runner_up) >= MIN_EVIDENCE
            and not _foreign(evidence, best)
        )
        return Detection(best, round(confidence, 4), reliable, words)


def _own_evidence(evidence: _Evidence, best: str, runner_up: str | None) -> float:
    """Words that tell the winner from its runner-up: lexicon and marker words the runner-up
    lacks, plus half the words the model read (so the model alone needs two), or half the
    letters when the script decides.

    Words both have in the lexicon do not count, and neither does the model reading them: for
    "ja tak" (both words Danish and Polish) the model's pick between the two is a guess."""
    own = sum(
        hit.weight
        for hit in evidence.lexicon_hits + evidence.marker_hits
        if best in hit.languages and runner_up not in hit.languages
    )
    if runner_up is None:  # the script decides
        return own + evidence.letters / 2
    if best in evidence.lexicon_only:
        return own  # the model cannot read it, so it vouches for nothing
    shared = sum(hit.words for hit in evidence.lexicon_hits if {best, runner_up} <= hit.languages)
    return own + max(0, evidence.lid_words - shared) / 2


def _foreign(evidence: _Evidence, best: str) -> bool:
    """True when the model is sure the text is a language we do not support (Swahili,
    Catalan, Tagalog, Slovak...) and our lexicon has little to say against it."""
    # Lexicon words for the winner in at least half the message outvote the model: Spanish
    # with a Galician-looking spelling is still Spanish, Catalan with "hola" in it is not.
    # Marker letters do not count here: Slovak has the Czech ones.
    if evidence.lid_words < 3 or evidence.lexicon.get(best, 0.0) >= evidence.lid_words / 2:
        return False
    return evidence.lid_mass < MIN_CANDIDATE_MASS


def _pairwise(log_scores: dict[str, float], best: str, runner_up: str | None) -> float:
    """The winner's probability against its strongest rival alone. Not against all of them:
    with 19 Latin-script candidates, a one-word message leaves each loser a little mass
    that adds up without making any of them a real alternative."""
    if runner_up is None:
        return 1.0
    return 1.0 / (1.0 + math.exp(log_scores[runner_up] - log_scores[best]))


def _close(language: str, other: str | None) -> bool:
    return other is not None and any({language, other} <= group for group in CLOSE_LANGUAGES)


def _totals(hits: Iterable[_Hit]) -> dict[str, float]:
    """Words per language over some hits."""
    totals: dict[str, float] = {}
    for hit in hits:
        for language in hit.languages:
            totals[language] = totals.get(language, 0.0) + hit.weight
    return totals


def _add_scaled(target: dict[str, float], source: dict[str, float], weight: float) -> None:
    for language, value in source.items():
        target[language] = target.get(language, 0.0) + value * weight


def _phrases(tokens: list[Token], lexicon: Collection[str]) -> Iterator[str]:
    """Lexicon entries found in the tokens, longest first, each word used once."""
    keys = [t.key for t in tokens]
    i = 0
    while i < len(keys):
        for length in _PHRASE_LENGTHS:
            phrase = " ".join(keys[i : i + length])
            if i + length <= len(keys) and phrase in lexicon:
                yield phrase
                i += length
                break
        else:
            i += 1


def _fold_labels(labels: Iterable[str]) -> dict[str, str]:
    """Model labels folded like our codes ('nn' -> 'no', 'yue' -> 'zh', 'arz' -> 'ar')."""
    folded: dict[str, str] = {}
    for label in labels:
        try:
            folded[label] = normalize_language_code(label)
        except InvalidLanguage:
            continue  # every label is a code today; a malformed one is simply not ours
    return folded


def _candidates_by_script(supported: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Script -> supported languages written in it; Han is Chinese when Chinese is supported."""
    by_script: dict[str, list[str]] = {}
    for language in supported:
        scripts = [s for s, langs in SCRIPT_LANGUAGES.items() if language in langs]
        # Romanized languages are Latin candidates too, but only on lexicon words (see detect).
        if not scripts or language in ALSO_LATIN or language in ROMANIZED_WORDS:
            scripts.append("LATIN")
        for script in scripts:
            by_script.setdefault(script, []).append(language)
    if "zh" in by_script.get("HAN", []):
        by_script["HAN"] = ["zh"]
    return {script: tuple(langs) for script, langs in by_script.items()}
