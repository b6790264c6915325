"""ClickHouse schema of the monitor. ``migrate`` applies it idempotently at worker start.

``DDL`` creates what is missing; ``MIGRATIONS`` then change existing tables, in order, each
idempotent (``IF NOT EXISTS``), so a store created by an older version is brought up to date.

Tables whose rows are re-derived (windows, scores) use ReplacingMergeTree on ``updated_at``:
the latest row for a key wins, so rewriting a window never double counts. Read them with FINAL.
"""

from __future__ import annotations

from typing import NamedTuple

from monitor.catalogue import OUTCOME_METRICS, WINDOW_METRICS

__all__ = [
    "DDL",
    "LATENCY_HISTOGRAM",
    "MIGRATIONS",
    "OUTCOME_PREFIX",
    "PROPORTIONS",
    "SCALAR_MEAN_METRICS",
    "SKETCH_PREFIX",
    "WINDOW_PARTIALS",
    "Migration",
]

# Metrics whose window value is sum(total) / sum(count); the others are sums.
SCALAR_MEAN_METRICS = tuple(m.name for m in WINDOW_METRICS if m.kind == "mean")
OUTCOME_PREFIX = "outcome:"
# Outcome metrics that are proportions (Wilson interval); the other outcome metrics are means.
PROPORTIONS = tuple(m.name for m in OUTCOME_METRICS if m.kind == "proportion")
# The partials metric_windows is built from: the catalogue's counts, means and outcomes (the others,
# histograms, sketches, embedding sums, experiment and shadow partials, have tables of their own).
WINDOW_PARTIALS = (
    *(m.name for m in WINDOW_METRICS),
    *(OUTCOME_PREFIX + m.name for m in OUTCOME_METRICS),
)
LATENCY_HISTOGRAM = (
    "latency_hist"  # log-bucket histograms of stores written before sketches; ignored
)
# DDSketch bucket counts of latency and tokens: partial "sketch:latency_ms", bucket = the key.
SKETCH_PREFIX = "sketch:"

DDL = (
    "CREATE DATABASE IF NOT EXISTS {db}",
    # Partial aggregates, appended per consumed batch. The consumed offset travels in the same rows,
    # so one insert both adds the counts and records how far the source partition was read.
    """CREATE TABLE IF NOT EXISTS {db}.partials (
        src_topic LowCardinality(String),
        src_partition UInt32,
        last_offset Int64,
        window_start DateTime64(3, 'UTC'),
        window_seconds UInt32,
        model String,
        model_version String,
        name LowCardinality(String),
        bucket String,
        count Float64,
        total Float64,
        max_event_time DateTime64(3, 'UTC'),
        inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
        INDEX window_idx window_start TYPE minmax GRANULARITY 1,
        INDEX inserted_idx inserted_at TYPE minmax GRANULARITY 1
    ) ENGINE = MergeTree ORDER BY (src_topic, src_partition, last_offset)""",
    # Same columns, nothing stored: trial inserts that find the message behind a refused batch.
    "CREATE TABLE IF NOT EXISTS {db}.partials_probe AS {db}.partials ENGINE = Null",
    """CREATE TABLE IF NOT EXISTS {db}.metric_windows (
        window_start DateTime64(3, 'UTC'),
        window_end DateTime64(3, 'UTC'),
        model String,
        model_version String,
        metric LowCardinality(String),
        segment String DEFAULT '',
        value Float64,
        count Float64,
        numerator Float64 DEFAULT 0,
        low Nullable(Float64),
        high Nullable(Float64),
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (model, model_version, metric, segment, window_start)""",
    # Concept-drift detector state per source partition and model version, with the offset it covers.
    """CREATE TABLE IF NOT EXISTS {db}.detector_state (
        src_topic LowCardinality(String),
        src_partition UInt32,
        model String,
        model_version String,
        last_offset Int64,
        state String,
        updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = ReplacingMergeTree(last_offset) ORDER BY (src_topic, src_partition, model, model_version)""",
    """CREATE TABLE IF NOT EXISTS {db}.detector_events (
        detected_at DateTime64(3, 'UTC'),
        event_time DateTime64(3, 'UTC'),
        model String,
        model_version String,
        stream LowCardinality(String),
        detector LowCardinality(String),
        src_topic LowCardinality(String),
        src_partition UInt32,
        position UInt64,
        mean_before Nullable(Float64),
        mean_after Nullable(Float64),
        n_before UInt64 DEFAULT 0,
        n_after UInt64 DEFAULT 0
    ) ENGINE = ReplacingMergeTree ORDER BY (model, model_version, stream, detector, src_topic, src_partition, position)""",
    """CREATE TABLE IF NOT EXISTS {db}.alerts (
        fingerprint String,
        status LowCardinality(String),
        rule String,
        severity LowCardinality(String),
        model String,
        model_version String,
        starts_at DateTime64(3, 'UTC'),
        ends_at Nullable(DateTime64(3, 'UTC')),
        summary String,
        description String,
        recommended_action String,
        evidence String,
        runbook_url String,
        created_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(created_at) ORDER BY (fingerprint, starts_at, status)""",
    # Alert deliveries not yet acknowledged by their sink survive a restart: one 'pending' row per
    # (notification, sink) when the alert is recorded, one final row (delivered, given_up, duplicate)
    # when done. Pending = no final row; rows expire after 30 days.
    """CREATE TABLE IF NOT EXISTS {db}.alert_outbox (
        delivery_key String,
        sink LowCardinality(String),
        state LowCardinality(String),
        alert String,
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = MergeTree ORDER BY (sink, delivery_key, updated_at)
    TTL toDateTime(updated_at) + INTERVAL 30 DAY""",
    # The leader's alert state: rule trackers, open incidents and the last window evaluated.
    """CREATE TABLE IF NOT EXISTS {db}.alert_state (
        name String,
        state String,
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at) ORDER BY name""",
    # Each window's metrics against a reference: the baseline or the previous version.
    """CREATE TABLE IF NOT EXISTS {db}.metric_comparisons (
        window_start DateTime64(3, 'UTC'),
        model String,
        model_version String,
        metric LowCardinality(String),
        reference String,
        value Float64,
        reference_value Float64,
        difference Float64,
        diff_low Float64,
        diff_high Float64,
        p_value Float64,
        count Float64,
        reference_count Float64,
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (model, model_version, metric, reference, window_start)""",
    # Reference profiles; the active one per model version is the newest not deleted.
    """CREATE TABLE IF NOT EXISTS {db}.baselines (
        baseline_id String,
        model String,
        model_version String,
        created_at DateTime64(3, 'UTC'),
        source String,
        n UInt64,
        body String,
        deleted UInt8 DEFAULT 0,
        updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (model, model_version, baseline_id)""",
    # First events of a version without a baseline (features only, derived text features included).
    """CREATE TABLE IF NOT EXISTS {db}.baseline_samples (
        model String,
        model_version String,
        event_time DateTime64(3, 'UTC'),
        request_id String,
        record String
    ) ENGINE = ReplacingMergeTree ORDER BY (model, model_version, event_time, request_id)""",
    """CREATE TABLE IF NOT EXISTS {db}.drift_windows (
        window_start DateTime64(3, 'UTC'),
        window_end DateTime64(3, 'UTC'),
        model String,
        model_version String,
        feature String,
        baseline_id String,
        psi Nullable(Float64),
        kl Nullable(Float64),
        js Nullable(Float64),
        n_current UInt64,
        n_reference UInt64,
        severity LowCardinality(String),
        missing_rate Float64,
        type_violation_rate Float64,
        out_of_range_rate Float64,
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (model, model_version, feature, window_start, window_end)""",
    # A/B experiment reports, rewritten by the leader from the merged exp:* partials (docs/experiments.md):
    # one row per metric and segment, and a summary row per experiment with metric ''.
    """CREATE TABLE IF NOT EXISTS {db}.experiment_results (
        experiment String,
        metric LowCardinality(String),
        segment String,
        control String,
        treatment String,
        n_control Float64,
        n_treatment Float64,
        value_control Float64,
        value_treatment Float64,
        diff Float64,
        ci_low Float64,
        ci_high Float64,
        lift Float64,
        lift_ci_low Float64,
        lift_ci_high Float64,
        p_value Float64,
        significant UInt8,
        guardrail UInt8,
        harmed UInt8,
        primary UInt8,
        srm_p_value Float64,
        srm_sequential_p_value Float64,
        srm UInt8,
        decision LowCardinality(String),
        reason String,
        remaining_sample Nullable(Float64),
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (experiment, metric, segment)""",
    # Shadow comparisons, rewritten by the leader from the merged shadow:* partials (docs/experiments.md):
    # one row per shadow metric, and a summary row per comparison with metric ''. Never any text.
    """CREATE TABLE IF NOT EXISTS {db}.shadow_results (
        model String,
        production_version String,
        shadow_version String,
        metric LowCardinality(String),
        n Float64,
        value Float64,
        diff Float64,
        ci_low Float64,
        ci_high Float64,
        margin Nullable(Float64),
        status LowCardinality(String),
        pairs Float64,
        shadow_events Float64,
        shadow_error_rate Float64,
        verdict LowCardinality(String),
        reason String,
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (model, production_version, shadow_version, metric)""",
)


class Migration(NamedTuple):
    """A change that is not idempotent by itself: applied only while ``column`` of ``table`` is missing."""

    table: str
    column: str
    statement: str


# Applied in order after DDL by ``ClickHouseStore.migrate``, to new and old stores alike: plain statements
# are idempotent and run every time, a Migration runs once. Append only: never edit a released one.
MIGRATIONS: tuple[str | Migration, ...] = (
    # The events a drift row was scored on next to the window's inference events; partial when they differ.
    "ALTER TABLE {db}.drift_windows ADD COLUMN IF NOT EXISTS n_events UInt64 DEFAULT 0 AFTER n_reference",
    "ALTER TABLE {db}.drift_windows ADD COLUMN IF NOT EXISTS partial UInt8 DEFAULT 0 AFTER n_events",
    # The counts a detection's before and after means are over (0: written before they were stored).
    "ALTER TABLE {db}.detector_events ADD COLUMN IF NOT EXISTS n_before UInt64 DEFAULT 0 AFTER mean_after",
    "ALTER TABLE {db}.detector_events ADD COLUMN IF NOT EXISTS n_after UInt64 DEFAULT 0 AFTER n_before",
    # Offset markers carry the identity of the log they count in and its position epoch
    # (monitor/folding/offsets.py): a recreated topic or a broker that lost its log is detected, not skipped.
    "ALTER TABLE {db}.partials ADD COLUMN IF NOT EXISTS position_epoch UInt32 DEFAULT 0",
    "ALTER TABLE {db}.partials ADD COLUMN IF NOT EXISTS src_identity String DEFAULT ''",
    # The models and versions an experiment's requests ran on (monitor/experiments/report.py), so
    # dashboards filter experiments by model and version; rows written before are [] until the leader's
    # next refresh rewrites every report.
    "ALTER TABLE {db}.experiment_results ADD COLUMN IF NOT EXISTS models Array(String) AFTER remaining_sample",
    "ALTER TABLE {db}.experiment_results ADD COLUMN IF NOT EXISTS model_versions Array(String) AFTER models",
    # Detector state per epoch: a new epoch's lower offsets must not lose to the old epoch's (a sorting-key
    # column cannot have a DEFAULT expression; UInt32 reads 0 where absent).
    Migration(
        "detector_state",
        "position_epoch",
        "ALTER TABLE {db}.detector_state ADD COLUMN position_epoch UInt32, "
        "MODIFY ORDER BY (src_topic, src_partition, model, model_version, position_epoch)",
    ),
    # What a drift score rests on, in words: the grown topic of prompt_topic, the MMD² and centroid
    # distance of prompt_embedding against their calibrated thresholds (docs/embeddings.md).
    "ALTER TABLE {db}.drift_windows ADD COLUMN IF NOT EXISTS detail String DEFAULT '' AFTER partial",
)
