"""README's "Use it", as written: simulated files, a baseline, the inferences replayed, then their
feedback. Drift judged before any feedback says outcomes are not known yet, never that they hold;
the window that closes after the feedback escalates the incident to the degradation it shows."""

from __future__ import annotations

import json
from pathlib import Path

from tests_support import monitor_cli, reader_for, wait_until

ALERTS = (
    "SELECT status, rule, recommended_action, summary, description, evidence "
    "FROM monitor.alerts FINAL WHERE model_version = 'v2' AND rule != 'experiment_stop' "
    "ORDER BY created_at, status"
)


def monitor(*args: str, env: dict[str, str]) -> str:
    return monitor_cli(*args, env=env, timeout=180).stdout


def test_drift_before_feedback_is_not_called_harmless_and_the_incident_escalates(
    deployment, start_worker, tmp_path: Path
) -> None:
    # 1-minute windows closed two minutes after their end, or 5 s after the stream stops: the
    # drifted windows more than two minutes before the last event close on the inferences alone;
    # the last ones (feedback comes at most 15 s after its inference) close only once the feedback
    # stream stops, with every rating in, whatever the minute the simulation ends in
    settings = {"MONITOR_ALLOWED_LATENESS": "2m", "MONITOR_IDLE_TIMEOUT": "5s"}
    worker = start_worker(**settings)
    env = deployment.env(**settings)
    files = tmp_path / "files"
    out = monitor("simulate", "--out", str(files), "--events", "9000", "--span", "10m", env=env)
    assert "inference.jsonl: 9,000 inference events of support-assistant" in out
    for version in ("v1", "v2"):  # README builds v1's; v2's is built too, not left to the race
        # between a fast replay and the automatic baseline (MONITOR_BASELINE_SAMPLES)
        monitor(
            "baseline",
            "build",
            "--model",
            "support-assistant",
            "--version",
            version,
            str(files / "reference.jsonl"),
            env=env,
        )
    assert "sent 9000 events" in monitor(
        "replay", str(files / "inference.jsonl"), "--kind", "inference", env=env
    )
    reader = reader_for(worker)
    wait_until(  # v2 drifted midway: windows closed by the inference replay page on drift alone
        lambda: len(reader.query(ALERTS).rows) >= 1, timeout=90, what="the drift alert"
    )
    monitor("replay", str(files / "feedback.jsonl"), "--kind", "feedback", env=env)
    wait_until(  # the last whole window closes once the stream is idle, with its feedback
        lambda: any(r[2] in ("rollback", "fine_tune") for r in reader.query(ALERTS).rows),
        timeout=120,
        what="the incident to escalate on the feedback",
    )
    rows = reader.query(ALERTS).rows
    first = rows[0]
    assert first[2] == "investigate_upstream", rows
    assert "outcomes not known yet" in first[3], first
    assert "Outcome evidence: not known yet" in first[4], first
    superseded = [r for r in rows if r[0] == "resolved" and "superseded_by" in json.loads(r[5])]
    escalated = [r for r in rows if r[0] == "firing" and r[2] in ("rollback", "fine_tune")]
    assert len(superseded) == 1 and len(escalated) == 1, rows
    assert escalated[0][1] == "satisfaction_drop_vs_previous_version", escalated
    assert json.loads(superseded[0][5])["superseded_by"] == {
        "rule": escalated[0][1],
        "action": escalated[0][2],
    }
    assert "satisfaction" in escalated[0][4]  # the degraded metric is the evidence
