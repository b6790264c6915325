"""Run a user's SQL (``POST /query``) with ClickHouse's own read-only enforcement.

Five layers, each done by ClickHouse itself, none by matching text:

1. ``formatQuerySingleLine`` parses the statement with ClickHouse's parser: a syntax error or a
   second statement (``SELECT 1; DROP TABLE t``) is refused, comments are gone, and the
   canonical text it returns is what runs next.
2. ``EXPLAIN AST`` of that text (which parses, never executes) must be a SELECT (``WITH``,
   ``UNION``, ``INTERSECT``, ``EXCEPT`` included) and may use only generator table functions
   (``numbers``, ``zeros``, ``generateSeries``, ``values``, ``view``) and no ``file()`` scalar.
   ``readonly=1`` alone lets ``SELECT file('/etc/passwd')`` through, in chdb and in a server.
3. Parameters are bound by ClickHouse, never spliced into the text: only those that are
   ``{name:Type}`` placeholders of that canonical text are passed on (:func:`bound_parameters`).
   For a statement without placeholders clickhouse-connect formats parameters into the text client
   side (Python ``%``), so ``'%(x)s'`` in a literal took any SQL from ``x``, a second statement
   included, which embedded chdb ran before the check ever looked.
4. It runs as ``SELECT * FROM (<statement>)``: ``INTO OUTFILE`` (which embedded chdb executes
   even with ``readonly=1``) and ``FORMAT`` are syntax errors inside a subquery.
5. Per-query settings: ``readonly=1`` (no writes, no DDL, no ``SET``, no settings in the query,
   no table functions that reach files or the network), ``max_execution_time``,
   ``max_result_rows`` / ``max_result_bytes`` with ``result_overflow_mode='throw'`` and
   ``max_memory_usage``.

The queries run on a client of their own: with chdb a second connection handle to the same
engine (the handle's lock is not the ingest client's, and chdb releases the GIL while a query
runs), with a server a second HTTP client (its own session).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.binding import external_bind_re

from monitor.adapters.clickhouse_store import ClickHouseStore, QueryResult
from monitor.errors import StoreError

__all__ = [
    "SAFE_TABLE_FUNCTIONS",
    "QueryLimits",
    "QueryRefused",
    "ReadOnlyQueries",
    "bound_parameters",
    "refusal",
]

#: Table functions that only generate values from their arguments.
SAFE_TABLE_FUNCTIONS = frozenset(
    {
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "generateSeries",
        "generate_series",
        "values",
        "view",
    }
)
#: Scalar functions that reach outside the database even with ``readonly=1``.
DENIED_FUNCTIONS = frozenset({"file"})
SELECT_ROOTS = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery"})

_NODE = re.compile(r"^( *)(\w+)(?: (\S+))?")


class QueryRefused(StoreError):
    """The statement is not one read-only SELECT of the store; the message says why."""


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Limits of one ``/query`` statement, sent as ClickHouse settings with it."""

    max_execution_time: float = 30.0
    max_result_rows: int = 100_000
    max_result_bytes: int = 100_000_000
    max_memory_usage: int = 1 << 30

    def settings(self) -> dict[str, Any]:
        return {
            "readonly": 1,
            "max_execution_time": self.max_execution_time,
            "timeout_overflow_mode": "throw",
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_usage,
        }


def refusal(ast: Sequence[str]) -> str | None:
    """Why the statement whose ``EXPLAIN AST`` lines are ``ast`` may not run, or None.

    >>> refusal(["SelectWithUnionQuery (children 1)", " ExpressionList (children 1)"]) is None
    True
    >>> refusal(["KillQueryQuery Literal_UInt64_1 ASYNC (children 3)"])
    'only SELECT statements may run through /query, not KillQueryQuery'
    """
    if not ast:
        return "ClickHouse returned no syntax tree for the statement"
    root = _NODE.match(ast[0])
    if root is None or root.group(2) not in SELECT_ROOTS:
        kind = root.group(2) if root else ast[0].strip()
        return f"only SELECT statements may run through /query, not {kind}"
    parents: list[str] = []  # node kind at each depth of the current path
    for line in ast:
        node = _NODE.match(line)
        if node is None:
            continue
        depth, kind, name = len(node.group(1)), node.group(2), node.group(3) or ""
        del parents[depth:]
        if kind == "Function":
            if parents and parents[-1] == "TableExpression" and name not in SAFE_TABLE_FUNCTIONS:
                return (
                    f"table function {name}() is not allowed through /query "
                    f"(allowed: {', '.join(sorted(SAFE_TABLE_FUNCTIONS))})"
                )
            if name in DENIED_FUNCTIONS:
                return f"function {name}() is not allowed through /query: it reads outside the database"
        parents.append(kind)
    return None


def bound_parameters(statement: str, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``parameters`` ClickHouse binds to ``statement`` (the canonical text of
    :meth:`ReadOnlyQueries.single_statement`): those that are its ``{name:Type}`` placeholders,
    found as clickhouse-connect finds them to bind them on the server. The others are left out,
    as a server ignores a parameter a statement does not use; passed on, they would be formatted
    into a statement without placeholders, client side.

    >>> bound_parameters("SELECT {m:String}", {"m": "chat", "limit": 5})
    {'m': 'chat'}
    >>> bound_parameters("SELECT 'a%(x)s'", {"x": "; DROP TABLE t; SELECT "})
    {}
    """
    if not parameters:
        return {}
    placeholders = {name for name, _ in external_bind_re.findall(statement)}
    return {name: value for name, value in parameters.items() if name in placeholders}


class ReadOnlyQueries:
    """User SQL against the store, on a client of its own, refused unless it is one read-only SELECT."""

    def __init__(
        self,
        url: str,
        limits: QueryLimits | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.limits = limits or QueryLimits()
        self._store = ClickHouseStore(url, client_options)
        self._store.names_empty_results = True  # an answer of no rows still names its columns
        self._marker = (
            f"monitor-query-{uuid.uuid4().hex}"  # finds our running statements to cancel them
        )
        self._stopping = False

    @property
    def db(self) -> str:
        return self._store.db

    def connect(self) -> ReadOnlyQueries:
        self._store.connect()
        return self

    def close(self) -> None:
        self._store.close()

    def single_statement(self, sql: str) -> str:
        """ClickHouse's canonical text of ``sql``; QueryRefused unless it is exactly one statement."""
        try:
            result = self._store.query(
                "SELECT formatQuerySingleLine({sql:String})",
                {"sql": sql},
                settings=self.limits.settings(),
            )
        except StoreError as exc:
            raise QueryRefused(f"not one valid statement: {_clickhouse_message(exc)}") from None
        return str(result.rows[0][0])

    def check(self, sql: str, parameters: dict[str, Any] | None = None) -> str:
        """The statement to run (``SELECT * FROM (<canonical sql>)``); QueryRefused with the reason."""
        statement = self.single_statement(sql)
        try:
            ast = self._store.query(
                f"EXPLAIN AST {statement}",
                bound_parameters(statement, parameters),
                settings=self.limits.settings(),
            )
        except StoreError as exc:
            raise QueryRefused(
                f"ClickHouse refused the statement: {_clickhouse_message(exc)}"
            ) from None
        reason = refusal([str(row[0]) for row in ast.rows])
        if reason:
            raise QueryRefused(reason)
        return f"SELECT * FROM ({statement})"

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Run one read-only SELECT within the limits; QueryRefused or StoreError otherwise."""
        statement = f"/* {self._marker} */ {self.check(sql, parameters)}"
        if self._stopping:
            raise StoreError("the worker is stopping; no more queries")
        return self._store.query(
            statement, bound_parameters(statement, parameters), settings=self.limits.settings()
        )

    def stop(self, through: ClickHouseStore) -> None:
        """Refuse new statements and cancel the running ones (at shutdown), with ``through``'s
        client: this runner's own client is busy with them."""
        self._stopping = True
        through.command(
            "KILL QUERY WHERE query LIKE {marker:String} ASYNC", {"marker": f"%{self._marker}%"}
        )


def _clickhouse_message(exc: StoreError) -> str:
    """The ClickHouse part of a store error, without our wrapping prefix."""
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("ClickHouse query failed: ") else text
