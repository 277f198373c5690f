"""The shape every function keeps: at most 45 lines, at most 5 positional parameters.

A function a reader cannot see whole on one screen hides its steps; one called with six values in
a row invites swapping two of them unnoticed. Keyword-only parameters (after `*`) name themselves
at every call, so they do not count. Typer commands are exempt: their parameters are the
command's options, each declared with its help text, and Typer itself names them on the command
line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "routing", "persistence", "transport", "producers", "workers", "ops")
MAX_LINES = 45
MAX_POSITIONAL = 5
Function = ast.FunctionDef | ast.AsyncFunctionDef


def _functions() -> Iterator[tuple[str, Function]]:
    """(file:line name, the function) for every function and method outside Typer commands."""
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, Function) and not _is_typer_command(node):
                    yield f"{path.relative_to(REPO)}:{node.lineno} {node.name}", node


def _is_typer_command(function: Function) -> bool:
    """Decorated `@app.command(...)` or `@app.callback(...)`."""
    return any(
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in ("command", "callback")
        for decorator in function.decorator_list
    )


def _positional(function: Function) -> list[str]:
    """The positional parameters a caller must pass in order; `self` and `cls` are given."""
    names = [arg.arg for arg in (*function.args.posonlyargs, *function.args.args)]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def test_no_function_is_longer_than_45_lines() -> None:
    # given every function of the packages, when measured from `def` to its last line
    too_long = [
        f"{where} ({function.end_lineno - function.lineno + 1} lines)"
        for where, function in _functions()
        if function.end_lineno is not None and function.end_lineno - function.lineno + 1 > MAX_LINES
    ]
    # expect none over the limit
    assert not too_long, f"functions over {MAX_LINES} lines:\n" + "\n".join(too_long)


def test_no_function_takes_more_than_5_positional_parameters() -> None:
    # given every function of the packages, when its positional parameters are counted
    too_many = [
        f"{where} ({len(names)} positional: {', '.join(names)})"
        for where, function in _functions()
        if len(names := _positional(function)) > MAX_POSITIONAL
    ]
    # expect none over the limit: the rest can be keyword-only
    assert not too_many, f"functions with over {MAX_POSITIONAL} positional parameters:\n" + "\n".join(
        too_many
    )
