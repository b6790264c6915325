"""Every ``:func:`` reference in a docstring of the package names a function that exists: a bare
name is defined or imported in its module, a dotted one in the module it names."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNC = re.compile(r":func:`~?([\w.]+)`")


@cache
def defined(module: Path) -> frozenset[str]:
    """Names a module defines anywhere (functions, methods, classes) or imports or assigns at the top."""
    tree = ast.parse(module.read_text())
    names = {
        n.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return frozenset(names)


def module_file(dotted: str) -> Path | None:
    path = ROOT.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def resolves(reference: str, here: Path) -> bool:
    parts = reference.split(".")
    if len(parts) == 1:
        return parts[0] in defined(here)
    if parts[0] not in ("monitor", "streams"):
        return True  # another package's function: not ours to check
    for split in range(len(parts) - 1, 0, -1):
        module = module_file(".".join(parts[:split]))
        if module is not None:
            return parts[split] in defined(module)
    return False


def test_every_func_reference_names_a_function_that_exists() -> None:
    broken = [
        f"{path.relative_to(ROOT)}: :func:`{reference}`"
        for package in ("monitor", "streams")
        for path in sorted((ROOT / package).rglob("*.py"))
        for reference in FUNC.findall(path.read_text())
        if not resolves(reference, path)
    ]
    assert broken == []
