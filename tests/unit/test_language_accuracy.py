"""Accuracy of detection + routing rules on the multilingual chat test sets in tests/data/.

language_cases.jsonl is what the detector was tuned on; language_holdout.jsonl was written
after tuning and measured once, so its bound is softer. language_independent.jsonl was written
by an independent reviewer and is never used to choose lexicon words.
"""

from collections import Counter
from pathlib import Path

import pytest

from core.errors import InvalidInput
from ops.bench.language_accuracy import KINDS, format_report, load_cases, measure
from routing.language import DETECTABLE_LANGUAGES

DATA = Path(__file__).resolve().parents[1] / "data"
CASES = DATA / "language_cases.jsonl"
HOLDOUT = DATA / "language_holdout.jsonl"
INDEPENDENT = DATA / "language_independent.jsonl"


@pytest.fixture(scope="module")
def cases():
    return load_cases(CASES)


# -- the data set cannot silently shrink ------------------------------------------------------


def test_test_set_is_large_and_covers_most_languages(cases):
    assert len(cases) >= 220
    assert len({c.expected for c in cases}) >= 25


def test_test_set_is_at_least_a_third_short_or_ambiguous(cases):
    hard = [c for c in cases if c.kind in {"short", "mixed", "product"}]
    assert len(hard) * 3 >= len(cases)


def test_test_set_has_forty_follow_ups_each_with_its_conversation(cases):
    follow_ups = [c for c in cases if c.kind == "followup"]
    assert len(follow_ups) >= 40
    assert all(c.conversation_language for c in follow_ups)


def test_every_case_names_supported_languages_and_a_known_kind(cases):
    supported = set(DETECTABLE_LANGUAGES)
    for case in cases:
        assert case.kind in KINDS
        assert case.expected in supported, case
        assert case.channel_default in supported, case
        assert case.conversation_language in supported | {None}, case


def test_test_set_has_no_duplicate_cases(cases):
    keys = Counter((c.text, c.conversation_language, c.channel_default) for c in cases)
    assert [k for k, n in keys.items() if n > 1] == []


# -- accuracy ---------------------------------------------------------------------------------


def test_overall_accuracy_is_at_least_95_percent(detector, cases):
    report = measure(detector, cases)
    assert report.accuracy >= 0.95, format_report(report)


def test_follow_ups_are_always_answered_in_the_right_language(detector, cases):
    report = measure(detector, cases)
    assert report.followup_accuracy == 1.0, format_report(report)


def test_held_out_messages_generalise(detector):
    # given messages written after the detector was tuned
    holdout = load_cases(HOLDOUT)
    assert len(holdout) >= 40
    # when they are measured, expect most of them right (honestly measured once: see report)
    report = measure(detector, holdout)
    assert report.accuracy >= 0.85, format_report(report)


def test_independently_written_messages_stay_at_95_percent(detector):
    # given messages an independent reviewer wrote to find the detector's weaknesses
    independent = load_cases(INDEPENDENT)
    assert len(independent) >= 200
    # when they are measured, expect 95% right; a failure lists every miss
    report = measure(detector, independent)
    assert report.accuracy >= 0.95, format_report(report)


# -- the report and loader themselves ---------------------------------------------------------


def test_report_counts_misses_per_kind_and_language(detector, tmp_path):
    # given one right and one wrong expectation
    path = tmp_path / "cases.jsonl"
    path.write_text(
        '{"text": "gracias", "expected": "es", "kind": "short", "conversation_language": null,'
        ' "channel_default": "en"}\n'
        '{"text": "merci", "expected": "de", "kind": "short", "conversation_language": null,'
        ' "channel_default": "en"}\n',
        encoding="utf-8",
    )
    # when measured
    report = measure(detector, load_cases(path))
    # expect half right, and the miss listed with what was chosen
    assert (report.total, report.correct, report.accuracy) == (2, 1, 0.5)
    assert report.by_kind == {"short": 0.5}
    assert report.by_language == {"de": 0.0, "es": 1.0}
    assert [(m.text, m.expected, m.got) for m in report.misses] == [("merci", "de", "fr")]
    assert "MISS [short] expected de got fr" in format_report(report)


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '{"text": "hi", "kind": "short", "channel_default": "en"}',
        '{"text": "hi", "expected": "en", "kind": "chat", "channel_default": "en"}',
    ],
)
def test_malformed_case_lines_are_refused_with_their_line_number(tmp_path, line):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 2"):
        load_cases(path)
