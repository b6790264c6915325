"""What a process pays at import for the detectors: the event path and the CLI tools that read the
store load no river, and a worker loads scipy.stats (a second of CPU, used by KSWIN only) when KSWIN
first tests a window, not when it starts (nor when Faust registers its agents)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded_after(code: str) -> list[str]:
    """Which of river.drift and a run scipy.stats the statements leave loaded (a fresh interpreter)."""
    probe = (
        f"{code}\nimport sys\n"
        "s = sys.modules.get('scipy.stats')\n"
        "print('river.drift' in sys.modules, s is not None and type(s).__name__ == 'module')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.split()


@pytest.mark.parametrize(
    "module", ["monitor.folding.pipeline", "monitor.adapters.reader", "monitor.outcomes.join"]
)
def test_the_event_path_and_the_store_readers_load_no_river(module: str) -> None:
    assert loaded_after(f"import {module}") == ["False", "False"]


def test_the_worker_runs_scipy_stats_only_once_kswin_tests_a_window() -> None:
    assert loaded_after("import streams.app") == ["True", "False"]
    kswin_fed = (
        "import numpy as np\n"
        "from monitor.detectors.concept import ConceptDriftMonitor, EVIDENCE_SPECS\n"
        "m = ConceptDriftMonitor('m', 'v1', list(EVIDENCE_SPECS))\n"
        "m.update('latency_ms', np.random.default_rng(1).lognormal(6.7, 0.5, 20_000))"
    )
    assert loaded_after(kswin_fed) == ["True", "True"]


def test_a_module_imported_before_is_left_as_it_is() -> None:
    from monitor.detectors.lazy_import import import_lazily

    assert import_lazily("numpy") is sys.modules["numpy"]
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        import_lazily("monitor.no_such_module")


def test_building_the_worker_app_leaves_scipy_stats_unrun(tmp_path) -> None:
    """Faust's agent decorator looks up its caller's module (``inspect.getmodule`` reads the
    ``__file__`` of every module loaded): that read must not run scipy.stats."""
    build = (
        "from monitor.settings import Settings\n"
        "from streams.app import create_app\n"
        f"create_app(Settings(kafka_bootstrap='127.0.0.1:9', clickhouse_url='chdb://{tmp_path}/store', "
        "redis_url=None, app_id='start-cost'))"
    )
    assert loaded_after(build) == ["True", "False"]


def test_river_s_arff_reader_leaves_scipy_io_unrun() -> None:
    """river.drift imports its datasets, hence river.stream's ARFF reader, hence scipy.io.arff:
    its package scipy.io (with scipy.sparse) need not run for that."""
    probe = (
        "import sys, streams.app\n"
        "from river.stream import iter_arff\n"
        "print(type(sys.modules['scipy.io']).__name__ == 'module', 'scipy.sparse' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["False", "False"]
