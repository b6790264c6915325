"""The worker's garbage-collector settings: start-up objects frozen, collections every
GC_THRESHOLDS[0] allocations (run in a child process: the settings are process-wide)."""

from __future__ import annotations

import subprocess
import sys

from monitor.tools.worker import GC_THRESHOLDS


def test_tune_gc_freezes_start_up_objects_and_raises_the_thresholds():
    script = (
        "import gc; from monitor.tools.worker import tune_gc; "
        "before = gc.get_freeze_count(); tune_gc(); "
        "print(before, gc.get_freeze_count(), *gc.get_threshold())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    before, frozen, *thresholds = map(int, out)
    assert before == 0 and frozen > 10_000  # the modules' objects, at least
    assert tuple(thresholds) == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700  # fewer collections than CPython's default
