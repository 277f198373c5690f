"""Which language a chat message is written in.

Chat is hard for statistical language identification: messages are short, full of order
numbers, links, emoji and brand names, and customers mix in English commerce words. So the
detector works in steps, each removing a way to be wrong:

1. Strip noise: URLs, e-mail addresses, @mentions, #tags, any token containing a digit
   (order and ticket numbers), then keep only letters (emoji and punctuation go).
2. Script first: the dominant script (English loanwords do not count) narrows the candidates.
   A script one language owns decides on its own, even for one word (Hangul is Korean,
   Bengali is Bengali unless an Assamese letter is in it, Tamil is Tamil, ...). Only when a
   script has several candidate languages do the next steps run, restricted to them.
3. Weigh the candidates with three kinds of evidence, combined like independent experts
   (naive Bayes in log space): py3langid's probability restricted to the candidates (trusted
   more the more words it read), every word of the chat lexicon (routing/lexicon.py), and
   every word with marker letters (ñ, ã, ø, ł, і, پ ...). Brand-shaped tokens (iPhone,
   PlayStation, DHL) are ignored; English loanwords (order, refund) count half a word when
   other words are there to be the customer's own language.
4. Code-mixed messages thus go to the language with the most word evidence: "hola, my order
   no llegó" is Spanish because hola/no/llegó outweigh my + half of order.

`Detection.confidence` is the winner's probability against its strongest rival, and `reliable`
(may the routing rules act on it?) needs 0.75 of it, 0.85 against a close language (da/no/sv,
id/ms, es/pt/gl, ru/uk/be, hr/sr/bs, cs/sk), plus at least one word of evidence that tells the
winner from that rival: a lexicon or marker word the rival lacks, or two words the model read
that are not lexicon words of both. So "ok", "tak" (Polish yes, Danish thanks), "ja tak" (both
words Danish and Polish), "terima kasih" (Indonesian and Malay) or a lone unknown word stay
unreliable and the conversation's, the user's locale or the channel's language is used instead.
Text the model is sure is none of the candidates is unreliable too, and so is a winner the
lexicon chose against the model's clear favourite when the lexicon has no words for that
favourite ("er" is Icelandic as much as Norwegian). Devanagari with nothing that tells Hindi,
Marathi and Nepali apart is taken for Hindi (lexicon.SCRIPT_DEFAULTS).

Romanized Hindi ("mera order kab aayega") is a Latin-script candidate only when Hinglish words
of the lexicon are in the message: py3langid knows Hindi only in Devanagari, so for it the
model is silent and the lexicon alone must outweigh the model's favourite.

`Detection.words` counts word tokens after noise stripping; scripts written without spaces
(Chinese, Japanese, Thai, ...) count one word per two characters, rounded up.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidLanguage
from routing.language_codes import normalize_language_code as normalize_language_code
from routing.lexicon import (
    ALSO_LATIN,
    CLOSE_LANGUAGES,
    LOANWORDS,
    MARKER_CHARS,
    ROMANIZED_WORDS,
    SCRIPT_DEFAULTS,
    SCRIPT_LANGUAGES,
    SCRIPT_OWNERS,
    SHORT_WORDS,
    SIBLING_WORDS,
    UNIVERSAL,
    lexicon_languages,
)
from routing.rules import Detection
from routing.text_tokens import (
    UNSPACED_SCRIPTS,
    Token,
    count_words,
    dominant_script,
    strip_noise,
    tokenize,
)

# Every language py3langid's model knows, folded to ISO 639-1 (its `nn` is `no`, `arz` and `ary`
# are `ar`, `yue` and `wuu` are `zh`; its codes with no ISO 639-1 form are left out), less those no
# customer writes and the model likes to guess for noise: Latin, Esperanto, Volapük, Sanskrit.
# Dzongkha is left to Tibetan (bo), which the Tibetan script decides (lexicon.SCRIPT_OWNERS).
# A unit test checks this list against the model's labels, so a py3langid update cannot drift.
DETECTABLE_LANGUAGES: tuple[str, ...] = (
    "af",
    "am",
    "an",
    "ar",
    "as",
    "az",
    "ba",
    "be",
    "bg",
    "bn",
    "bo",
    "br",
    "bs",
    "ca",
    "cs",
    "cy",
    "da",
    "de",
    "el",
    "en",
    "es",
    "et",
    "eu",
    "fa",
    "fi",
    "fo",
    "fr",
    "fy",
    "ga",
    "gd",
    "gl",
    "gu",
    "ha",
    "he",
    "hi",
    "hr",
    "ht",
    "hu",
    "hy",
    "id",
    "ig",
    "is",
    "it",
    "ja",
    "jv",
    "ka",
    "kk",
    "km",
    "kn",
    "ko",
    "ku",
    "ky",
    "lb",
    "lg",
    "ln",
    "lo",
    "lt",
    "lv",
    "mg",
    "mk",
    "ml",
    "mn",
    "mr",
    "ms",
    "mt",
    "my",
    "ne",
    "nl",
    "no",
    "oc",
    "om",
    "or",
    "pa",
    "pl",
    "ps",
    "pt",
    "qu",
    "ro",
    "ru",
    "rw",
    "se",
    "si",
    "sk",
    "sl",
    "sn",
    "so",
    "sq",
    "sr",
    "st",
    "sv",
    "sw",
    "ta",
    "te",
    "tg",
    "th",
    "tk",
    "tl",
    "tr",
    "tt",
    "ug",
    "uk",
    "ur",
    "uz",
    "vi",
    "wa",
    "xh",
    "yo",
    "zh",
    "zu",
)
NOT_DETECTED: frozenset[str] = frozenset({"la", "eo", "vo", "sa", "dz"})
"""py3langid languages deliberately not detected (see DETECTABLE_LANGUAGES)."""
SCRIPT_ONLY: frozenset[str] = frozenset({"bo"})
"""Detected by their script alone: py3langid has no model of them."""


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
# The model preferring a language the lexicon has no words for by this factor makes the
# lexicon's winner unreliable (see _outvoted_unheard).
UNHEARD_MARGIN = 2.0
UNHEARD_MIN_WORDS = 3  # below this the model reads too little to outvote the lexicon
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
    if len(text) < 2 or token.script in UNSPACED_SCRIPTS:
        return False
    if text.isupper():
        return not shouting
    return any(c.isupper() for c in text[1:])


def _is_shouting(tokens: list[Token]) -> bool:
    """Mostly capitals: then "GRACIAS" or "THX" are words, not acronyms."""
    letters = "".join(t.text for t in tokens if t.script not in UNSPACED_SCRIPTS)
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
    lid_probs: dict[str, float]  # the model's probability per readable candidate (renormalised)
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

    def __init__(self, supported: Collection[str] = DETECTABLE_LANGUAGES) -> None:
        self.supported: tuple[str, ...] = tuple(dict.fromkeys(normalize_language_code(c) for c in supported))
        self._by_script = _candidates_by_script(self.supported)
        self._romanized = frozenset(ROMANIZED_WORDS) & frozenset(self.supported)
        self._lexicon = build_lexicon(self.supported)
        self._markers = build_markers(self.supported)
        self._worded = lexicon_languages()
        self._model: Any = None  # py3langid identifier, loaded on first use (~0.4 s)
        self._labels: dict[str, str] = {}  # model label -> folded code
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------

    def detect(self, text: str) -> Detection:
        """Detect the language of one message; see the module docstring for the steps."""
        tokens = tokenize(strip_noise(text))
        words = count_words(tokens)
        # English loanwords and universal words say nothing of the customer's script:
        # "የ order #K5521 refund መቼ ይመለሳል?" is Amharic however many Latin letters "refund" has.
        script = dominant_script([t for t in tokens if not _borrowed(t)] or tokens)
        candidates = self._by_script.get(script or "", ())
        if not candidates:
            return Detection(None, 0.0, False, words)
        owner = self._owner(script or "", candidates, tokens)
        if owner is not None:  # the script decides, even for one word
            return Detection(owner, 1.0, True, words)
        own = [t for t in tokens if t.script == script or {t.script, script} == {"HAN", "KANA"}]
        lexicon_only = self._romanized if script == "LATIN" else frozenset()
        evidence = self._evidence(own, candidates, lexicon_only)
        if not evidence.candidates:
            return Detection(None, 0.0, False, words)  # only a lexicon-only language could be it
        return self._decide(evidence, words, SCRIPT_DEFAULTS.get(script or ""))

    def _owner(self, script: str, candidates: tuple[str, ...], tokens: list[Token]) -> str | None:
        """The language a script belongs to alone: its only candidate, or its owner unless a
        marker letter of another candidate is in the text."""
        if len(candidates) == 1:
            return candidates[0]
        owner = SCRIPT_OWNERS.get(script)
        if owner not in candidates:
            return None
        others = {char for char, langs in self._markers.items() if langs - {owner}}
        own = (char for token in tokens if token.script == script for char in token.key)
        return None if any(char in others for char in own) else owner

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
        probs, mass = self._model_probs(lid_tokens, tuple(c for c in candidates if c not in lexicon_only))
        model = _tempered(probs, lid_words)
        # The model is silent on a language it cannot read: such a candidate gets the score of
        # the model's favourite, less a handicap, and its lexicon words must make up the rest.
        silent = max(model.values(), default=0.0) - ROMANIZED_HANDICAP
        for language in candidates:
            log_scores[language] += model.get(language, silent)
        letters = sum(len(t.text) for t in content)
        only = lexicon_only & frozenset(candidates)
        return _Evidence(
            candidates, lexicon_hits, marker_hits, log_scores, lid_words, mass, probs, letters, only
        )

    def _model_probs(self, tokens: list[Token], readable: tuple[str, ...]) -> tuple[dict[str, float], float]:
        """The model's probability per readable candidate, and the mass it gave them together."""
        if not count_words(tokens) or not readable:
            return {}, 1.0
        return self._lid_probabilities(" ".join(t.text for t in tokens), readable)

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

    def _decide(self, evidence: _Evidence, words: int, default: str | None = None) -> Detection:
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
            and not _outvoted_unheard(evidence, best, self._worded)
        )
        if not reliable and default is not None and _nothing_against(evidence, default):
            return Detection(
                default, round(_pairwise(scores, default, _strongest_other(scores, default)), 4), True, words
            )
        return Detection(best, round(confidence, 4), reliable, words)


def _borrowed(token: Token) -> bool:
    return token.key in LOANWORDS or token.key in UNIVERSAL


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


def _outvoted_unheard(evidence: _Evidence, best: str, worded: frozenset[str]) -> bool:
    """True when the model clearly prefers a language the lexicon has no words for: the
    winner's lexicon words may be that language's words too ("er" is Icelandic as much as
    Norwegian), so the lexicon cannot overrule the model there."""
    if best in evidence.lexicon_only:
        return False  # (the model cannot read romanized Hindi: its handicap already says so)
    favourite = _clear_favourite(evidence, best)
    return favourite is not None and favourite not in worded


def _nothing_against(evidence: _Evidence, default: str) -> bool:
    """True when no lexicon or marker word leaves the script's default language out and the
    model (if it read enough) does not clearly prefer another candidate."""
    if default not in evidence.candidates:
        return False
    if any(default not in hit.languages for hit in evidence.lexicon_hits + evidence.marker_hits):
        return False
    return _clear_favourite(evidence, default) is None


def _clear_favourite(evidence: _Evidence, language: str) -> str | None:
    """The candidate the model prefers to `language` by UNHEARD_MARGIN, when it read enough
    words to say so; else None."""
    probs = evidence.lid_probs
    if evidence.lid_words < UNHEARD_MIN_WORDS or not probs:
        return None
    favourite = max(probs, key=probs.__getitem__)
    if favourite != language and probs[favourite] > UNHEARD_MARGIN * probs.get(language, 0.0):
        return favourite
    return None


def _strongest_other(scores: dict[str, float], language: str) -> str | None:
    others = [c for c in scores if c != language]
    return max(others, key=scores.__getitem__) if others else None


def _tempered(probs: dict[str, float], words: int) -> dict[str, float]:
    """The model's log-probabilities, trusted more the more words it read."""
    power = min(1.0, words / LID_FULL_WORDS)
    return {language: power * math.log(prob + LID_FLOOR) for language, prob in probs.items()}


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


def routing_detector(table_languages: Collection[str]) -> LanguageDetector:
    """The detector the routing uses: every detectable language and the table's own (a table
    may route a language by a code the model does not know; it is then told by words alone)."""
    return LanguageDetector(sorted(set(DETECTABLE_LANGUAGES) | set(table_languages)))
