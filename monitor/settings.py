"""Worker and CLI settings, from ``MONITOR_*`` environment variables or a TOML/YAML file.

Durations are parsed in :mod:`monitor.durations`, a settings file is read in
:mod:`monitor.settings_file` and a bad value described in :mod:`monitor.settings_errors`.

>>> Settings(window="5m").window_seconds
300
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.contract.fields import DEFAULT_MAX_EXPERIMENTS, DEFAULT_MAX_FEEDBACK
from monitor.durations import MAX_SETTING_DAYS, MIN_WINDOW_SECONDS, parse_duration
from monitor.errors import ConfigError
from monitor.redact import mask_text
from monitor.segments import DEFAULT_MAX_SEGMENT_VALUES
from monitor.settings_errors import DURATION_FIELDS
from monitor.settings_file import read_config_file

__all__ = [
    "JUDGE_REDIS_KEYS",
    "WORKER_REDIS_KEYS",
    "JudgeKeyHeader",
    "RedisKeyKind",
    "Settings",
    "load_settings",
    "parse_duration",
]

# How the judge's key is sent: ``Authorization: Bearer <key>`` (OpenAI and most servers) or
# ``api-key: <key>`` (Azure OpenAI); the client maps each choice to its header.
JudgeKeyHeader = Literal["authorization", "api-key"]
# The kinds of Redis keys under an app id: the workers' join and shadow stores and alert claims,
# the judge's token ledger, statistics journal and request buffer (Settings.redis_prefix).
RedisKeyKind = Literal[
    "join", "shadow", "alert-sent", "judge:tokens", "judge:stats", "judge:buffer"
]
WORKER_REDIS_KEYS: tuple[RedisKeyKind, ...] = ("join", "shadow", "alert-sent")
JUDGE_REDIS_KEYS: tuple[RedisKeyKind, ...] = ("judge:tokens", "judge:stats", "judge:buffer")
# A Kafka topic's or consumer group's name, with room for the suffixes the app id gets
# ("<app>.detector-values", "<app>-__assignor-__leader"): Kafka takes at most 249 of these characters.
KAFKA_NAME = r"^[A-Za-z0-9._-]{1,200}$"


class Settings(BaseSettings):
    """Every setting has a default that works on one machine with no services installed."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="forbid")

    kafka_bootstrap: str | None = Field(
        None, description="host:port list; unset starts a local broker in demo"
    )
    # Transport security (docs/SECURITY.md); client options are built in monitor/adapters/client_security.py
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_file: str | None = Field(
        None, description="PEM CA bundle; unset uses the system CAs"
    )
    kafka_ssl_cert_file: str | None = Field(
        None, description="client certificate (PEM) for mutual TLS"
    )
    kafka_ssl_key_file: str | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = True
    inference_topic: str = Field("monitor.inference", pattern=KAFKA_NAME)
    feedback_topic: str = Field("monitor.feedback", pattern=KAFKA_NAME)
    dlq_topic: str = Field("monitor.contract.dlq", pattern=KAFKA_NAME)
    alerts_topic: str = Field("monitor.alerts", pattern=KAFKA_NAME)
    detector_topic: str | None = Field(
        None,
        pattern=KAFKA_NAME,
        description="internal topic of each version's detector values, keyed by model and version; "
        "unset: <MONITOR_APP_ID>.detector-values (one per consumer group)",
    )
    partitions: int = Field(4, ge=1, le=10_000)
    app_id: str = Field("llm-monitor", pattern=KAFKA_NAME)
    clickhouse_url: str = "chdb://.monitor-data/clickhouse"
    clickhouse_password: SecretStr | None = Field(
        None, description="overrides a password in the URL"
    )
    clickhouse_ssl_ca_file: str | None = None
    clickhouse_ssl_cert_file: str | None = None
    clickhouse_ssl_key_file: str | None = None
    clickhouse_ssl_verify: bool = True
    redis_url: SecretStr | None = None
    redis_ssl_ca_file: str | None = Field(None, description="for rediss:// URLs")
    redis_ssl_cert_file: str | None = None
    redis_ssl_key_file: str | None = None
    window: str = "5m"
    allowed_lateness: str = "10m"
    feedback_delay: str = Field(
        "0s",
        description="outcome alert rules judge a window this long after its close, so that "
        "feedback arriving later than the allowed lateness is in",
    )
    idle_timeout: str = Field(
        "1m", description="no partition written for this long: windows close by the wall clock"
    )
    max_future_skew: str = "5m"
    max_message_bytes: int = Field(1_048_576, ge=1024)
    batch_size: int = Field(1000, ge=1)
    batch_within: float = Field(0.5, gt=0, le=60)
    refresh_interval: float = Field(2.0, gt=0)
    commit_every: int = Field(10_000, ge=1, description="commit offsets at least every N messages")
    commit_interval: float = Field(2.8, gt=0, description="seconds between consumer offset commits")
    session_timeout: float = Field(
        30.0, gt=0, description="seconds before a dead worker's partitions move"
    )
    web_port: int = Field(6066, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    web_token: SecretStr | None = Field(
        None, description="bearer token for every web endpoint but /health and /metrics"
    )
    web_secure_cookie: bool = Field(
        False,
        description="mark the dashboard's token cookie Secure: set it when browsers reach the "
        "web port through TLS (a proxy in front of it)",
    )
    query_timeout: str = Field("30s", description="max_execution_time of a /query statement")
    query_max_rows: int = Field(100_000, ge=1, description="max_result_rows of a /query statement")
    query_max_bytes: int = Field(
        100_000_000, ge=1024, description="max_result_bytes of a /query statement"
    )
    baseline_samples: int = Field(
        1000, ge=10, description="events of a new version that become its baseline"
    )
    baseline_from_previous: bool = Field(
        False, description="a new version starts from the previous one's baseline"
    )
    drift_bins: int = Field(10, ge=2, le=100)
    drift_top_k: int = Field(20, ge=1, le=1000)
    drift_min_samples: int = Field(
        100, ge=1, description="windows with fewer values are stored, not scored"
    )
    drift_moderate: float = Field(0.1, gt=0)
    drift_significant: float = Field(0.25, gt=0)
    drift_sliding_windows: int = Field(
        1, ge=1, le=1000, description="also score the last N windows together"
    )
    drift_feature_thresholds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    embedder: str | None = Field(
        None,
        description="wordllama, none or sentence-transformers:<local dir>; unset: wordllama when "
        "installed, else none with a warning (docs/embeddings.md)",
    )
    embedding_sample_rate: float = Field(
        0.25, ge=0, le=1, description="share of prompts embedded for drift (by request id)"
    )
    embedding_topics: int = Field(
        8, ge=2, le=64, description="k-means clusters of a baseline's prompts (topic shares)"
    )
    join_ttl: str = Field(
        "7d", description="how long an inference or feedback waits for its partner"
    )
    join_expiry_interval: float = Field(
        30.0, gt=0, description="seconds between sweeps of expired joins"
    )
    segment_keys: list[str] = Field(
        default_factory=list, description="segment keys with their own outcome rates"
    )
    max_segment_values: int = Field(
        DEFAULT_MAX_SEGMENT_VALUES,
        ge=1,
        le=100_000,
        description="values of a segment key with rows of their own per batch; the rarer count as KEY=(other)",
    )
    max_experiments: int = Field(
        DEFAULT_MAX_EXPERIMENTS,
        ge=1,
        le=10_000,
        description="experiments not declared in MONITOR_EXPERIMENTS with partials per batch and "
        "reports, those with the most assignments (docs/experiments.md)",
    )
    detector_evidence: bool = Field(
        False, description="also run ddm, eddm and kswin (noisier) as evidence"
    )
    stable_versions: dict[str, str] = Field(
        default_factory=dict, description="model -> version to compare with"
    )
    alert_rules: str | None = Field(
        None, description="YAML rules file; unset uses the shipped defaults"
    )
    experiments: str | None = Field(
        None, description="YAML file declaring A/B experiments (docs/experiments.md)"
    )
    shadow_ttl: str = Field(
        "1h", description="how long a production or shadow answer waits for its partner"
    )
    shadow_margins: str | None = Field(
        None,
        description="metric=margin,... judged for shadow verdicts; "
        "unset: error_rate=0.01,latency_ms=100 (docs/experiments.md)",
    )
    alertmanager_url: str | None = Field(None, description="e.g. http://127.0.0.1:9093")
    alertmanager_token: SecretStr | None = Field(None, description="sent as Authorization: Bearer")
    alertmanager_headers: dict[str, SecretStr] = Field(default_factory=dict)
    alert_webhook_url: SecretStr | None = None
    alert_webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key for X-Monitor-Signature"
    )
    alert_webhook_token: SecretStr | None = Field(None, description="sent as Authorization: Bearer")
    alert_webhook_headers: dict[str, SecretStr] = Field(default_factory=dict)
    alert_sink_ssl_ca_file: str | None = Field(None, description="CA bundle for https sinks")
    alerts_to_kafka: bool = Field(True, description="also publish alerts to MONITOR_ALERTS_TOPIC")
    recent_version: str = Field(
        "1d", description="a version younger than this is rolled back on degradation"
    )
    metrics_model_labels: int = Field(
        50, ge=1, description="max distinct model/version label pairs exported"
    )
    metrics_version_ttl: str = Field(
        "1d", description="series of a model version idle this long are removed"
    )
    # No project home is known, so no guessed default: unset, the rules' relative runbooks
    # (docs/alerts.md#...) are named in the Alertmanager description instead of a runbook_url link.
    runbook_base_url: str = Field(
        "",
        description="absolute http(s) URL where docs/ is served; relative runbook_url resolve against it",
    )
    health_failing_after: str = Field(
        "60s",
        description="/health answers 503 once batches fail, or the broker answers no fetch, for this long",
    )
    max_tracked_versions: int = Field(
        1000,
        ge=1,
        description="model versions whose baseline and sampling state "
        "stay in memory (least recently seen out first)",
    )
    max_detectors: int = Field(
        500, ge=1, description="detector sets (one per model version) kept in memory"
    )
    join_memory_max_records: int = Field(
        200_000,
        ge=1000,
        description="in-process join and shadow stores: records each holds before "
        "the oldest are evicted (use Redis above this)",
    )
    max_feedback_per_request: int = Field(
        DEFAULT_MAX_FEEDBACK,
        ge=1,
        le=DEFAULT_MAX_FEEDBACK,
        description="feedback events one request holds in the join store; more are "
        "dead-lettered too_many_feedback until its oldest expire (docs/outcomes.md)",
    )
    # The LLM judge (docs/judge.md): off unless MONITOR_JUDGE_URL and MONITOR_JUDGE_MODEL are set.
    judge_url: str | None = Field(
        None, description="OpenAI-compatible base URL, e.g. https://api.openai.com/v1"
    )
    judge_model: str | None = Field(None, description="the judge model, e.g. gpt-4o-mini")
    judge_api_key: SecretStr | None = Field(
        None, description="the judge endpoint's key, sent as MONITOR_JUDGE_API_KEY_HEADER says"
    )
    judge_api_key_header: JudgeKeyHeader = Field(
        "authorization",
        description="authorization: Authorization: Bearer <key>; api-key: api-key: <key> (Azure OpenAI)",
    )
    judge_topic: str | None = Field(
        None,
        pattern=KAFKA_NAME,
        description="internal topic of texts to judge; unset: <MONITOR_APP_ID>.judge",
    )
    judge_sample_rate: float = Field(
        0.05, ge=0.0, le=1.0, description="share of requests judged (a hash of request_id)"
    )
    judge_forward_unsampled: bool = Field(
        True,
        description="also forward unsampled answers, so flagging feedback can still get them judged",
    )
    judge_rubric: str | None = Field(
        None, description="YAML rubric file; unset: the five default criteria, 0-10"
    )
    judge_pairwise: bool = Field(True, description="compare shadow answers with production's")
    judge_requests_per_second: float = Field(1.0, gt=0.0, description="judge calls per second")
    judge_burst: int = Field(5, ge=1, description="judge calls allowed at once")
    judge_daily_tokens: int = Field(
        2_000_000,
        ge=0,
        description="tokens per UTC day; calls beyond it are skipped and counted; "
        "counted in MONITOR_REDIS_URL's Redis when set (shared, kept across restarts)",
    )
    judge_max_output_tokens: int = Field(300, ge=16, description="max_tokens of each judge reply")
    judge_timeout: str = Field("30s", description="per judge call")
    judge_retries: int = Field(3, ge=0, description="retries of a 5xx, 429 or timed-out call")
    judge_buffer_size: int = Field(
        10_000, ge=1, description="requests whose texts the runner holds for partners and feedback"
    )
    judge_buffer_ttl: str = Field("1h", description="how long the runner holds a request's texts")
    judge_pass_score: float = Field(
        7.0,
        ge=0.0,
        le=10.0,
        description="a judge score from which an answer counts as good (kappa)",
    )
    judge_metrics_port: int | None = Field(
        None, description="Prometheus port of `monitor judge`; unset: no endpoint"
    )
    judge_metrics_host: str = Field(
        "127.0.0.1",
        description="interface of `monitor judge`'s Prometheus port (no token: a private network only)",
    )

    @field_validator(*DURATION_FIELDS)
    @classmethod
    def _valid_duration(cls, value: str) -> str:
        try:
            seconds = parse_duration(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None  # pydantic names the setting
        if seconds > MAX_SETTING_DAYS * 86400:
            raise ValueError(f"{value!r} is longer than {MAX_SETTING_DAYS} days")
        return value

    @field_validator("window")
    @classmethod
    def _window_of_whole_seconds(cls, value: str) -> str:
        """A window under a second was taken and refused only once the store was open."""
        if parse_duration(value) < MIN_WINDOW_SECONDS:
            raise ValueError(f"{value!r} is shorter than {MIN_WINDOW_SECONDS}s")
        return value

    @property
    def detector_values_topic(self) -> str:
        """Where each version's detector values go: one topic per consumer group (app id)."""
        return self.detector_topic or f"{self.app_id}.detector-values"

    @property
    def judge_records_topic(self) -> str:
        """Where the worker forwards answers and human feedback for the judge runner."""
        return self.judge_topic or f"{self.app_id}.judge"

    def redis_prefix(self, kind: RedisKeyKind) -> str:
        """The prefix of this app id's Redis keys of one kind (docs/SECURITY.md's ACL patterns).

        >>> Settings(app_id="support").redis_prefix("join")
        'support:join:'
        """
        return f"{self.app_id}:{kind}:"

    @property
    def judge_group(self) -> str:
        """The consumer group of ``monitor judge`` on the judge topic."""
        return f"{self.app_id}-judge"

    @property
    def judge_enabled(self) -> bool:
        """Judging is on only when an endpoint and a model are configured."""
        return bool(self.judge_url and self.judge_model)

    @property
    def window_seconds(self) -> int:
        return int(parse_duration(self.window))  # at least MIN_WINDOW_SECONDS: checked when read

    @property
    def allowed_lateness_seconds(self) -> float:
        return parse_duration(self.allowed_lateness)

    @property
    def feedback_delay_seconds(self) -> float:
        return parse_duration(self.feedback_delay)

    @property
    def idle_timeout_seconds(self) -> float:
        return parse_duration(self.idle_timeout)

    @property
    def max_future_skew_seconds(self) -> float:
        return parse_duration(self.max_future_skew)

    @property
    def metrics_version_ttl_seconds(self) -> float:
        return parse_duration(self.metrics_version_ttl)

    @property
    def health_failing_after_seconds(self) -> float:
        return parse_duration(self.health_failing_after)

    @property
    def join_ttl_seconds(self) -> float:
        return parse_duration(self.join_ttl)

    @field_validator("shadow_margins")
    @classmethod
    def _valid_margins(cls, value: str | None) -> str | None:
        from monitor.shadow.report import parse_margins

        if value is not None:
            try:
                parse_margins(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @property
    def shadow_ttl_seconds(self) -> float:
        return parse_duration(self.shadow_ttl)

    @property
    def shadow_margin_map(self) -> dict[str, float]:
        """Declared shadow metrics and their non-inferiority margins (the catalogue's defaults when unset)."""
        from monitor.shadow.report import default_margins, parse_margins

        return (
            default_margins() if self.shadow_margins is None else parse_margins(self.shadow_margins)
        )

    @property
    def query_timeout_seconds(self) -> float:
        return parse_duration(self.query_timeout)

    @property
    def web_token_value(self) -> str | None:
        """The bearer token, or None when unset or empty."""
        return (self.web_token.get_secret_value() or None) if self.web_token else None

    @property
    def redis_dsn(self) -> str | None:
        return self.redis_url.get_secret_value() if self.redis_url else None

    @property
    def alert_webhook(self) -> str | None:
        return self.alert_webhook_url.get_secret_value() if self.alert_webhook_url else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``path`` (TOML or YAML, keys without the prefix), then env, then ``overrides``."""
    values: dict[str, Any] = {}
    if path:
        file = Path(path)
        if not file.exists():
            raise ConfigError(f"config file {file} does not exist")
        values = read_config_file(file)
    from monitor.settings_errors import describe_settings_error

    # Environment wins over the file; explicit overrides win over both.
    try:
        env = Settings()
    except ValueError as exc:
        raise ConfigError(mask_text(describe_settings_error(exc, {}))) from None
    merged = {**values, **{k: v for k, v in env.model_dump().items() if k in env.model_fields_set}}
    sources = {
        **{k: str(path) for k in values},
        **{k: "env" for k in env.model_fields_set},
        **{k: "override" for k in overrides},
    }
    try:
        return Settings(**{**merged, **overrides})
    except ValueError as exc:
        raise ConfigError(mask_text(describe_settings_error(exc, sources))) from None
