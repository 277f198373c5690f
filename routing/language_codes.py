"""Language codes: fold the tags callers and detectors use to the ISO 639-1 codes we route on."""

from __future__ import annotations

import re

from core.errors import InvalidLanguage

# Primary subtag of 2-3 letters, then any number of 1-8 character subtags ("zh-Hant-TW").
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")

# Deprecated, macrolanguage-member and ISO 639-2/3 codes that mean one of our ISO 639-1 codes.
_CODE_ALIASES: dict[str, str] = {
    "nb": "no",
    "nn": "no",
    "nob": "no",
    "nno": "no",
    "nor": "no",
    "iw": "he",
    "heb": "he",
    "hbo": "he",
    "in": "id",
    "ind": "id",
    "ji": "yi",
    "yid": "yi",
    "ydd": "yi",
    "jw": "jv",
    "fil": "tl",
    "tgl": "tl",
    "mo": "ro",
    "mol": "ro",
    "ron": "ro",
    "rum": "ro",
    "sh": "sr",
    "srp": "sr",
    "hbs": "sr",
    "zsm": "ms",
    "zlm": "ms",
    "msa": "ms",
    "may": "ms",
    "zho": "zh",
    "chi": "zh",
    "cmn": "zh",
    "yue": "zh",
    "wuu": "zh",
    "hak": "zh",
    "nan": "zh",
    "gan": "zh",
    "hsn": "zh",
    "cjy": "zh",
    "cdo": "zh",
    "ara": "ar",
    "arb": "ar",
    "arz": "ar",
    "ary": "ar",
    "arq": "ar",
    "apc": "ar",
    "ajp": "ar",
    "acm": "ar",
    "afb": "ar",
    "aeb": "ar",
    "ayl": "ar",
    "apd": "ar",
    "fas": "fa",
    "per": "fa",
    "pes": "fa",
    "prs": "fa",
    "eng": "en",
    "spa": "es",
    "fra": "fr",
    "fre": "fr",
    "deu": "de",
    "ger": "de",
    "ita": "it",
    "por": "pt",
    "nld": "nl",
    "dut": "nl",
    "rus": "ru",
    "ukr": "uk",
    "pol": "pl",
    "ces": "cs",
    "cze": "cs",
    "swe": "sv",
    "dan": "da",
    "fin": "fi",
    "tur": "tr",
    "hin": "hi",
    "jpn": "ja",
    "kor": "ko",
    "tha": "th",
    "vie": "vi",
    "ell": "el",
    "gre": "el",
    "grc": "el",
    "hun": "hu",
}


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
