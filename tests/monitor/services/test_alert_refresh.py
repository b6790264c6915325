"""Open incidents stay active in a real Alertmanager for as long as they fire."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from tests_support import missing_service, start_alertmanager

from monitor.adapters.alert_sinks import AlertmanagerSink, LogSink
from monitor.adapters.local_broker import free_port
from monitor.alerts.state import Alert
from monitor.services.alert_refresh import AlertmanagerRefresh

RESOLVE_TIMEOUT = 3.0  # seconds; deploy/alertmanager uses 24 h


@pytest.fixture()
def alertmanager_url(tmp_path: Path) -> Iterator[str]:
    started = start_alertmanager(
        tmp_path, f"http://127.0.0.1:{free_port()}/hook", resolve_timeout=f"{RESOLVE_TIMEOUT:g}s"
    )
    if started is None:
        missing_service("prometheus-alertmanager (apt-get install prometheus-alertmanager)")
    proc, url = started
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def firing(rule: str) -> Alert:
    return Alert.firing(rule, "critical", "chat", "v2", time.time() - 60, f"chat v2: {rule}")


def active_rules(url: str) -> set[str]:
    """Alertnames Alertmanager holds as not yet ended."""
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts = json.load(response)
    now = time.time()
    return {
        a["labels"]["alertname"]
        for a in alerts
        if datetime.fromisoformat(a["endsAt"]).timestamp() > now
    }


def test_an_open_incident_outlives_the_resolve_timeout_and_a_posted_once_one_does_not(
    alertmanager_url: str,
) -> None:
    kept, left = firing("traffic_drop"), firing("input_drift_significant")
    sink = AlertmanagerSink(alertmanager_url)
    refresh = AlertmanagerRefresh([LogSink(), sink], every=1.0)

    async def scenario() -> list[int]:
        await sink.send(kept)  # the delivery posts each once, when it fires
        await sink.send(left)
        reposted = [await refresh.refresh([kept], time.time(), delivered=[kept, left])]
        deadline = time.monotonic() + 2.5 * RESOLVE_TIMEOUT
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            reposted.append(await refresh.refresh([kept], time.time()))
        await sink.close()
        return reposted

    reposted = asyncio.run(scenario())
    assert reposted[0] == 0  # first seen: the delivery has just posted it
    assert 5 <= sum(reposted) <= 8, reposted  # once a second for 7.5 s
    assert active_rules(alertmanager_url) == {"traffic_drop"}


def test_a_new_leader_reposts_at_once_what_the_previous_one_posted(
    alertmanager_url: str,
) -> None:
    """Before: the worker that took over waited a whole refresh interval (an hour) before its
    first re-post, so Alertmanager resolved the incident resolve_timeout after the old leader's
    last post while it still fired."""
    kept = firing("traffic_drop")
    sink = AlertmanagerSink(alertmanager_url)

    async def scenario() -> list[int]:
        await sink.send(kept)  # the old leader's last post
        await asyncio.sleep(RESOLVE_TIMEOUT * 0.6)  # it dies; another worker leads
        new_leader = AlertmanagerRefresh([sink], every=3600.0)
        reposted = [await new_leader.refresh([kept], time.time())]
        await asyncio.sleep(RESOLVE_TIMEOUT * 0.6)  # past the old post's end
        reposted.append(await new_leader.refresh([kept], time.time()))
        await sink.close()
        return reposted

    assert asyncio.run(scenario()) == [1, 0]  # at once, then only an hour later
    assert active_rules(alertmanager_url) == {"traffic_drop"}


def annotations(url: str) -> dict[str, str]:
    """Summary of each alertname Alertmanager holds."""
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        return {a["labels"]["alertname"]: a["annotations"]["summary"] for a in json.load(response)}


def test_an_open_alert_whose_summary_changed_is_reposted_at_once(alertmanager_url: str) -> None:
    """An experiment's stop whose harmed guardrail is now another restates its open alert; before,
    Alertmanager kept the old summary until the hourly re-post."""
    before = firing("experiment_stop")
    after = replace(before, summary="experiment x: stop (guardrail human_takeover harmed)")
    sink = AlertmanagerSink(alertmanager_url)
    refresh = AlertmanagerRefresh([sink], every=3600.0)

    async def scenario() -> list[int]:
        await sink.send(before)  # the delivery posts it when it fires
        reposted = [await refresh.refresh([before], time.time(), delivered=[before])]
        reposted.append(await refresh.refresh([before], time.time()))
        reposted.append(await refresh.refresh([after], time.time()))  # restated
        reposted.append(await refresh.refresh([after], time.time()))
        await sink.close()
        return reposted

    assert asyncio.run(scenario()) == [0, 0, 1, 0]
    assert annotations(alertmanager_url) == {"experiment_stop": after.summary}


def test_resolved_and_closed_alerts_are_not_reposted() -> None:
    refresh = AlertmanagerRefresh([AlertmanagerSink("http://127.0.0.1:9")], every=1.0)
    alert = firing("traffic_drop")

    async def scenario() -> list[int]:
        return [
            await refresh.refresh([alert], 100.0, delivered=[alert]),  # fired now: just posted
            await refresh.refresh([alert.resolved(150.0)], 200.0),  # no firing one: forgotten
            await refresh.refresh([alert], 300.0, delivered=[alert]),  # open again: posted again
            await refresh.refresh([], 400.0),
        ]

    assert asyncio.run(scenario()) == [0, 0, 0, 0]
    assert AlertmanagerRefresh([LogSink()]).sinks == []
    with pytest.raises(ValueError, match="every: 0"):
        AlertmanagerRefresh([], every=0)
