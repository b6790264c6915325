"""Every YAML file the monitor reads (alert rules, experiments, judge rubric, settings file) refuses
a key given twice, an alias bomb and runaway nesting with one line naming the file's role, instead of
keeping the last key silently, never returning, or a RecursionError traceback."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts.rules import load_rules
from monitor.errors import ConfigError
from monitor.experiments.config import load_experiments
from monitor.judge.rubric import load_rubric
from monitor.settings_file import read_config_file
from monitor.yaml_text import MAX_YAML_DEPTH, MAX_YAML_VALUES, load_yaml

ROOT = Path(__file__).resolve().parents[2]


def _bomb(top_key: str) -> str:
    """Nine lines of aliases naming 9**9 (387 million) strings under ``top_key``."""
    names = "abcdefghi"
    lines = [
        f'{names[0]}: &{names[0]} ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'
    ]
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join([*lines, f"{top_key}: *i", ""])


RULE = "  - {name: a, signal: drift, severity: warning, metric: drift_severity, condition: above, threshold: 1.5, threshold: 0.5}\n"
EXPERIMENT = "  - {name: e, model: m, control: v1, treatment: v2, control: v3}\n"


def _settings(text: str, tmp: Path) -> Any:
    file = tmp / "monitor.yaml"
    file.write_text(text)
    return read_config_file(file)


READERS: dict[str, tuple[Callable[[str, Path], Any], str, str, str]] = {
    # reader, its role in messages, the top key holding a list, a document with a key twice
    "rules": (lambda text, _: load_rules(text), "alert rules", "rules", f"rules:\n{RULE}"),
    "experiments": (
        lambda text, _: load_experiments(text),
        "experiments",
        "experiments",
        f"experiments:\n{EXPERIMENT}",
    ),
    "rubric": (
        lambda text, _: load_rubric(text),
        "judge rubric",
        "criteria",
        "scale: [0, 10]\ninstructions: a\nscale: [1, 5]\n",
    ),
    "settings": (_settings, "monitor.yaml", "monitor", "window: 60s\nwindow: 5m\n"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_key_given_twice_is_refused_with_its_lines(reader: str, tmp_path: Path) -> None:
    read, role, _, document = READERS[reader]
    with pytest.raises(ConfigError, match=r"is given twice \(first on line") as caught:
        read(document, tmp_path)
    assert role in str(caught.value)


@pytest.mark.parametrize("reader", sorted(READERS))
def test_an_alias_bomb_is_refused_at_once(reader: str, tmp_path: Path) -> None:
    read, role, top_key, _ = READERS[reader]
    started = time.monotonic()
    with pytest.raises(
        ConfigError, match=f"more than {MAX_YAML_VALUES:,} values through aliases"
    ) as caught:
        read(_bomb(top_key), tmp_path)
    assert role in str(caught.value)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("depth", [MAX_YAML_DEPTH + 1, 200_000])
def test_runaway_nesting_is_refused_without_a_traceback(depth: int) -> None:
    with pytest.raises(ConfigError, match=f"nested deeper than {MAX_YAML_DEPTH} levels"):
        load_rules("rules: " + "[" * depth + "]" * depth)


def test_aliases_merges_and_nesting_within_bounds_are_read_as_before() -> None:
    text = (
        "common: &common {signal: drift, severity: warning, metric: drift_severity, condition: above}\n"
        "rules:\n"
        "  - {<<: *common, name: a, threshold: 1.5}\n"
        "  - {<<: *common, name: b, threshold: 0.5, severity: critical}\n"
    )
    rules = load_rules(text)
    assert [(r.name, r.severity, r.threshold) for r in rules] == [
        ("a", "warning", 1.5),
        ("b", "critical", 0.5),
    ]
    nested = "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1)
    assert load_yaml(f"x: {nested}", "t") is not None


def test_rules_check_refuses_a_bomb_in_a_second(tmp_path: Path) -> None:
    """The CLI a user runs on a rules file: it never returned on this file."""
    file = tmp_path / "rules.yaml"
    file.write_text(_bomb("rules"))
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "rules", "check", str(file)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert "alert rules: not valid YAML: line" in run.stderr
    assert "through aliases" in run.stderr
