"""`babelq routes`: the effective routing table; `babelq routes check FILE`, every problem of a
table file at once; and `babelq routes eval FILE.jsonl`, how often detection plus the routing
rules answer a labelled set of messages in the right language."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from core.errors import BabelqError
from core.settings import load_settings
from ops.bench.language_accuracy import AccuracyReport, format_report, load_cases, measure

routes_app = typer.Typer(help="The routing table: languages → queues → profiles.")
WIDEST_TABLE = 12  # a confusion table wider than this is listed as pairs instead


@routes_app.callback(invoke_without_command=True)
def routes(context: typer.Context) -> None:
    """Print the effective routing table (languages → queues → profiles)."""
    if context.invoked_subcommand is None:
        from routing.table import load_table

        table = load_table(load_settings().routes_file)
        typer.echo(json.dumps(table.describe(), indent=2, ensure_ascii=False))


@routes_app.command("check")
def check(table_file: Annotated[Path, typer.Argument(help="A routing table (YAML) to check.")]) -> None:
    """Check a routing table file as a worker or the API would at start-up: every problem, each at
    its key's path, and exit 2; or a one-line summary and exit 0."""
    from routing.table import load_table

    try:
        table = load_table(table_file)
    except BabelqError as exc:
        _fail(exc)
    typer.echo(
        f"{table_file}: ok: {len(table.languages)} languages, {len(table.queue_names)} queues, "
        f"{len(table.profiles)} profiles"
    )


@routes_app.command("eval")
def evaluate(
    cases: Annotated[Path, typer.Argument(help="JSONL: {text, expected, kind, ...} a line.")],
    out: Annotated[Path | None, typer.Option(help="Also write the report as JSON here.")] = None,
    misses: Annotated[bool, typer.Option(help="List every case answered in the wrong language.")] = False,
) -> None:
    """Accuracy per language and a confusion table for a labelled file, through the same
    detector and rules as the API (the languages of BABELQ_ROUTES_FILE and every detectable one)."""
    from routing.language import routing_detector
    from routing.table import load_table

    try:
        detector = routing_detector(load_table(load_settings().routes_file).languages)
        loaded = load_cases(cases)
    except (BabelqError, OSError, UnicodeDecodeError) as exc:
        _fail(exc)
    detector.detect("warm up")  # loads py3langid's model (~0.4 s): not a case's cost
    started = time.perf_counter()
    report = measure(detector, loaded)
    per_case_us = (time.perf_counter() - started) / max(1, len(loaded)) * 1e6
    typer.echo("\n".join(_summary(report, misses)))
    typer.echo(f"\ndetection and rules: {per_case_us:.0f} µs a case (one thread)")
    if out is not None:
        _write(out, report_data(report) | {"microseconds_per_case": round(per_case_us, 1)})


def _write(out: Path, data: dict[str, object]) -> None:
    try:
        out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        _fail(exc)


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2) from exc


def _summary(report: AccuracyReport, with_misses: bool) -> list[str]:
    text = format_report(report).splitlines()
    lines = [*text[:2], "", *per_language_table(report), "", *confusion_lines(report)]
    return lines + (["", *text[3:]] if with_misses else [])


def per_language_table(report: AccuracyReport) -> list[str]:
    """One row a language: cases, right answers, accuracy."""
    rows = ["language  cases  right  accuracy"]
    for language, accuracy in sorted(report.by_language.items()):
        cases = report.cases_of(language)
        rows.append(f"{language:<8}  {cases:>5}  {round(accuracy * cases):>5}  {accuracy:>8.3f}")
    return rows


def confusion_lines(report: AccuracyReport) -> list[str]:
    """The languages answered wrongly, as a table (expected down, answered across), or as
    pairs when too many languages are involved for a table to read."""
    wrong = {pair: n for pair, n in report.confusion().items() if pair[0] != pair[1]}
    if not wrong:
        return ["confusions: none"]
    expected = sorted({e for e, _ in wrong})
    answered = sorted({g for _, g in wrong})
    if len(answered) > WIDEST_TABLE:
        pairs = sorted(wrong.items(), key=lambda item: (-item[1], item[0]))
        return ["confusions (expected → answered: cases):", *(f"  {e} → {g}: {n}" for (e, g), n in pairs)]
    header = "expected \\ answered  " + "  ".join(f"{g:>4}" for g in answered)
    rows = [f"{e:<19}  " + "  ".join(f"{wrong.get((e, g), 0) or '.':>4}" for g in answered) for e in expected]
    return ["confusions:", header, *rows]


def report_data(report: AccuracyReport) -> dict[str, object]:
    """The report as plain data (what --out writes)."""
    confusion = sorted(report.confusion().items())
    return {
        "total": report.total,
        "correct": report.correct,
        "accuracy": report.accuracy,
        "by_kind": report.by_kind,
        "by_language": report.by_language,
        "confusion": [{"expected": e, "answered": g, "cases": n} for (e, g), n in confusion],
        "misses": [
            {"text": m.text, "expected": m.expected, "answered": m.got, "kind": m.kind} for m in report.misses
        ],
    }
