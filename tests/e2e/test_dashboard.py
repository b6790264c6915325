"""The dashboard end to end: a worker with a token, a short simulated run, every page in headless Chromium.

Set ``MONITOR_SCREENSHOTS=docs/img`` to refresh the README's screenshots (``make screenshots``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests_support import missing_service, wait_until

from monitor.adapters.producer import EventProducer
from monitor.adapters.reader import HttpReader
from monitor.tools.simulator import TrafficSimulator

TOKEN = "dash-token-4f1c"
WINDOW = 10
SPAN = 160  # seconds of simulated traffic, ending now


def publish(deployment, sim: TrafficSimulator, start: float, steps: range) -> None:
    """Half-second steps of traffic from ``start``; the second half of SPAN drifts (v2)."""
    inferences, feedback = [], []
    for step in steps:
        now = start + step / 2
        sim.drifted = step >= SPAN
        inferences += sim.inferences(now, 30)
        feedback += sim.due_feedback(now)
    if steps.stop >= SPAN * 2:
        feedback += sim.due_feedback(start + SPAN + 60)

    async def send() -> None:
        async with EventProducer(
            deployment.broker.bootstrap, topics=deployment.topics, batch_size=200
        ) as producer:
            await producer.send("inference", inferences)
            await producer.send("feedback", feedback)

    with ThreadPoolExecutor(1) as pool:  # playwright's sync API holds this thread's event loop
        pool.submit(asyncio.run, send()).result()


def _count(reader: HttpReader, table: str, where: str = "1") -> int:
    return int(reader.query(f"SELECT count() FROM monitor.{table} WHERE {where}").rows[0][0])


@pytest.fixture()
def chromium():
    binary = shutil.which("chromium")
    if binary is None:
        missing_service("chromium (apt-get install chromium; `make tools`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("playwright (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def test_dashboard_pages_render_filter_and_need_the_token(
    deployment, start_worker, chromium, tmp_path
):
    worker = start_worker(
        MONITOR_WINDOW=f"{WINDOW}s",
        MONITOR_BASELINE_SAMPLES="300",
        MONITOR_ALLOWED_LATENESS="5s",
        MONITOR_WEB_TOKEN=TOKEN,
    )
    reader = HttpReader(worker.url, "monitor", token=TOKEN)
    sim, start = TrafficSimulator(seed=5), time.time() - SPAN
    publish(
        deployment, sim, start, range(40)
    )  # the first events of each version become its baseline
    wait_until(lambda: _count(reader, "baselines") >= 2, timeout=30, what="a baseline per version")
    publish(deployment, sim, start, range(40, SPAN * 2))
    seen: dict[str, int] = {}

    def landed() -> bool:
        seen.update(
            drifted=_count(
                reader, "drift_windows FINAL", "severity IN ('moderate', 'significant')"
            ),
            latency=_count(reader, "metric_windows", "metric = 'latency_p95_ms'"),
            alerts=_count(reader, "alerts"),
            experiments=_count(reader, "experiment_results", "metric = ''"),
        )
        return (
            seen["drifted"] > 0
            and seen["latency"] > 4
            and seen["alerts"] > 0
            and seen["experiments"] > 0
        )

    try:
        wait_until(landed, timeout=45, what="drift rows, windows and an alert")
    except AssertionError as exc:
        drift = reader.query(
            "SELECT severity, count() FROM monitor.drift_windows GROUP BY severity"
        ).rows
        baselines = reader.query("SELECT model_version, n FROM monitor.baselines").rows
        raise AssertionError(f"{exc}: {seen}, drift rows {drift}, baselines {baselines}") from None

    with pytest.raises(
        urllib.error.HTTPError
    ) as refused:  # no token: refused, for pages and the poll alike
        urllib.request.urlopen(f"{worker.url}/", timeout=5)
    assert refused.value.code == 401
    shots = Path(os.environ.get("MONITOR_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(f"{m.text} ({m.location.get('url')})")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    assert page.goto(f"{worker.url}/").status == 401  # a browser without the cookie too
    errors.clear()  # the 401 itself is logged as a failed resource

    response = page.goto(
        f"{worker.url}/?token={TOKEN}"
    )  # sets the cookie, redirects to the clean URL
    assert response.status == 200 and "token" not in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == "monitor_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "unsafe-inline" not in response.headers["content-security-policy"]

    panels = page.locator("section.panel[data-metric]")
    assert panels.count() == 6
    for i in range(6):  # every overview chart has a line with points
        panel = panels.nth(i)
        assert panel.locator("path.line").count() >= 1, panel.get_attribute("data-metric")
        assert len(panel.locator("path.line").first.get_attribute("d")) > 10
    satisfaction = page.locator('section[data-metric="satisfaction"]')
    assert satisfaction.locator("path.line").count() == 2  # v1 and v2
    assert satisfaction.locator("polygon.band").count() == 2  # with their intervals
    assert (
        page.locator("line.marker-alert").count() + page.locator("line.marker-detector").count() > 0
    )
    page.wait_for_selector(
        "#live.on", timeout=10_000
    )  # the live poll reached /api/stamp with the cookie
    page.screenshot(path=str(shots / "dashboard-overview.png"), full_page=True)

    page.select_option("#f-version", "v1")  # the filter submits itself; the URL carries it
    page.wait_for_url("**version=v1**")
    assert satisfaction.locator("path.line").count() == 1
    assert "v2" not in page.locator("ul.legend").first.inner_text()

    page.goto(f"{worker.url}/drift?model=support-assistant")
    cells = page.locator("rect.cell")
    assert cells.count() > 10
    drifted = page.locator("rect.cell.sev-significant, rect.cell.sev-moderate")
    assert drifted.count() > 0, sorted({c.get_attribute("class") for c in cells.all()})
    drifted.first.click()
    page.wait_for_url("**feature=**")
    assert "model=support-assistant" in page.url  # the filters survive the click
    assert page.locator("#histogram rect.bar-reference").count() > 1
    assert page.locator("#histogram rect.bar-current").count() > 1
    page.screenshot(path=str(shots / "dashboard-drift.png"), full_page=True)

    page.goto(f"{worker.url}/alerts")
    alerts = page.locator("li.alert")
    assert alerts.count() > 0
    assert "Recommended action" in alerts.first.inner_text()
    page.screenshot(path=str(shots / "dashboard-alerts.png"), full_page=True)

    page.goto(f"{worker.url}/experiments")
    experiment = page.locator("section.experiment")
    assert experiment.count() == 1 and page.locator("#no-experiments").count() == 0
    assert experiment.locator("table.metrics tbody tr").count() > 1
    assert (
        experiment.locator("path.line").count() >= 1
    )  # the difference over time, with its interval
    assert page.locator("#no-shadow").count() == 1  # the simulator sends no shadow traffic
    page.screenshot(path=str(shots / "dashboard-experiments.png"), full_page=True)
    # the model and version filters keep the experiments whose requests ran on them (arms: versions)
    page.goto(f"{worker.url}/experiments?model=support-assistant&version=v2")
    assert page.locator("section.experiment").count() == 1
    assert "version v1, v2" in page.locator("section.experiment p.scope").inner_text()
    page.goto(f"{worker.url}/experiments?model=no-such-model")
    assert page.locator("section.experiment").count() == 0
    assert page.locator("#no-experiments").count() == 1

    page.goto(f"{worker.url}/alerts?range=15m&model=no-such-model")
    assert page.locator("li.alert").count() == 0 and "no alerts" in page.inner_text("main")
    assert not errors, errors
