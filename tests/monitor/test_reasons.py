"""Rejection reasons have one home (monitor.contract.reasons): the code raises only those, and the
table of docs/events.md lists exactly those."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from monitor.contract.reasons import REJECTION_REASONS

ROOT = Path(__file__).resolve().parents[2]


def _reason_arguments() -> list[tuple[str, int, ast.expr]]:
    """(file, line, first argument) of every ``InvalidEvent(...)`` and ``Rejection(...)`` call."""
    found = []
    for path in sorted([*(ROOT / "monitor").rglob("*.py"), *(ROOT / "streams").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("InvalidEvent", "Rejection")
                and node.args
            ):
                found.append((str(path.relative_to(ROOT)), node.lineno, node.args[0]))
    return found


def test_the_code_names_reasons_through_the_declared_constants() -> None:
    calls = _reason_arguments()
    assert len(calls) > 30  # the walk found the checks
    literals = [
        (path, line, arg.value)
        for path, line, arg in calls
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    ]
    assert literals == []


def test_the_reasons_table_of_the_docs_lists_every_declared_reason() -> None:
    section = (ROOT / "docs" / "events.md").read_text().split("| reason | when |", 1)[1]
    table = section.split("\n\n", 1)[0]
    documented = re.findall(
        r"`([a-z_0-9]+)`", "\n".join(line.split(" | ")[0] for line in table.splitlines())
    )
    assert sorted(documented) == sorted(REJECTION_REASONS)
