"""`babelq routes eval`: accuracy per language and a confusion table for a labelled file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ops.cli import app


def _cases(path: Path, *cases: tuple[str, str]) -> Path:
    lines = [
        json.dumps(
            {
                "text": text,
                "expected": expected,
                "kind": "sentence",
                "conversation_language": None,
                "channel_default": "en",
            },
            ensure_ascii=False,
        )
        for text, expected in cases
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_eval_reports_each_language_and_what_it_was_confused_with(tmp_path: Path):
    cases = _cases(
        tmp_path / "cases.jsonl",
        ("Habari, oda yangu bado haijafika, naomba msaada", "sw"),
        ("ধন্যবাদ", "bn"),
        ("Hola, ¿dónde está mi pedido? Llevo dos semanas esperando.", "es"),
        ("Hola, ¿dónde está mi pedido? Llevo dos semanas esperando!", "pt"),  # labelled wrong on purpose
    )
    result = CliRunner().invoke(app, ["routes", "eval", str(cases), "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "accuracy 0.750 (3/4)" in result.output
    assert any(line.split() == ["sw", "1", "1", "1.000"] for line in result.output.splitlines())
    lines = result.output.splitlines()
    header = lines.index("confusions:") + 1
    assert lines[header].split()[-1] == "es" and lines[header + 1].split() == ["pt", "1"]  # the table
    written = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert {"expected": "pt", "answered": "es", "cases": 1} in written["confusion"]
    assert written["misses"][0]["answered"] == "es"
    assert written["microseconds_per_case"] > 0 and "µs a case" in result.output


def test_eval_refuses_a_malformed_file_with_its_line(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["routes", "eval", str(bad)])
    assert result.exit_code == 2 and "line 1" in result.output


def test_routes_alone_still_prints_the_table():
    result = CliRunner().invoke(app, ["routes"])
    assert result.exit_code == 0
    table = json.loads(result.output)
    assert len(table["languages"]) >= 50 and table["fallback_queue"] == "chat.default"
