"""`monitor judge --report`: strict JSON, an undefined statistic written as null."""

from __future__ import annotations

import json
import math
from pathlib import Path

from monitor.tools.judge import _write_report


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_kappa_undefined_when_every_label_agrees_is_null_not_nan(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    report = {
        "pairs": [{"win_rate": 0.75, "lc_win_rate": math.inf}],
        "agreement": [{"judge_model": "j", "kappa": math.nan, "agreement": 1.0, "n": 30}],
        "tokens_today": 3600,
    }
    _write_report(path, report)
    written = _strict(path.read_text())
    assert written == {
        "pairs": [{"win_rate": 0.75, "lc_win_rate": None}],
        "agreement": [{"judge_model": "j", "kappa": None, "agreement": 1.0, "n": 30}],
        "tokens_today": 3600,
    }
    assert not (tmp_path / "report.json.tmp").exists()
