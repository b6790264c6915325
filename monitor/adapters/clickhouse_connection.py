"""The connection to the aggregate store and its SQL primitives: ``command``, ``query``, ``insert``.

:class:`ClickHouseConnection` opens embedded ClickHouse (chdb) or a server through
clickhouse-connect, creates and migrates the schema, and keeps the owner's known positions
(:mod:`monitor.adapters.written_positions`) right around every statement; store failures become a
:class:`StoreError` that says whether retrying can help. :class:`~monitor.adapters.clickhouse_store.ClickHouseStore`
adds the partials, offsets and metric windows on top.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from monitor.adapters.schema import DDL, MIGRATIONS
from monitor.adapters.store_url import checked_identifier, parse_store_url, require_embedded_store
from monitor.adapters.written_positions import (
    ELIGIBILITY_SQL,
    PARTIALS_TABLE,
    WrittenPositions,
    forget_engine,
    markers_of,
    statement_effect,
    written_positions,
)
from monitor.errors import StoreError, StoreRefused
from monitor.redact import mask_text, mask_url

__all__ = [
    "REFUSAL_CODES",
    "RETRYABLE_CODES",
    "ClickHouseConnection",
    "QueryResult",
    "owner_only_directory",
    "store_error",
]

# ClickHouse error codes a later attempt can succeed after: timeouts, overload, quotas, network,
# disk, replicas.
RETRYABLE_CODES = frozenset(
    {3, 159, 201, 202, 203, 209, 210, 236, 241, 242, 243, 252, 285, 319, 425, 999}
)
# ClickHouse error codes of a user the server refuses (the credentials, a read-only profile, a grant):
# only a change of MONITOR_CLICKHOUSE_URL's user, password or grants fixes them.
REFUSAL_CODES = frozenset({164, 192, 193, 194, 195, 497, 516})
# UNKNOWN_TABLE, UNKNOWN_DATABASE: the store's tables were dropped or renamed under it; a worker
# creates them at start.
MISSING_CODES = frozenset({60, 81})
_CODE = re.compile(r"Code: (\d+)")
_HTTP_STATUS = re.compile(
    r"HTTP status (\d{3})"
)  # clickhouse-connect: an answer with no ClickHouse code
# The column types of an insert into an embedded store's table, so that it is not described before
# every insert (no other process alters those tables); forgotten by any statement that may change a schema.
_INSERT_TYPES: dict[tuple[str, str, tuple[str, ...]], list[Any]] = {}


def _server_code(exc: Exception) -> int | None:
    """ClickHouse's error code: clickhouse-connect's ``code`` (an HTTP error's header), else the
    ``Code: N.`` of the message (chdb, the native protocol)."""
    code = getattr(exc, "code", None)
    if isinstance(code, int) and not isinstance(code, bool) and code > 0:
        return code
    found = _CODE.search(str(exc))
    return int(found.group(1)) if found else None


def store_error(what: str, exc: Exception) -> StoreError:
    """A :class:`StoreError` that says whether retrying can help: outages yes, refused data no.

    >>> store_error("insert failed", TypeError("Integer exceeds 64-bit range")).retryable
    False
    >>> store_error("query failed", ValueError("Code: 159. DB::Exception: Timeout exceeded")).retryable
    True
    >>> type(store_error("insert failed", ValueError("Code: 497. DB::Exception: Not enough privileges")))
    <class 'monitor.errors.StoreRefused'>
    >>> store_error("insert failed", ValueError("HTTP driver received HTTP status 502")).retryable
    True
    """
    code = _server_code(exc)
    if code in REFUSAL_CODES:
        return StoreRefused(
            f"{what}: ClickHouse refused MONITOR_CLICKHOUSE_URL's user ({mask_text(str(exc))[:1500]}): "
            "give that user its password and the grants docs/SECURITY.md lists for the workers' user"
        )
    if code in MISSING_CODES:
        return StoreRefused(
            f"{what}: ClickHouse has no such table or database ({mask_text(str(exc))[:1500]}): "
            "it was dropped or renamed; a worker creates the store's tables when it starts"
        )
    status = _HTTP_STATUS.search(str(exc)) if code is None else None
    if status and int(status.group(1)) in (401, 403, 404, 407):  # a proxy in front, or the URL
        return StoreRefused(
            f"{what}: ClickHouse's HTTP endpoint at MONITOR_CLICKHOUSE_URL refused the request "
            f"({mask_text(str(exc))[:1500]}): check the URL's host, port and path, and the "
            "credentials a proxy in front of it wants"
        )
    if code is not None:
        retryable = code in RETRYABLE_CODES
    elif status:  # a proxy or a load balancer answering for the server: busy or gone for now
        retryable = int(status.group(1)) >= 500 or int(status.group(1)) == 429
    else:  # no server code: connection trouble is retryable, a value the client cannot encode is not
        retryable = isinstance(exc, (OSError, TimeoutError)) or type(exc).__name__ in (
            "OperationalError",
            "StreamClosedError",
        )
    return StoreError(f"{what}: {mask_text(str(exc))}"[:2000], retryable=retryable)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def _import_what_inserts_need() -> None:
    """clickhouse-connect imports pandas (when installed: chdb needs it) on the first insert, 0.2 to
    0.3 s here: done when the store connects, so that a worker's first batch does not wait for it."""
    from clickhouse_connect.driver import options

    getattr(options, "pd", None)  # the module resolves the attribute lazily; None without pandas


def owner_only_directory(directory: Path) -> None:
    """Create the embedded store's directory, or take an existing one of this OS user, as
    readable by that user only: its tables hold request ids, feature values, prompt topic words,
    outcomes and alerts, which the web token and the store secret (0600) keep from other local
    users too. A directory of another user is left as it is (this process cannot change it).
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if info.st_uid == os.geteuid() and info.st_mode & 0o077:
        directory.chmod(stat.S_IMODE(info.st_mode) & 0o700)


class ClickHouseConnection:
    """The connection under :class:`~monitor.adapters.clickhouse_store.ClickHouseStore`: blocking,
    call it from one thread (the worker uses a dedicated executor)."""

    def __init__(self, url: str, client_options: dict[str, Any] | None = None) -> None:
        """``client_options``: password, CA and client certificate for a server, from
        ``client_security.clickhouse_client_options(settings)``."""
        self.url = url
        self.client_options = dict(client_options or {})
        self.target = parse_store_url(url)
        self.db = self.target.database
        self._client: Any = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def connect(self) -> Self:
        import clickhouse_connect

        if self.target.kind == "chdb":
            require_embedded_store(self.url)
        self._forget_engine()  # what happened to the store while this process did not have it open
        try:
            if self.target.kind == "chdb":
                assert self.target.path is not None
                owner_only_directory(self.target.path)
                self._client = clickhouse_connect.get_client(dsn=f"chdb://{self.target.path}")
            else:
                self._client = clickhouse_connect.get_client(**self.server_options())
        except Exception as exc:  # noqa: BLE001 - clickhouse-connect and chdb raise many types; re-raised masked
            detail = mask_text(str(exc), secrets=[self.server_options().get("password")])
            raise StoreError(f"cannot open ClickHouse at {mask_url(self.url)}: {detail}") from None
        _import_what_inserts_need()
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

    # An empty result names no columns (ClickHouse's Native format sends no block for no rows):
    # True asks for them apart, for the readers whose CSV and tables print a header whatever the
    # rows (the CLI's, /query's). The worker's own reads never need them.
    names_empty_results = False

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
        columns = list(result.column_names)
        if not columns and self.names_empty_results and effect == "read":
            columns = self._result_columns(sql, parameters, settings)
        return QueryResult(columns, [tuple(r) for r in result.result_rows])

    def _result_columns(
        self, sql: str, parameters: dict[str, Any] | None, settings: dict[str, Any] | None
    ) -> list[str]:
        """The column names of a SELECT's result, asked without running it (``DESCRIBE``); none for
        a statement that DESCRIBE does not take (SHOW, EXPLAIN ...), as before."""
        try:
            with self._lock:
                described = self.client.query(
                    f"DESCRIBE TABLE ({sql})", parameters=parameters, settings=settings
                )
        except Exception:  # noqa: BLE001 - clickhouse-connect and chdb raise many types; names are extra
            return []
        return [str(row[0]) for row in described.result_rows]

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
        return f"{self.db}.{checked_identifier(name, 'table name')}"

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
