from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.contract.fields import MAX_EVENTS_PER_MESSAGE
from monitor.detectors.values import POSITIONS_PER_OFFSET
from monitor.errors import ConfigError
from monitor.settings import Settings, load_settings, parse_duration


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("MONITOR_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90),
        ("5m", 300),
        ("2h", 7200),
        ("7d", 604800),
        ("1w", 604800),
        ("250ms", 0.25),
        ("30", 30),
        ("1.5m", 90),
        (" 10 s ", 10),
        ("0", 0),
        ("0.5h", 1800),
    ],
)
def test_parse_duration_strings(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert isinstance(parse_duration(text), float)


def test_parse_duration_numbers() -> None:
    assert parse_duration(30) == 30.0
    assert parse_duration(2.5) == 2.5


@pytest.mark.parametrize(
    "bad", ["", "m", "5 minutes", "5M", "-5s", "1e3", "5y", "1h30m", "five", True]
)
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    assert "90s" in str(info.value)


def test_defaults() -> None:
    s = Settings()
    assert (s.window_seconds, s.allowed_lateness_seconds, s.max_future_skew_seconds) == (
        300,
        600.0,
        300.0,
    )
    assert s.partitions == 4 and s.kafka_bootstrap is None and s.redis_dsn is None


def test_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_WINDOW", "1h")
    monkeypatch.setenv("MONITOR_ALLOWED_LATENESS", "90s")
    monkeypatch.setenv("MONITOR_PARTITIONS", "12")
    monkeypatch.setenv("MONITOR_REDIS_URL", "redis://:hunter2@localhost:6379/0")
    s = Settings()
    assert (s.window_seconds, s.allowed_lateness_seconds, s.partitions) == (3600, 90.0, 12)
    assert s.redis_dsn == "redis://:hunter2@localhost:6379/0"
    assert "hunter2" not in repr(s)


def test_bad_env_window_names_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_WINDOW", "five minutes")
    with pytest.raises(ConfigError, match="'five minutes'"):
        load_settings()


def test_sub_second_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_WINDOW", "500ms")
    with pytest.raises(ConfigError, match="MONITOR_WINDOW='500ms': .* at least 1s"):
        load_settings()  # when the settings are read, not when a window is first cut


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text('window = "1m"\npartitions = 2\nfeedback_topic = "fb"\n')
    s = load_settings(path)
    assert (s.window_seconds, s.partitions, s.feedback_topic) == (60, 2, "fb")


def test_toml_monitor_table(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text('[monitor]\nwindow = "10m"\nbatch_size = 50\n')
    s = load_settings(str(path))
    assert (s.window_seconds, s.batch_size) == (600, 50)


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"monitor{suffix}"
    path.write_text("monitor:\n  window: 2h\n  max_future_skew: 30s\n  web_port: 8080\n")
    s = load_settings(path)
    assert (s.window_seconds, s.max_future_skew_seconds, s.web_port) == (7200, 30.0, 8080)


def test_empty_yaml_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_settings(path).window_seconds == 300


def test_env_beats_file_and_overrides_beat_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.toml"
    path.write_text('window = "1m"\npartitions = 2\napp_id = "from-file"\n')
    monkeypatch.setenv("MONITOR_WINDOW", "2m")
    monkeypatch.setenv("MONITOR_PARTITIONS", "3")
    s = load_settings(path, partitions=5)
    assert (s.window_seconds, s.partitions, s.app_id) == (120, 5, "from-file")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml"):
        load_settings(tmp_path / "nope.toml")


def test_bad_duration_in_file_names_the_value(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("window: soon\n")
    with pytest.raises(ConfigError, match="'soon'"):
        load_settings(path)


def test_bad_value_in_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("web_port = 70000\n")
    with pytest.raises(ConfigError, match="web_port") as info:
        load_settings(path)
    assert "70000" in str(info.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('windw = "5m"\n')
    with pytest.raises(ConfigError, match="windw"):
        load_settings(path)


@pytest.mark.parametrize(
    "field, value", [("max_message_bytes", 10), ("batch_within", 0), ("metrics_model_labels", 0)]
)
def test_bad_overrides(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        load_settings(**{field: value})


def test_every_setting_written_as_a_duration_is_validated_and_described_as_one() -> None:
    # a setting whose default is a duration ("1m") is one: Settings checks it and a bad value's
    # message names the form (six of them used to say "expected text")
    from monitor.durations import parse_duration
    from monitor.settings_errors import DURATION_FIELDS, describe_settings_error

    durations = set()
    for name, field in Settings.model_fields.items():
        if not isinstance(field.default, str):
            continue
        try:
            parse_duration(field.default)
        except ConfigError:
            continue
        durations.add(name)
    assert durations == set(DURATION_FIELDS)
    for name in durations:
        with pytest.raises(ValueError) as caught:
            Settings(**{name: "soon"})
        least = " at least 1s and" if name == "window" else ""  # windows start on whole seconds
        assert describe_settings_error(caught.value, {name: "env"}) == (
            f"MONITOR_{name.upper()}='soon': expected a duration like 90s, 5m, 2h, 7d,{least} at most 365d"
        )


@pytest.mark.parametrize("name", ["window", "join_ttl", "allowed_lateness", "query_timeout"])
def test_a_duration_longer_than_a_year_is_refused(name: str) -> None:
    """Before: MONITOR_WINDOW=99999999999999999999999999d was taken, and every event was
    dead-lettered `unwritable` (its window length fits no column)."""
    from monitor.settings_errors import describe_settings_error

    Settings(**{name: "365d"})
    with pytest.raises(ValueError) as caught:
        Settings(**{name: "99999999999999999999999999d"})
    least = " at least 1s and" if name == "window" else ""
    assert describe_settings_error(caught.value, {name: "env"}) == (
        f"MONITOR_{name.upper()}='99999999999999999999999999d': "
        f"expected a duration like 90s, 5m, 2h, 7d,{least} at most 365d"
    )


@pytest.mark.parametrize("window", ["0s", "500ms", "0.9s"])
def test_a_window_under_a_second_is_refused_when_the_settings_are_read(window: str) -> None:
    """Before: MONITOR_WINDOW=0s was taken, and the worker stopped only once its store was open
    (`monitor demo --window 0s` then ran its broker and traffic for nothing and exited 0)."""
    from monitor.settings_errors import describe_settings_error

    Settings(window="1s")
    with pytest.raises(ValueError) as caught:
        Settings(window=window)
    assert describe_settings_error(caught.value, {"window": "env"}) == (
        f"MONITOR_WINDOW={window!r}: expected a duration like 90s, 5m, 2h, 7d, at least 1s and "
        "at most 365d"
    )


@pytest.mark.parametrize(
    ("name", "bad", "choices"),
    [
        ("judge_api_key_header", "X-Api-Key", "'authorization', 'api-key'"),
        ("kafka_security_protocol", "TLS", "'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'"),
    ],
)
def test_a_setting_with_choices_names_the_bad_value_and_the_choices(
    monkeypatch: pytest.MonkeyPatch, name: str, bad: str, choices: str
) -> None:
    # before: MONITOR_KAFKA_SECURITY_PROTOCOL='TLS': expected a value (no choices named)
    monkeypatch.setenv(f"MONITOR_{name.upper()}", bad)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value) == f"MONITOR_{name.upper()}={bad!r}: expected one of {choices}"


def test_the_judge_key_header_defaults_to_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().judge_api_key_header == "authorization"
    monkeypatch.setenv("MONITOR_JUDGE_API_KEY_HEADER", "api-key")
    assert load_settings().judge_api_key_header == "api-key"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            "latency=100",
            (
                "shadow metric 'latency' is not one of agreement, similarity, semantic_similarity,"
                " error_rate, latency_ms, output_tokens, length_chars"
            ),
        ),
        ("agreement=-0.05", "'agreement=-0.05': the margin must be a number >= 0"),
    ],
)
def test_a_bad_shadow_margin_names_the_form_and_the_reason_once(
    monkeypatch: pytest.MonkeyPatch, bad: str, reason: str
) -> None:
    # before: MONITOR_SHADOW_MARGINS='latency=100': expected text (MONITOR_SHADOW_MARGINS: shadow
    # metric 'latency' is not one of ...): "text" is what it was, and the variable named twice
    monkeypatch.setenv("MONITOR_SHADOW_MARGINS", bad)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value) == (
        f"MONITOR_SHADOW_MARGINS={bad!r}: expected metric=margin pairs,"
        f" e.g. error_rate=0.01,latency_ms=100 ({reason})"
    )


@pytest.mark.parametrize(
    ("name", "bad", "form"),
    [
        ("app_id", "", "a Kafka name: 1 to 200 letters, digits, '.', '_' or '-'"),
        ("inference_topic", "", "a Kafka name: 1 to 200 letters, digits, '.', '_' or '-'"),
        ("judge_topic", "x/y", "a Kafka name: 1 to 200 letters, digits, '.', '_' or '-'"),
        ("partitions", "99999", "an integer >= 1 and <= 10000"),
        ("batch_within", "1e400", "a number > 0 and <= 60"),
    ],
)
def test_names_and_sizes_kafka_cannot_take_are_refused_at_start(
    name: str, bad: str, form: str
) -> None:
    """Before: an empty app id or topic, a topic with a '/', 10**400 partitions or an infinite
    batch wait were taken, and failed later (topic creation, the group join, a batch never cut)."""
    from monitor.settings_errors import describe_settings_error

    with pytest.raises(ValueError) as caught:
        Settings(**{name: bad})
    assert describe_settings_error(caught.value, {name: "env"}) == (
        f"MONITOR_{name.upper()}={bad!r}: expected {form}"
    )


@pytest.mark.parametrize(
    ("name", "bad", "line"),
    [
        (
            "segment_keys",
            [1, 2],
            'MONITOR_SEGMENT_KEYS: expected a JSON list, e.g. ["region"] (item 0 is 1)',
        ),
        (
            "stable_versions",
            {"support": 2},
            'MONITOR_STABLE_VERSIONS: expected a JSON object, e.g. {"key": "value"} (item support is 2)',
        ),
    ],
)
def test_a_bad_item_of_a_list_or_object_setting_gives_one_line_naming_the_setting(
    name: str, bad: object, line: str
) -> None:
    """Before: MONITOR_SEGMENT_KEYS=[1,2] gave two lines, MONITOR_SEGMENT_KEYS=1 and
    MONITOR_SEGMENT_KEYS=2, values the user never wrote."""
    from monitor.settings_errors import describe_settings_error

    with pytest.raises(ValueError) as caught:
        Settings(**{name: bad})
    assert describe_settings_error(caught.value, {name: "env"}) == line


def test_the_feedback_a_request_holds_is_bounded_from_1_to_100(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().max_feedback_per_request == 100
    monkeypatch.setenv("MONITOR_MAX_FEEDBACK_PER_REQUEST", "7")
    assert load_settings().max_feedback_per_request == 7
    for bad in ("0", "101"):
        monkeypatch.setenv("MONITOR_MAX_FEEDBACK_PER_REQUEST", bad)
        with pytest.raises(
            ConfigError,
            match=f"MONITOR_MAX_FEEDBACK_PER_REQUEST='{bad}': expected an integer >= 1 and <= 100",
        ):
            load_settings()


def test_the_joins_one_message_completes_fit_the_value_positions_of_its_offset() -> None:
    """Each joined outcome of an offset has a position of its own (ranks past the last would share
    one, and values that share a position cannot be cut into records the broker takes)."""
    most = Settings.model_fields["max_feedback_per_request"].metadata
    highest = next(m.le for m in most if getattr(m, "le", None) is not None)
    assert highest * MAX_EVENTS_PER_MESSAGE <= POSITIONS_PER_OFFSET


def test_the_values_a_segment_key_keeps_per_batch_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().max_segment_values == 100
    monkeypatch.setenv("MONITOR_MAX_SEGMENT_VALUES", "3")
    assert load_settings().max_segment_values == 3
    for bad in ("0", "100001", "many"):
        monkeypatch.setenv("MONITOR_MAX_SEGMENT_VALUES", bad)
        with pytest.raises(ConfigError, match=f"MONITOR_MAX_SEGMENT_VALUES='{bad}': expected"):
            load_settings()


def test_the_undeclared_experiments_kept_per_batch_and_reported_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().max_experiments == 50
    monkeypatch.setenv("MONITOR_MAX_EXPERIMENTS", "7")
    assert load_settings().max_experiments == 7
    for bad in ("0", "10001", "all"):
        monkeypatch.setenv("MONITOR_MAX_EXPERIMENTS", bad)
        with pytest.raises(ConfigError, match=f"MONITOR_MAX_EXPERIMENTS='{bad}': expected"):
            load_settings()
