"""docs/SECURITY.md "Kafka ACLs" names every topic and consumer group the processes use, as the code
names them: a renamed topic or group fails here before an operator's ACLs miss it."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.settings import Settings
from streams.source_consumer import ingest_group

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "SECURITY.md"


def documented_names() -> dict[str, set[str]]:
    """{"topic": names, "group": names} of the section's table, ``<app>`` left as written."""
    section = SECURITY_DOC.read_text().split("#### Kafka ACLs\n", 1)[1].split("\n### ", 1)[0]
    out: dict[str, set[str]] = {"topic": set(), "group": set()}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0] in out:
            names = re.findall(r"`([^`]+)`", cells[1])
            out[cells[0]].update(n for n in names if not n.startswith("MONITOR_"))
    return out


def test_every_topic_and_group_the_code_uses_is_in_the_table() -> None:
    s = Settings(app_id="APP")  # the table's <app>
    used = {
        "topic": {
            s.inference_topic,
            s.feedback_topic,
            s.dlq_topic,
            s.alerts_topic,
            s.detector_values_topic,
            s.judge_records_topic,
            f"{s.app_id}-__assignor-__leader",  # Faust's leader election topic
        },
        "group": {s.app_id, ingest_group(s), s.judge_group},
    }
    documented = {
        kind: {name.replace("<app>", "APP") for name in names}
        for kind, names in documented_names().items()
    }
    assert documented == used
