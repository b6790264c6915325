"""Dashboard pages escape every value from the store, and filters round-trip through the URL."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

from monitor.dashboard import data, pages
from monitor.dashboard.filters import Filters

EVIL = '<script>alert("x")</script>"\'&'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)


def _tags(html: str) -> list[str]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _cell(**changes) -> data.DriftCell:
    base = {
        "model": EVIL,
        "version": "v1",
        "feature": EVIL,
        "window_start": 60.0,
        "window_end": 120.0,
        "psi": 0.4,
        "severity": EVIL,
        "n_current": 90,
        "n_events": 100,
        "partial": True,
        "baseline_id": "b1",
    }
    return data.DriftCell(**(base | changes))


def _experiment(name: str) -> data.Experiment:
    history = (data.Point(0, 0.1, -0.1, 0.3, 100), data.Point(60, 0.12, 0.02, 0.22, 200))
    metric = data.ExperimentMetric(
        name, 0.5, 0.62, 0.12, 0.02, 0.22, 0.01, "primary", False, history
    )
    return data.Experiment(
        name, name, name, name, name, True, 0.001, (metric,), (name,), ("v1", name)
    )


def test_an_experiment_shows_its_decision_srm_and_interval_over_time() -> None:
    body = pages.experiments_page([_experiment("exp")])
    assert "decision-exp" in body and "sample ratio mismatch" in body
    assert body.count('<polygon class="band"') == 1
    # both arms, the difference and its interval with the interval's decimals; p cut at 3 decimals
    assert "<td>0.50</td><td>0.62</td><td>+0.12</td><td>[+0.02, +0.22]</td><td>0.010</td>" in body
    assert "sample ratio mismatch (p = 0.001)" in body
    assert "0.12 [0.02, 0.22] n=200" in body  # the chart's tooltip
    assert "model exp · version v1, exp" in body  # the models and versions its requests ran on


def _shadow(text: str) -> dict:
    return {
        "model": text,
        "production_version": text,
        "shadow_version": text,
        "metric": text,
        "n": 120.0,
        "diff": -0.02,
        "ci_low": -0.05,
        "ci_high": 0.01,
        "margin": None,
        "status": text,
        "verdict": text,
        "reason": text,
    }


def test_shadow_rows_show_the_interval_and_verdict() -> None:
    html = pages.shadow_section([_shadow("x")])
    assert "<td>-0.020</td><td>[-0.050, +0.010]</td>" in html and html.count("<tr>") == 2
    assert 'id="no-shadow"' in pages.shadow_section([])


def test_values_from_the_store_are_escaped_on_every_page() -> None:
    series = [
        data.Series(
            "satisfaction",
            EVIL,
            EVIL,
            (data.Point(0, 0.5, 0.4, 0.6, 10), data.Point(60, 0.6, 0.5, 0.7, 10)),
        )
    ]
    marker = data.Marker(30, EVIL, EVIL, EVIL, EVIL)
    alert = data.Alert(
        EVIL, EVIL, EVIL, EVIL, EVIL, EVIL, 0.0, None, EVIL, EVIL, EVIL, EVIL, "javascript:alert(1)"
    )
    hist = data.Histogram(_cell(), (EVIL, "b"), (0.5, 0.5), (0.9, 0.1))
    f = Filters(model=EVIL, version=EVIL, segment=EVIL)
    bodies = [
        pages.overview_page({"satisfaction": series}, [marker]),
        pages.drift_page([_cell()], f, hist),
        pages.alerts_page([alert]),
        pages.experiments_page([]),
        pages.experiments_page([_experiment(EVIL)]),
        pages.shadow_section([_shadow(EVIL)]),
    ]
    for body in bodies:
        html = pages.layout("/", f, [(EVIL, EVIL, EVIL)], body, EVIL)
        assert "<script>alert" not in html
        assert _tags(html).count("script") == 1  # only the package's own file
        assert (
            'href="javascript:' not in html
        )  # a runbook that is no http(s) URL is text, not a link
        assert (
            " style=" not in html and "<style" not in html
        )  # nothing the CSP would have to allow inline


def test_overview_draws_a_line_band_and_marker_per_series() -> None:
    points = (data.Point(0, 0.5, 0.4, 0.6, 10), data.Point(60, 0.7, 0.6, 0.8, 10))
    series = [
        data.Series("satisfaction", "m", "v1", points),
        data.Series("satisfaction", "m", "v2", points),
    ]
    marker = data.Marker(30, "alert", "warning: rule", "m", "v2")
    body = pages.overview_page({"satisfaction": series}, [marker])
    panel = body[body.index('data-metric="satisfaction"') :]
    panel = panel[: panel.index("</section>")]
    assert panel.count('<path class="line"') == 2 and panel.count('<polygon class="band"') == 2
    assert panel.count("marker-alert") == 1
    assert 'data-metric="latency_p95_ms"' in body and "no data" in body  # empty metrics say so


def test_a_quantile_point_shows_the_digits_its_sketch_supports() -> None:
    """A p95 read from a 0.5 % sketch is worth 3 significant digits; events/s keeps its 4."""
    point = (data.Point(0, 119.70464, None, None, 7),)
    charts = {
        "latency_p95_ms": [data.Series("latency_p95_ms", "m", "v1", point)],
        "inference_events": [data.Series("inference_events", "m", "v1", point)],
    }
    body = pages.overview_page(charts, [])

    def tip(metric: str) -> str:
        panel = body[body.index(f'data-metric="{metric}"') :]
        return re.findall(r"<circle[^>]*><title>([^<]*)</title>", panel)[0]

    assert tip("latency_p95_ms") == "m v1 01-01 00:00:00: 120 n=7"
    assert tip("inference_events") == "m v1 01-01 00:00:00: 119.7 n=7"


def test_a_heatmap_cell_links_to_its_histogram_keeping_the_filters() -> None:
    f = Filters(model="m", range="1h")
    body = pages.drift_page([_cell(model="m", feature="x", severity="significant")], f, None)
    link = re.search(r'<a href="([^"]+)"><rect class="cell sev-significant', body).group(1)
    back = Filters.from_query(dict(re.findall(r"(\w+)=([^&#]*)", link.replace("&amp;", "&"))))
    assert (back.model, back.range, back.feature, back.cell_model, back.window) == (
        "m",
        "1h",
        "x",
        "m",
        "60.000",
    )


def test_filters_keep_known_keys_and_drop_defaults() -> None:
    f = Filters.from_query(
        {"model": "m", "version": "v2", "range": "6h", "token": "secret", "segment": "x" * 500}
    )
    assert (
        f.query_string().startswith("model=m&version=v2&segment=")
        and "token" not in f.query_string()
    )
    assert len(f.segment) == 200
    assert Filters.from_query({"range": "1y"}).range == "all" and Filters().query_string() == ""
    assert Filters(range="1h").since(now=7200.0) == 3600.0 and Filters().since() is None


def test_a_row_without_a_histogram_shows_what_moved() -> None:
    cell = _cell(
        model="m",
        feature="prompt_topic",
        severity="significant",
        detail="topic 'login, password, reset' grew from 21% to 84%",
    )
    f = Filters(feature="prompt_topic", cell_model="m", cell_version="v1", window="60.000")
    body = pages.drift_page([cell], f, None)
    panel = body[body.index('id="histogram"') :]
    assert "topic &#x27;login, password, reset&#x27; grew from 21% to 84%" in panel
    assert "no reference histogram for this row" in panel and "PSI 0.400 (significant)" in panel
    other = Filters(feature="prompt_topic", cell_model="m", cell_version="v1", window="120.000")
    assert "no histogram for that cell" in pages.drift_page([cell], other, None)


def test_a_superseded_alert_shows_its_successor_not_resolved() -> None:
    superseded = data.Alert(
        "a1",
        "resolved",
        "warning",
        "input_drift_significant",
        "chat",
        "v2",
        0.0,
        60.0,
        "chat v2: input drift",
        "d",
        "investigate_upstream",
        '{"superseded_by": {"rule": "satisfaction_drop_vs_previous_version", "action": "rollback"}}',
        "",
    )
    cleared = replace(superseded, evidence="{}")
    html = pages.alerts_page([superseded, cleared])
    first, second = html.split('<li class="alert ')[1:]
    assert first.startswith("status-superseded ")
    assert (
        "<strong>superseded by satisfaction_drop_vs_previous_version (rollback)</strong>" in first
    )
    assert second.startswith("status-resolved ") and "<strong>resolved</strong>" in second


def test_the_judge_line_follows_only_the_comparisons_shown_and_says_why_it_is_missing() -> None:
    from monitor.judge.stats import PairSummary

    shown = {**_shadow("x"), "model": "chat", "production_version": "v1", "shadow_version": EVIL}
    judged = {
        ("chat", "v1", EVIL): PairSummary(12, 0.5, float("nan"), 0.25, 0.0),
        ("chat", "v1", "v9"): PairSummary(30, 0.9, 0.9, 0.0, 0.0),  # not a comparison shown
        ("other", "v1", "v2"): PairSummary(0, float("nan"), float("nan"), float("nan"), 0.0),
    }
    html = pages.shadow_section([shown, {**shown, "metric": "latency_ms"}], judged)
    items = re.findall(r"<li>(.*?)</li>", html)
    assert items == [
        (
            "chat v1 → &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&quot;&#x27;&amp;: LLM judge: "
            "shadow preferred in 50% of 12 pairs (length-controlled n/a, order flips 25%)"
        )
    ]
    assert "<script>" not in html
    assert 'id="judge"' not in pages.shadow_section([shown], {})  # no verdicts: no list
    missing = pages.shadow_section([shown], {}, judge_error=EVIL)
    assert "the LLM judge's verdicts are not shown: &lt;script&gt;" in missing
    assert 'id="judge-unavailable"' in missing and "<script>" not in missing
