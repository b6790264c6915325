"""docs/experiments.md "Try it", as written: `monitor simulate --shadow`, both replays through the
real broker to a worker, then the experiment report stopping the A/B test on a harmed guardrail and
the shadow report finding the candidate promising."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests_support import monitor_cli, wait_until

EXPERIMENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "experiments.md"


def documented_commands() -> list[list[str]]:
    """The commands of the section's shell block."""
    section = EXPERIMENTS_DOC.read_text().split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [c for c in commands if c]


def test_the_documented_experiment_and_shadow_candidate_are_reported(
    deployment, start_worker, tmp_path: Path
) -> None:
    commands = documented_commands()
    assert [c[:2] for c in commands] == [
        ["monitor", "simulate"],
        ["monitor", "replay"],
        ["monitor", "replay"],
        ["monitor", "experiment"],
        ["monitor", "shadow"],
    ]
    simulate, inference, feedback, experiment, shadow = (
        [str(tmp_path / a) if a == "try" or a.startswith("try/") else a for a in c[1:]]
        for c in commands
    )
    start_worker()
    env = deployment.env()
    written = monitor_cli(*simulate, env=env).stdout
    assert "shadow answers of v3" in written, written
    assert "sent 0 events" not in monitor_cli(*inference, env=env).stdout
    assert "sent 0 events" not in monitor_cli(*feedback, env=env).stdout

    def report(args: list[str]) -> str:
        return str(monitor_cli(*args, env=env).stdout)

    wait_until(
        lambda: "guardrail human_takeover harmed" in report(experiment),
        timeout=120,
        what="the experiment to stop on the harmed guardrail",
    )
    decision = report(experiment)
    assert "experiment support-assistant-versions: v2 against v1" in decision, decision
    assert " stop " in decision, decision
    wait_until(lambda: "promising" in report(shadow), timeout=60, what="the shadow verdict")
    verdict = report(shadow)
    assert "v1                  v3" in verdict and "within the margin on error_rate" in verdict, (
        verdict
    )
