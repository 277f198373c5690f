"""How often detection plus the routing rules answer a customer in the right language.

A test set is JSONL, one case a line:
``{"text": ..., "expected": "sv", "kind": "short", "conversation_language": null,
"channel_default": "en"}``. `expected` is the language a careful human router would answer in,
so a case checks `choose_language(detect(text), ...)`, not the detector alone.

    babelq routes eval tests/data/language_cases.jsonl
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.errors import InvalidInput
from routing.rules import Detection, choose_language

KINDS = frozenset({"sentence", "short", "mixed", "product", "followup"})


class Detector(Protocol):
    """Anything that detects a language; LanguageDetector is the one we ship."""

    def detect(self, text: str) -> Detection: ...


@dataclass(frozen=True)
class LanguageCase:
    """One message and the language it should be answered in."""

    text: str
    expected: str
    kind: str
    conversation_language: str | None
    channel_default: str


@dataclass(frozen=True)
class Miss:
    """A case answered in the wrong language, with what the detector saw."""

    text: str
    expected: str
    got: str
    kind: str
    detection: Detection


@dataclass(frozen=True)
class AccuracyReport:
    """Accuracy overall, per kind of case and per expected language."""

    total: int
    correct: int
    accuracy: float
    by_kind: dict[str, float]
    followup_accuracy: float
    by_language: dict[str, float]
    misses: list[Miss] = field(default_factory=list)
    answered: list[tuple[str, str]] = field(default_factory=list)  # (expected, got) of every case

    def confusion(self) -> dict[tuple[str, str], int]:
        """How many cases of each expected language were answered in each language."""
        return dict(Counter(self.answered))

    def cases_of(self, language: str) -> int:
        return sum(expected == language for expected, _ in self.answered)


def load_cases(path: str | Path) -> list[LanguageCase]:
    """Read a JSONL test set; a malformed line raises InvalidInput naming its line number."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [_parse_case(line, n) for n, line in enumerate(lines, start=1) if line.strip()]


def _parse_case(line: str, number: int) -> LanguageCase:
    try:
        data: Any = json.loads(line)
        case = LanguageCase(
            text=str(data["text"]),
            expected=str(data["expected"]),
            kind=str(data["kind"]),
            conversation_language=data.get("conversation_language"),
            channel_default=str(data["channel_default"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"test set line {number}: {exc!r}") from exc
    if case.kind not in KINDS:
        raise InvalidInput(f"test set line {number}: unknown kind {case.kind!r}")
    return case


def answer_language(detector: Detector, case: LanguageCase) -> tuple[str, Detection]:
    """The language the rules pick for a case (no explicit language), and the detection."""
    detection = detector.detect(case.text)
    choice = choose_language(
        detection,
        explicit=None,
        conversation_language=case.conversation_language,
        channel_default=case.channel_default,
    )
    return choice.language, detection


def measure(detector: Detector, cases: Sequence[LanguageCase]) -> AccuracyReport:
    """Run every case through detection and the rules and count the right answers."""
    results: list[tuple[LanguageCase, bool]] = []
    answers: list[tuple[LanguageCase, str]] = []
    misses: list[Miss] = []
    for case in cases:
        got, detection = answer_language(detector, case)
        results.append((case, got == case.expected))
        answers.append((case, got))
        if got != case.expected:
            misses.append(Miss(case.text, case.expected, got, case.kind, detection))
    correct = sum(ok for _, ok in results)
    by_kind = _accuracy_by(results, lambda c: c.kind)
    return AccuracyReport(
        total=len(results),
        correct=correct,
        accuracy=_ratio(correct, len(results)),
        by_kind=by_kind,
        followup_accuracy=by_kind.get("followup", 1.0),
        by_language=_accuracy_by(results, lambda c: c.expected),
        misses=misses,
        answered=[(case.expected, got) for case, got in answers],
    )


def _accuracy_by(results: Iterable[tuple[LanguageCase, bool]], key: Any) -> dict[str, float]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, ok in results:
        counts[key(case)][0] += ok
        counts[key(case)][1] += 1
    return {k: _ratio(good, total) for k, (good, total) in sorted(counts.items())}


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def format_report(report: AccuracyReport) -> str:
    """A plain-text report: totals, per kind, weakest languages, then every miss."""
    lines = [
        f"accuracy {report.accuracy:.3f} ({report.correct}/{report.total}), "
        f"follow-ups {report.followup_accuracy:.3f}",
        "by kind: " + ", ".join(f"{k} {v:.3f}" for k, v in report.by_kind.items()),
    ]
    weak = {k: v for k, v in report.by_language.items() if v < 1.0}
    lines.append(
        "languages below 1.0: "
        + (", ".join(f"{k} {v:.2f}" for k, v in sorted(weak.items(), key=lambda kv: kv[1])) or "none")
    )
    for miss in report.misses:
        d = miss.detection
        lines.append(
            f"MISS [{miss.kind}] expected {miss.expected} got {miss.got} "
            f"(detected {d.language} conf {d.confidence:.2f} reliable {d.reliable} "
            f"words {d.words}): {miss.text}"
        )
    return "\n".join(lines)
