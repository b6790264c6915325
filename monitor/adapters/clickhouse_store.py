"""The aggregate store: ClickHouse through clickhouse-connect, embedded (``chdb://``) or a server.

``chdb:///abs/path`` or ``chdb://relative/path`` opens embedded ClickHouse in that directory;
``http(s)://user:password@host:8123/database`` talks to a server with the same SQL. Every value
in a query is bound as a parameter; only table names (checked identifiers) are formatted in.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from monitor.adapters.partial_columns import (
    OFFSET_MARKER,
    PARTIAL_COLUMNS,
    POSITION_COLUMNS,
    partial_columns,
)
from monitor.adapters.schema import (
    DDL,
    LATENCY_HISTOGRAM,
    MIGRATIONS,
    OUTCOME_PREFIX,
    PROPORTIONS,
    SCALAR_MEAN_METRICS,
)
from monitor.adapters.written_positions import (
    ELIGIBILITY_SQL,
    NEVER,
    PARTIALS_TABLE,
    WrittenPositions,
    forget_engine,
    markers_of,
    statement_effect,
    written_positions,
)
from monitor.contract.timestamps import utc_datetime
from monitor.errors import ConfigError, PositionMoved, StoreError
from monitor.folding.partials import Partial
from monitor.folding.pipeline import Position
from monitor.redact import mask_text, mask_url

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

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PROBE_TABLE = (
    "partials_probe"  # a Null-engine twin of partials: inserts are encoded and checked, never kept
)
# ClickHouse error codes a later attempt can succeed after: timeouts, overload, network, disk, replicas.
RETRYABLE_CODES = frozenset(
    {3, 159, 164, 202, 203, 209, 210, 236, 241, 242, 243, 252, 285, 319, 425, 999}
)
_CODE = re.compile(r"Code: (\d+)")
# The column types of an insert into an embedded store's table, so that it is not described before
# every insert (no other process alters those tables); forgotten by any statement that may change a schema.
_INSERT_TYPES: dict[tuple[str, str, tuple[str, ...]], list[Any]] = {}


def store_error(what: str, exc: Exception) -> StoreError:
    """A :class:`StoreError` that says whether retrying can help: outages yes, refused data no.

    >>> store_error("insert failed", TypeError("Integer exceeds 64-bit range")).retryable
    False
    >>> store_error("query failed", ValueError("Code: 159. DB::Exception: Timeout exceeded")).retryable
    True
    """
    code = _CODE.search(str(exc))
    if code:
        retryable = int(code.group(1)) in RETRYABLE_CODES
    else:  # no server code: connection trouble is retryable, a value the client cannot encode is not
        retryable = isinstance(exc, (OSError, TimeoutError)) or type(exc).__name__ in (
            "OperationalError",
            "StreamClosedError",
        )
    return StoreError(f"{what}: {mask_text(str(exc))}"[:2000], retryable=retryable)


def read_watermark(reader: Any, partials_table: str) -> float:
    """The newest event time any source partition has been written up to (0.0 before any write),
    through anything with ``query(sql, parameters)``: a store, or the worker's query endpoint."""
    value = reader.query(
        f"SELECT toFloat64(max(max_event_time)) FROM {partials_table} WHERE name = {{marker:String}}",
        {"marker": OFFSET_MARKER},
    ).rows[0][0]
    return float(value or 0.0)


@dataclass(frozen=True)
class StoreURL:
    kind: str  # "chdb" or "http"
    database: str
    path: Path | None = None
    host: str = ""
    port: int = 8123
    username: str = "default"
    password: str = ""
    secure: bool = False


def parse_store_url(url: str) -> StoreURL:
    """Parse ``MONITOR_CLICKHOUSE_URL``.

    >>> parse_store_url("chdb://.monitor-data/ch").path.name
    'ch'
    >>> parse_store_url("https://u:p@host/analytics").database, parse_store_url("https://u:p@host/a").port
    ('analytics', 8443)
    """
    if url.startswith("chdb://"):
        rest = url[len("chdb://") :]
        path_part, _, query = rest.partition("?")
        database = parse_qs(query).get("database", ["monitor"])[0]
        if not path_part:
            raise ConfigError(
                f"{url!r}: chdb URL needs a data directory, e.g. chdb://.monitor-data/clickhouse"
            )
        return StoreURL("chdb", _identifier(database), path=Path(path_part).expanduser().resolve())
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise ConfigError(
            f"{mask_url(url)!r}: ClickHouse URL must start with chdb://, http:// or https://"
        )
    secure = parsed.scheme == "https"
    return StoreURL(
        "http",
        _identifier(parsed.path.strip("/") or "monitor"),
        host=parsed.hostname or "localhost",
        port=parsed.port or (8443 if secure else 8123),
        username=unquote(parsed.username or "default"),
        password=unquote(parsed.password or ""),
        secure=secure,
    )


def require_embedded_store(url: str) -> None:
    """Raise :class:`StoreError` naming the extra when chdb (the embedded ClickHouse) is not installed."""
    import importlib.util

    if importlib.util.find_spec("chdb") is None:
        raise StoreError(
            f"{url} is an embedded store, which needs chdb: pip install 'llm-drift-monitor[embedded]' "
            "(or set MONITOR_CLICKHOUSE_URL=http(s)://user:password@host:8123/db for a server)"
        )


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"database name {name!r} must match {_IDENTIFIER.pattern}")
    return name


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


class ClickHouseStore:
    """Blocking store client; call it from one thread (the worker uses a dedicated executor)."""

    def __init__(self, url: str, client_options: dict[str, Any] | None = None) -> None:
        """``client_options``: password, CA and client certificate for a server, from
        ``client_security.clickhouse_client_options(settings)``."""
        self.url = url
        self.client_options = dict(client_options or {})
        self.target = parse_store_url(url)
        self.db = self.target.database
        self._client: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def resolve_insert_libraries() -> None:
        """Let clickhouse-connect look for pandas now: it does at the first insert otherwise, to
        check whether the rows are a DataFrame (a 0.2-0.4 s import inside a worker's first batch)."""
        from clickhouse_connect.driver import options

        options.pd  # noqa: B018 - the module's __getattr__ imports it once

    # -- lifecycle -------------------------------------------------------------------------
    def connect(self) -> ClickHouseStore:
        import clickhouse_connect

        if self.target.kind == "chdb":
            require_embedded_store(self.url)
        self._forget_engine()  # what happened to the store while this process did not have it open
        try:
            if self.target.kind == "chdb":
                assert self.target.path is not None
                self.target.path.mkdir(parents=True, exist_ok=True)
                self._client = clickhouse_connect.get_client(dsn=f"chdb://{self.target.path}")
            else:
                self._client = clickhouse_connect.get_client(**self.server_options())
        except Exception as exc:  # noqa: BLE001 - clickhouse-connect and chdb raise many types; re-raised masked
            detail = mask_text(str(exc), secrets=[self.server_options().get("password")])
            raise StoreError(f"cannot open ClickHouse at {mask_url(self.url)}: {detail}") from None
        return self

    def server_options(self) -> dict[str, Any]:
        """The keyword arguments of ``clickhouse_connect.get_client`` for a server URL."""
        return {
            "host": self.target.host,
            "port": self.target.port,
            "username": self.target.username,
            "password": self.target.password,
            "secure": self.target.secure,
            **self.client_options,
        }

    @property
    def client(self) -> Any:
        if self._client is None:
            self.connect()
        return self._client

    def migrate(self, extra_ddl: Sequence[str] = ()) -> None:
        """Create the database and tables if missing, then apply the migrations (idempotent)."""
        for statement in DDL:
            self.command(statement.format(db=self.db))
        for migration in MIGRATIONS:
            if isinstance(migration, str):
                self.command(migration.format(db=self.db))
            elif not self.query(
                "SELECT count() FROM system.columns WHERE database = {db:String} AND table = {table:String} "
                "AND name = {column:String}",
                {"db": self.db, "table": migration.table, "column": migration.column},
            ).rows[0][0]:
                self.command(migration.statement.format(db=self.db))
        for statement in extra_ddl:
            self.command(statement.format(db=self.db))

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None
                self._forget_engine()

    # -- what the owner of an embedded store knows without a query (monitor.adapters.written_positions)
    caches_positions = True  # False in a store whose writes run in another process (RemoteStore)

    def _engine(self) -> str | None:
        """The engine path of an embedded store whose writes run in this process, else None."""
        if self.target.kind != "chdb" or not self.caches_positions:
            return None
        return str(self.target.path)

    def _forget_engine(self) -> None:
        _INSERT_TYPES.clear()
        engine = self._engine()
        if engine is not None:
            forget_engine(engine)

    def _written(self) -> WrittenPositions | None:
        """The known positions of this store's database, or None where they cannot be kept exact."""
        engine = self._engine()
        if engine is None:
            return None
        cache = written_positions(engine, self.db)
        with cache.lock:
            if cache.eligible is None:
                ttl, writers = self.query(ELIGIBILITY_SQL, {"db": self.db}).rows[0]
                cache.eligible = not ttl and not writers
            return cache if cache.eligible else None

    def _statement_ran(self, effect: str) -> None:
        """Forget what a statement may have changed (called before it runs and after)."""
        if effect in ("schema", "any"):
            _INSERT_TYPES.clear()
        engine = self._engine()
        if effect == "any" and engine is not None:
            forget_engine(engine)

    # -- primitives ------------------------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        effect = statement_effect(sql)
        self._statement_ran(effect)
        try:
            with self._lock:
                try:
                    return self.client.command(sql, parameters=parameters)
                except Exception as exc:
                    raise store_error("ClickHouse command failed", exc) from exc
        finally:
            self._statement_ran(effect)

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> QueryResult:
        effect = statement_effect(sql)
        if effect != "read":  # a write sent as a query
            self._statement_ran(effect)
        try:
            with self._lock:
                try:
                    result = self.client.query(sql, parameters=parameters, settings=settings)
                except Exception as exc:
                    raise store_error("ClickHouse query failed", exc) from exc
        finally:
            if effect != "read":
                self._statement_ran(effect)
        return QueryResult(list(result.column_names), [tuple(r) for r in result.result_rows])

    def insert(
        self,
        table: str,
        data: Sequence[Sequence[Any]],
        columns: Sequence[str],
        *,
        column_oriented: bool = False,
    ) -> None:
        """Insert rows, or with ``column_oriented`` one sequence per column."""
        if not (data[0] if column_oriented and data else data):
            return
        cache = self._written() if table == PARTIALS_TABLE else None
        if cache is None:
            self._insert(table, data, columns, column_oriented)
            return
        markers = markers_of(data, columns, column_oriented)
        with cache.lock:  # nothing learns a position while the insert runs
            try:
                self._insert(table, data, columns, column_oriented)
            except BaseException:  # it may or may not have been written
                cache.forget(None if markers is None else list(markers))
                raise
            cache.written(markers)

    def _insert(
        self,
        table: str,
        data: Sequence[Sequence[Any]],
        columns: Sequence[str],
        column_oriented: bool,
    ) -> None:
        key = (self.url, self.table(table), tuple(columns))
        with self._lock:
            try:
                types = _INSERT_TYPES.get(key)
                if types is None and self.target.kind == "chdb":
                    context = self.client.create_insert_context(
                        self.table(table), column_names=list(columns)
                    )
                    types = _INSERT_TYPES[key] = list(context.column_types)
                self.client.insert(
                    self.table(table),
                    data,
                    column_names=list(columns),
                    column_types=types,
                    column_oriented=column_oriented,
                )
            except Exception as exc:
                raise store_error(f"ClickHouse insert into {table} failed", exc) from exc

    def table(self, name: str) -> str:
        return f"{self.db}.{_identifier(name)}"

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
        scalar = (
            "name != {marker:String} AND NOT startsWith(name, 'hist:') AND NOT startsWith(name, 'dq:') "
            "AND NOT startsWith(name, '__') AND NOT startsWith(name, 'sketch:') AND NOT startsWith(name, 'exp:') "
            "AND NOT startsWith(name, 'shadow:') "
            "AND name != {latency:String}"
        )
        params = {"marker": OFFSET_MARKER, "latency": LATENCY_HISTOGRAM}
        oldest = self.query(
            f"SELECT count(), toFloat64(min(window_start)) FROM {partials} "
            f"WHERE inserted_at >= {{since:DateTime64(3)}} AND {scalar}",
            {"since": utc_datetime(changed_since), **params},
        ).rows[0]
        if not oldest[0]:
            return 0
        # Wilson score interval at 95%: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
        z2 = "3.841458820694124"
        wilson = (
            f"(p + {z2} / (2 * n) {{sign}} sqrt({z2}) * sqrt(p * (1 - p) / n + {z2} / (4 * n * n))) "
            f"/ (1 + {z2} / n)"
        )
        self.command(
            f"INSERT INTO {self.table('metric_windows')} "
            "(window_start, window_end, model, model_version, metric, segment, value, count, numerator, low, high, "
            "updated_at) SELECT window_start, window_end, model, model_version, metric, segment, "
            "if(kind = 'sum', total, total / n), n, total, "
            f"if(kind = 'rate', {wilson.format(sign='-')}, NULL), if(kind = 'rate', {wilson.format(sign='+')}, NULL), "
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

    def write_clock(self) -> tuple[float, float | None]:
        """(newest event time written, seconds since any source partition was last written on the
        store's clock, ``None`` if never): what the leader closes windows by, in one query."""
        watermark, n, age = self.query(
            f"SELECT toFloat64(max(max_event_time)), count(), toFloat64(now64(3)) - toFloat64(max(inserted_at)) "
            f"FROM {self.table('partials')} WHERE name = {{marker:String}}",
            {"marker": OFFSET_MARKER},
        ).rows[0]
        return float(watermark or 0.0), (float(age) if n else None)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.query("SELECT 1")
                return
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
