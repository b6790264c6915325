"""deploy/ and docker-compose.yml: checked by promtool and amtool, and against the code.

With CI=true a missing promtool / amtool fails instead of skipping (``make tools`` installs them).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from deploy_names import (
    EMBEDDING_PANELS,
    EXPERIMENT_PANELS,
    SHADOW_PANELS,
    clickhouse_panels,
    dashboard,
    deploy_problems,
    exported,
)
from prometheus_client import CollectorRegistry
from tests_support import missing_service

from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.alerts.rules import default_rules
from monitor.catalogue import DRIFT_SCORES, OUTCOME_METRICS
from monitor.settings import Settings
from streams.access import check_web_bind

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# ${NAME}, ${NAME:?message}, ${NAME?message}, ${NAME:-default}, ${NAME-default}
COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[?-])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|_AUTH$", re.IGNORECASE)

# MONITOR_* variables the compose file sets that are not Settings fields yet. Each must be read
# by the code that needs it; drop a name here once it becomes a Settings field.
NOT_YET_IN_SETTINGS = {"MONITOR_ALERTMANAGER_URL"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_service(f"{name} (make tools / apt-get install prometheus prometheus-alertmanager)")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, check=False, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def env_example() -> dict[str, str]:
    lines = [line.strip() for line in ENV_EXAMPLE.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def compose(values: dict[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml as `docker compose` reads it, with each .env variable set to a dummy secret."""
    values = values or {name: f"dummy-{name.lower()}" for name in env_example()}
    return yaml.safe_load(COMPOSE_VARIABLE.sub(lambda m: values[m.group(1)], COMPOSE.read_text()))


# --- Prometheus and Alertmanager, by their own tools ---------------------------------------------


def test_promtool_check_config() -> None:
    out = run(tool("promtool"), "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert "SUCCESS" in out.stdout + out.stderr


def test_promtool_check_rules() -> None:
    run(tool("promtool"), "check", "rules", *map(str, sorted((PROMETHEUS / "rules").glob("*.yml"))))


def test_promtool_rule_unit_tests() -> None:
    run(tool("promtool"), "test", "rules", str(PROMETHEUS / "tests" / "monitor.rules.test.yml"))


def test_amtool_check_config() -> None:
    run(tool("amtool"), "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))


def test_every_alerting_rule_has_a_firing_and_a_quiet_promtool_case() -> None:
    rules = yaml.safe_load((PROMETHEUS / "rules" / "monitor.rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((PROMETHEUS / "tests" / "monitor.rules.test.yml").read_text())
    cases = [case for t in tests["tests"] for case in t.get("alert_rule_test", [])]
    firing = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert {c["alertname"] for c in cases} <= alerts
    assert alerts - firing == set(), f"alerting rules without a firing case: {alerts - firing}"
    assert alerts - quiet == set(), f"alerting rules without a non-firing case: {alerts - quiet}"


def test_deploy_names_only_what_the_worker_exports_or_sends() -> None:
    """Metric names, label names and values, alert names in deploy/ against the registry and the catalogue."""
    problems = deploy_problems(exported())
    assert problems == [], "\n".join(problems)
    board = dashboard()
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", []) if "expr" in t]
    assert len(exprs) >= 10 and len({p["id"] for p in board["panels"]}) == len(board["panels"])


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        (
            "human_takeover",
            "prometheus MonitorHumanTakeoverHigh: monitor_outcome_positive_total{outcome='human_takeover'}",
        ),
        (
            "task_completion",
            "prometheus MonitorTaskCompletionLow: monitor_outcome_positive_total{outcome='task_completion'}",
        ),
        (
            "satisfaction",
            "grafana panel 22 (ClickHouse: outcome rates with 95% intervals): metric 'satisfaction'",
        ),
    ],
)
def test_the_cross_check_fails_when_a_metric_leaves_the_catalogue(drop: str, named: str) -> None:
    assert drop in {m.name for m in OUTCOME_METRICS}
    problems = deploy_problems(exported(outcomes=[m for m in OUTCOME_METRICS if m.name != drop]))
    assert any(p.startswith(named) for p in problems), problems


def test_the_cross_check_fails_when_a_drift_score_or_a_rule_goes() -> None:
    without_severity = deploy_problems(
        exported(drift=[s for s in DRIFT_SCORES if s.name != "severity"])
    )
    assert (
        "prometheus MonitorInputDriftSignificant: monitor_drift_severity is not exported by the worker"
        in without_severity
    )
    assert any(p.startswith("grafana panel 8") for p in without_severity)
    without_rule = deploy_problems(
        exported(rules=[r for r in default_rules() if r.name != "missing_rate_high"])
    )
    assert any("alertname='missing_rate_high'" in p for p in without_rule), without_rule


def _alerts_md_anchors() -> set[str]:
    """GitHub's anchors of the headings of docs/alerts.md."""
    headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "alerts.md").read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_runbook_names_a_section_of_docs_alerts_md_and_no_guessed_home() -> None:
    """No project home is known: the deploy rules carry no runbook_url, their descriptions end with
    the runbook's section, and every section named there or in the worker's rules exists."""
    anchors = _alerts_md_anchors()
    rules = yaml.safe_load((PROMETHEUS / "rules" / "monitor.rules.yml").read_text())
    alerting = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert alerting and not [r["alert"] for r in alerting if "runbook_url" in r["annotations"]]
    named = [
        re.search(r" Runbook: docs/alerts\.md#([\w-]+)$", r["annotations"]["description"])
        for r in alerting
    ]
    assert all(named), [r["alert"] for r, m in zip(alerting, named) if not m]
    worker = [r.runbook_url for r in default_rules()]
    assert all(u.startswith("docs/alerts.md#") for u in worker), worker
    missing = {m.group(1) for m in named if m} | {u.split("#", 1)[1] for u in worker}
    assert missing - anchors == set(), sorted(anchors)
    assert Settings().runbook_base_url == ""  # no guessed default


def test_timestamp_gauges_end_in_timestamp_seconds() -> None:
    registry = CollectorRegistry()
    MonitorMetrics(registry)
    timestamps = [
        m.name
        for m in registry.collect()
        if m.type == "gauge"
        and "timestamp" in m.documentation.lower()
        or "unix time" in m.documentation.lower()
    ]
    assert timestamps and all(name.endswith("_timestamp_seconds") for name in timestamps), (
        timestamps
    )


# --- Grafana ----------------------------------------------------------------------------------------


def test_dashboard_datasources_are_provisioned() -> None:
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/datasources.yml").read_text()
    )
    uids = {d["uid"]: d for d in provisioned["datasources"]}
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "monitor.json").read_text())
    used = {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"}
    assert used <= set(uids)
    assert uids["clickhouse"]["type"] == "grafana-clickhouse-datasource"
    grafana = compose()["services"]["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]
    dashboards = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/dashboards.yml").read_text()
    )
    path = dashboards["providers"][0]["options"]["path"]
    assert any(v.startswith("./deploy/grafana/dashboards:" + path) for v in grafana["volumes"])


# --- docker-compose.yml --------------------------------------------------------------------------


def test_every_service_has_an_image_or_a_build() -> None:
    services = compose()["services"]
    assert {
        "kafka",
        "clickhouse",
        "redis",
        "prometheus",
        "alertmanager",
        "grafana",
        "monitor",
    } <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server")


def test_bind_mounts_exist_in_the_repo() -> None:
    binds = []
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                binds.append(source)
    assert binds
    for source in binds:
        assert (ROOT / source).resolve().exists(), f"bind mount source {source} does not exist"


def test_monitor_workers_build_from_the_dockerfile_and_scale() -> None:
    monitor = compose()["services"]["monitor"]
    build = monitor["build"]
    context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
    dockerfile = context / (
        "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    )
    text = dockerfile.read_text()
    assert "FROM python:3.11-slim" in text and 'pip install ".[embeddings]"' in text
    assert monitor["command"] == "monitor worker" and monitor["deploy"]["replicas"] == 2
    assert "ports" not in monitor, "replicas cannot share a host port"


def test_monitor_env_vars_are_settings_or_documented() -> None:
    env = compose()["services"]["monitor"]["environment"]
    fields = {f"MONITOR_{name.upper()}" for name in Settings.model_fields}
    used = {k for k in env if k.startswith("MONITOR_")}
    unknown = used - fields - NOT_YET_IN_SETTINGS
    assert not unknown, (
        f"MONITOR_* variables neither in Settings nor in NOT_YET_IN_SETTINGS: {unknown}"
    )
    # an unvalued entry (judging) passes .env's value through, or none
    known = {k: v for k, v in env.items() if k in fields and v is not None}
    settings = Settings(**{k.removeprefix("MONITOR_").lower(): v for k, v in known.items()})
    assert settings.web_host == "0.0.0.0"
    check_web_bind(settings)  # the worker's own start-up check: all interfaces need the token


def test_the_judge_runner_is_opt_in_and_scraped_where_it_listens() -> None:
    """MonitorJudgeDown / MonitorJudgeAbsent read job monitor-judge: it must exist and find the runner."""
    services = compose()["services"]
    judge = services["monitor-judge"]
    assert judge["command"] == "monitor judge" and judge["profiles"] == ["judge"]
    assert judge["image"] == services["monitor"]["image"] and "ports" not in judge
    env = judge["environment"]
    fields = {f"MONITOR_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    # compose interpolates services of every profile: a ${...:?} here would stop a stack without a judge
    for name in ("MONITOR_JUDGE_URL", "MONITOR_JUDGE_MODEL", "MONITOR_JUDGE_API_KEY"):
        assert name in env and env[name] is None, name
    for name in ("MONITOR_JUDGE_URL", "MONITOR_JUDGE_MODEL", "MONITOR_JUDGE_SAMPLE_RATE"):
        assert env[name] == services["monitor"]["environment"][name], f"workers and runner: {name}"
    assert env["MONITOR_REDIS_URL"] == services["monitor"]["environment"]["MONITOR_REDIS_URL"]
    settings = Settings(
        **{k.removeprefix("MONITOR_").lower(): v for k, v in env.items() if v is not None}
    )
    assert settings.judge_metrics_host == "0.0.0.0" and settings.judge_metrics_port is not None
    assert settings.judge_metrics_port in _container_ports(judge)
    prometheus = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    job = {j["job_name"]: j for j in prometheus["scrape_configs"]}["monitor-judge"]
    sd = job["dns_sd_configs"][0]
    assert sd["names"] == ["monitor-judge"] and sd["port"] == settings.judge_metrics_port
    assert job.get("metrics_path", "/metrics") == "/metrics"


def _container_ports(service: dict[str, Any]) -> set[int]:
    ports = {int(str(p).split(":")[-1].split("/")[0]) for p in service.get("ports", [])}
    return ports | {int(str(p)) for p in service.get("expose", [])}


def test_ports_are_consistent() -> None:
    c = compose()
    services = c["services"]
    env = services["monitor"]["environment"]
    prometheus = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
    # Prometheus scrapes the workers where they listen
    sd = jobs["monitor"]["dns_sd_configs"][0]
    assert sd["names"] == ["monitor"] and sd["port"] == int(env["MONITOR_WEB_PORT"])
    assert jobs["monitor"].get("metrics_path", "/metrics") == "/metrics"
    assert int(env["MONITOR_WEB_PORT"]) in _container_ports(services["monitor"])
    # every URL the workers are given points at a service and a port it listens on
    listening = {"kafka": {9092}, "clickhouse": {8123}, "redis": {6379}, "alertmanager": {9093}}
    targets = [
        env["MONITOR_KAFKA_BOOTSTRAP"],
        *(
            env[k]
            for k in ("MONITOR_CLICKHOUSE_URL", "MONITOR_REDIS_URL", "MONITOR_ALERTMANAGER_URL")
        ),
    ]
    for target in targets:
        parsed = urlparse(target if "://" in target else f"kafka://{target}")
        assert parsed.hostname in services, target
        assert parsed.port in listening[parsed.hostname], target
    assert "INTERNAL://kafka:9092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    # Prometheus sends alerts to the Alertmanager service
    am_target = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert am_target == "alertmanager:9093" and 9093 in _container_ports(services["alertmanager"])
    # no two services publish the same host port
    host_ports = [
        str(p).split(":")[-2]
        for s in services.values()
        for p in s.get("ports", [])
        if ":" in str(p)
    ]
    assert len(host_ports) == len(set(host_ports))


def test_named_volumes_are_declared() -> None:
    c = compose()
    declared = set(c.get("volumes") or {})
    for service in c["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, source


def test_dashboard_clickhouse_panels_run_against_the_schema(chdb_dir) -> None:
    """Every ClickHouse panel's SQL, with the dashboard's default time range and variables, runs on the
    real schema. That it returns rows after a real run is checked in tests/e2e/test_alerts.py."""
    from monitor.adapters.clickhouse_store import ClickHouseStore

    store = ClickHouseStore(f"chdb://{chdb_dir}?database=monitor").connect()
    store.migrate()
    panels = clickhouse_panels()
    assert len(panels) >= 3
    for panel, sql in panels:
        assert "${" not in sql and "$__" not in sql, (panel, sql)
        store.query(sql)  # raises StoreError on an unknown table or column


def test_panels_of_experiment_and_shadow_traffic_are_listed_for_the_runs_that_fill_them() -> None:
    """A panel reading experiment_results or shadow_results is checked for rows after the run that writes them."""
    sqls = {
        p["id"]: " ".join(t.get("rawSql", "") for t in p.get("targets", []))
        for p in dashboard()["panels"]
    }
    assert {i for i, sql in sqls.items() if "experiment_results" in sql} == EXPERIMENT_PANELS
    assert {i for i, sql in sqls.items() if "shadow_results" in sql} == SHADOW_PANELS
    assert {i for i, sql in sqls.items() if "prompt_topic" in sql} == EMBEDDING_PANELS


def test_the_cross_check_fails_when_a_shadow_metric_leaves_the_catalogue() -> None:
    worker = exported()
    problems = deploy_problems(
        replace(worker, shadow_metrics=worker.shadow_metrics - {"agreement"})
    )
    assert any(
        p.startswith("grafana panel 29") and "'agreement' is not a shadow metric" in p
        for p in problems
    )


# --- docker-compose.yml: locked by default ---------------------------------------------------------


def test_kafka_is_not_published_and_advertises_only_the_compose_network() -> None:
    kafka = compose()["services"]["kafka"]
    assert "ports" not in kafka, "the plaintext Kafka listener must not be published on the host"
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert all(urlparse(listener).hostname == "kafka" for listener in advertised), advertised


def test_published_ports_listen_on_the_host_loopback_only() -> None:
    services = compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == {"clickhouse", "prometheus", "alertmanager", "grafana"}
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:") and str(port).count(":") == 2, (name, port)
    assert "ports" not in services["monitor"] and "ports" not in services["redis"]


def test_prometheus_has_no_lifecycle_or_admin_api() -> None:
    command = compose()["services"]["prometheus"]["command"]
    assert not any(
        flag.startswith(("--web.enable-lifecycle", "--web.enable-admin-api")) for flag in command
    )


def test_every_secret_comes_from_the_env_file_without_a_default() -> None:
    text = COMPOSE.read_text()
    declared = env_example()
    used = {m.group(1): (m.group(2), m.group(3)) for m in COMPOSE_VARIABLE.finditer(text)}
    assert set(used) == set(declared), (
        "every ${VAR} of docker-compose.yml is listed in .env.example and back"
    )
    assert all(value == "" for value in declared.values()), (
        ".env.example must not ship a usable secret"
    )
    for name in declared:
        required = [m.group(2) for m in COMPOSE_VARIABLE.finditer(text) if m.group(1) == name]
        assert ":?" in required, (
            f"{name} is not required (${{{name}:?...}}) anywhere in docker-compose.yml"
        )
        assert not any(op in ("-", ":-") for op in required), f"{name} has a default"
    raw = yaml.safe_load(text)["services"]
    for name, service in raw.items():
        env = service.get("environment") or {}
        for key, value in env.items():
            value = str(value)
            if SECRET_NAME.search(key):
                assert COMPOSE_VARIABLE.fullmatch(value), f"{name}.{key} is a literal secret"
            userinfo = urlparse(value).password if "://" in value else None
            if userinfo is not None:
                assert COMPOSE_VARIABLE.fullmatch(userinfo), f"{name}.{key} has a literal password"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored and ".env" in (ROOT / ".dockerignore").read_text().split()


def test_grafana_reads_the_clickhouse_password_from_its_environment() -> None:
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/datasources.yml").read_text()
    )
    clickhouse = next(d for d in provisioned["datasources"] if d["uid"] == "clickhouse")
    assert clickhouse["secureJsonData"]["password"] == "$CLICKHOUSE_PASSWORD"
    assert "CLICKHOUSE_PASSWORD" in compose()["services"]["grafana"]["environment"]
