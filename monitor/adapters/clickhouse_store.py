"""The aggregate store: ClickHouse through clickhouse-connect, embedded (``chdb://``) or a server.

``chdb:///abs/path`` or ``chdb://relative/path`` opens embedded ClickHouse in that directory;
``http(s)://user:password@host:8123/database`` talks to a server with the same SQL. Every value
in a query is bound as a parameter; only table names (checked identifiers) are formatted in.
The URL is parsed in :mod:`monitor.adapters.store_url`, the connection and the SQL primitives live in
:mod:`monitor.adapters.clickhouse_connection`; this module adds the partials, their offset markers and
the metric windows, and is the store every other module imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.adapters.clickhouse_connection import ClickHouseConnection, QueryResult, store_error
from monitor.adapters.partial_columns import (
    OFFSET_MARKER,
    PARTIAL_COLUMNS,
    POSITION_COLUMNS,
    partial_columns,
)
from monitor.adapters.schema import (
    OUTCOME_PREFIX,
    PROPORTIONS,
    SCALAR_MEAN_METRICS,
    WINDOW_PARTIALS,
)
from monitor.adapters.store_url import StoreURL, parse_store_url
from monitor.adapters.written_positions import NEVER
from monitor.contract.timestamps import utc_datetime
from monitor.errors import PositionMoved
from monitor.folding.partials import Partial
from monitor.folding.pipeline import Position
from monitor.outcomes.intervals import wilson_sql

__all__ = [
    "OFFSET_MARKER",
    "PARTIAL_COLUMNS",
    "PROBE_TABLE",
    "ClickHouseStore",
    "QueryResult",
    "StoreURL",
    "parse_store_url",
    "read_watermark",
    "store_error",
]

PROBE_TABLE = (
    "partials_probe"  # a Null-engine twin of partials: inserts are encoded and checked, never kept
)


def read_watermark(reader: Any, partials_table: str) -> float:
    """The newest event time any source partition has been written up to (0.0 before any write),
    through anything with ``query(sql, parameters)``: a store, or the worker's query endpoint."""
    value = reader.query(
        f"SELECT toFloat64(max(max_event_time)) FROM {partials_table} WHERE name = {{marker:String}}",
        {"marker": OFFSET_MARKER},
    ).rows[0][0]
    return float(value or 0.0)


class ClickHouseStore(ClickHouseConnection):
    """Blocking store client; call it from one thread (the worker uses a dedicated executor)."""

    # -- partials and offsets -----------------------------------------------------------------
    def write_batch(
        self,
        partials_by_source: dict[tuple[str, int], tuple[int, float, list[Partial]]],
        logs: Mapping[tuple[str, int], tuple[int, str]] | None = None,
        expected: Mapping[tuple[str, int], tuple[int, int]] | None = None,
    ) -> int:
        """Append one consumed batch in ONE insert: partials plus an offset marker per source partition.

        ``partials_by_source[(topic, partition)] = (last_offset, watermark, partials)``;
        ``logs[(topic, partition)] = (position epoch, log identity)`` the offsets count in
        (see :mod:`monitor.folding.offsets`), epoch 0 and unknown identity when absent. With ``expected``
        (``(epoch, last offset)`` of each source when the batch was prepared) the insert happens
        only if no source moved meanwhile, else :class:`PositionMoved` (:meth:`insert_at_positions`).
        """
        columns = partial_columns(partials_by_source, logs or {})
        names = [*PARTIAL_COLUMNS, *POSITION_COLUMNS]
        if expected is None:
            self.insert("partials", columns, names, column_oriented=True)
        else:
            self.insert_at_positions(columns, names, expected, column_oriented=True)
        return len(columns[0])

    def insert_at_positions(
        self,
        data: Sequence[Sequence[Any]],
        columns: Sequence[str],
        expected: Mapping[tuple[str, int], tuple[int, int]],
        *,
        column_oriented: bool = False,
    ) -> None:
        """Insert partial rows (or columns) only if every source partition is still at its expected
        ``(epoch, last offset)`` (a new epoch not written yet is at offset -1).

        Check and insert run back to back on the caller's thread; on an embedded store every write
        goes through its owner's single store thread (remote workers included), so nothing can
        write in between, and the owner checks against the positions it has read or written
        (:mod:`monitor.adapters.written_positions`), querying only those it does not know. On a
        ClickHouse server the check queries, and narrows but cannot close the window between two
        workers that both believe they own a partition during a rebalance.
        """
        cache = self._written()
        if cache is None:
            self._check_positions(self.positions(list(expected)), expected)
            self.insert("partials", data, columns, column_oriented=column_oriented)
            return
        with cache.lock:  # check and insert with nothing else written or learnt in between
            known = cache.known(expected)
            stored = {
                s: Position(-1, 0.0) if marker == NEVER else Position(marker[1], 0.0, marker[0])
                for s, marker in known.items()
            }
            missing = [s for s in expected if s not in known]
            if missing:
                stored.update(self.positions(missing))
            self._check_positions(stored, expected)
            self.insert("partials", data, columns, column_oriented=column_oriented)

    @staticmethod
    def _check_positions(
        stored_positions: Mapping[tuple[str, int], Position],
        expected: Mapping[tuple[str, int], tuple[int, int]],
    ) -> None:
        moved = {}
        for (topic, partition), (epoch, last) in expected.items():
            stored = stored_positions[(topic, partition)]
            if (stored.epoch, stored.last_offset) != (epoch, last) and not (
                stored.epoch < epoch and last == -1
            ):
                moved[(topic, partition)] = stored
        if moved:
            where = ", ".join(
                f"{t}/{p} at epoch {s.epoch} offset {s.last_offset} (expected epoch {expected[(t, p)][0]} "
                f"offset {expected[(t, p)][1]})"
                for (t, p), s in moved.items()
            )
            raise PositionMoved(
                f"the batch was not written: its source moved on meanwhile: {where}"
            )

    def probe_batch(
        self, partials_by_source: dict[tuple[str, int], tuple[int, float, list[Partial]]]
    ) -> None:
        """Encode and send the columns of :meth:`write_batch` to a Null table: raises what the real insert
        would, keeps nothing (how the worker finds the message behind an insert the store refuses)."""
        columns = partial_columns(partials_by_source, None)
        self.insert(PROBE_TABLE, columns, PARTIAL_COLUMNS, column_oriented=True)

    def position(self, topic: str, partition: int) -> Position:
        """The stored position of a source partition: its newest epoch's last offset and identity, and
        the watermark over all epochs; ``Position(-1, 0.0)`` when never written."""
        return self.positions([(topic, partition)])[(topic, partition)]

    def positions(self, sources: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Position]:
        """:meth:`position` of several source partitions in one query (one per batch, not per source)."""
        if not sources:
            return {}
        cache = self._written()
        generation = cache.generation if cache is not None else 0
        rows = self.query(
            f"SELECT src_topic, src_partition, position_epoch, max(last_offset), "
            f"argMax(src_identity, last_offset), toFloat64(max(max_event_time)) "
            f"FROM {self.table('partials')} "
            # two arrays, not an array of tuples: parameters reach a remote owner as JSON (no tuples)
            "WHERE has(arrayZip({topics:Array(String)}, {partitions:Array(UInt32)}), "
            "(src_topic, src_partition)) "
            "AND name = {marker:String} "
            "GROUP BY src_topic, src_partition, position_epoch ORDER BY position_epoch",
            {
                "topics": [t for t, _ in sources],
                "partitions": [p for _, p in sources],
                "marker": OFFSET_MARKER,
            },
        ).rows
        by_source: dict[tuple[str, int], list[Sequence[Any]]] = {}
        for row in rows:
            by_source.setdefault((str(row[0]), int(row[1])), []).append(row[2:])
        found = {}
        for source in sources:
            epochs = by_source.get((source[0], source[1]))
            if not epochs:
                found[source] = Position(-1, 0.0)
                continue
            epoch, last, identity, _ = epochs[-1]
            found[source] = Position(
                int(last), max(float(r[3]) for r in epochs), int(epoch), str(identity)
            )
        if cache is not None:  # kept only if nothing was written or forgotten while it ran
            cache.learn(
                {
                    s: (p.epoch, p.last_offset) if s in by_source else NEVER
                    for s, p in found.items()
                },
                generation,
            )
        return found

    def read_position(self, topic: str, partition: int) -> tuple[int, float]:
        """(last offset written, watermark) of a source partition; (-1, 0.0) when never written."""
        stored = self.position(topic, partition)
        return stored.last_offset, stored.watermark

    def refresh_metric_windows(self, changed_since: float) -> int:
        """Rewrite the metric windows touched by partials inserted after ``changed_since``.

        Counts are sums; ``latency_ms`` and tokens are means; ``outcome:*`` partials become rates
        (with a 95% Wilson interval) or means, per segment. Rewriting is idempotent: latest wins.
        """
        partials = self.table("partials")
        scalar = "has({kept:Array(String)}, name)"  # the catalogue's metrics, nothing internal
        params = {"kept": list(WINDOW_PARTIALS)}
        oldest = self.query(
            f"SELECT count(), toFloat64(min(window_start)) FROM {partials} "
            f"WHERE inserted_at >= {{since:DateTime64(3)}} AND {scalar}",
            {"since": utc_datetime(changed_since), **params},
        ).rows[0]
        if not oldest[0]:
            return 0
        low, high = wilson_sql("p", "n")  # the 95% Wilson interval of monitor.outcomes.intervals
        self.command(
            f"INSERT INTO {self.table('metric_windows')} "
            "(window_start, window_end, model, model_version, metric, segment, value, count, numerator, low, high, "
            "updated_at) SELECT window_start, window_end, model, model_version, metric, segment, "
            "if(kind = 'sum', total, total / n), n, total, "
            f"if(kind = 'rate', {low}, NULL), if(kind = 'rate', {high}, NULL), "
            "now64(3) FROM (SELECT window_start, window_start + toIntervalSecond(any(window_seconds)) AS window_end, "
            "model, model_version, replaceOne(name, {outcome:String}, '') AS metric, bucket AS segment, "
            "sum(total) AS total, sum(count) AS n, total / n AS p, "
            "multiIf(startsWith(name, {outcome:String}) AND has({rates:Array(String)}, metric), 'rate', "
            "startsWith(name, {outcome:String}) OR has({means:Array(String)}, name), 'mean', 'sum') AS kind "
            f"FROM {partials} WHERE window_start >= {{oldest:DateTime64(3)}} AND {scalar} "
            "GROUP BY window_start, model, model_version, name, bucket)",
            {
                "means": list(SCALAR_MEAN_METRICS),
                "oldest": utc_datetime(oldest[1]),
                "outcome": OUTCOME_PREFIX,
                "rates": list(PROPORTIONS),
                **params,
            },
        )
        return int(oldest[0])

    def watermark(self) -> float:
        """The newest event time any source partition has been written up to."""
        return read_watermark(self, self.table("partials"))

    def write_clock(self, src_topic: str | None = None) -> tuple[float, float | None]:
        """(newest event time written, seconds since any source partition was last written on the
        store's clock, ``None`` if never), of every source topic or of ``src_topic``: what the
        leader closes windows by, in one query."""
        topic = "" if src_topic is None else "AND src_topic = {topic:String} "
        watermark, n, age = self.query(
            f"SELECT toFloat64(max(max_event_time)), count(), toFloat64(now64(3)) - toFloat64(max(inserted_at)) "
            f"FROM {self.table('partials')} WHERE name = {{marker:String}} {topic}",
            {"marker": OFFSET_MARKER, "topic": src_topic or ""},
        ).rows[0]
        return float(watermark or 0.0), (float(age) if n else None)
