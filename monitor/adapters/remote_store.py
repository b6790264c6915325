"""Share one embedded store between local workers: the owner serves it, the others call it.

chdb lets one process open a data directory. The first worker to take the directory's lock owns
it and serves ``POST /store`` on its web port to loopback peers that send the directory's secret
(``monitor.adapters.store_secret``); every other worker on the machine uses a :class:`RemoteStore`
with the same interface. A ClickHouse server needs none of this.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

from monitor.adapters.clickhouse_store import ClickHouseStore, QueryResult
from monitor.errors import PositionMoved, StoreError, StoreRefused, is_retryable

__all__ = [
    "RemoteStore",
    "StoreLock",
    "decode_value",
    "encode_value",
    "handle_store_call",
    "store_error_reply",
]

_DT = "$dt"


def encode_value(value: Any) -> Any:
    """JSON-safe form of store values, of every type clickhouse-connect returns: datetimes become
    ``{"$dt": epoch}``, dates and times of day ISO text, durations (``Time``) seconds, decimals, UUIDs
    and IP addresses text, bytes (``FixedString``) text with any byte that is not UTF-8 as ``\\xNN``,
    tuples lists, map keys text. Anything else comes back as it is.

    >>> from decimal import Decimal
    >>> from ipaddress import ip_address
    >>> encode_value([ip_address("::1"), Decimal("1.50"), b"ab\\xff", {1: date(2026, 1, 2)}])
    ['::1', '1.50', 'ab\\\\xff', {'1': '2026-01-02'}]
    """
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return {_DT: aware.timestamp()}
    if isinstance(value, (date, time_of_day)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, _TEXTUAL):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {_key(k): encode_value(v) for k, v in value.items()}
    return value


_TEXTUAL = (Decimal, UUID, IPv4Address, IPv6Address)


def _key(key: Any) -> str:
    """A map key as JSON object keys are: text (a tuple or an array as its JSON)."""
    if isinstance(key, str):
        return key
    if isinstance(key, datetime):
        return key.isoformat(sep=" ")
    encoded = encode_value(key)
    return encoded if isinstance(encoded, str) else json.dumps(encoded, separators=(",", ":"))


def decode_value(value: Any, *, naive: bool = False) -> Any:
    """The store values of :func:`encode_value`'s form; ValueError for a ``{"$dt": ...}`` that is
    not a time (a caller's mistake, answered 400, not a server error).

    >>> decode_value({"since": {"$dt": 0}})["since"].isoformat()
    '1970-01-01T00:00:00+00:00'
    >>> decode_value({"$dt": "yesterday"})
    Traceback (most recent call last):
    ...
    ValueError: {"$dt": ...} takes seconds since the epoch, not 'yesterday'
    """
    if isinstance(value, dict):
        if set(value) == {_DT}:
            moment = _moment(value[_DT])
            return moment.replace(tzinfo=None) if naive else moment
        return {k: decode_value(v, naive=naive) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v, naive=naive) for v in value]
    return value


def _moment(seconds: Any) -> datetime:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(  # noqa: TRY004 - a bad value of the caller's: answered 400 as such
            f'{{"$dt": ...}} takes seconds since the epoch, not {seconds!r}'
        )
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f'{{"$dt": {seconds!r}}} is not a time a datetime holds') from None


def handle_store_call(store: ClickHouseStore, body: dict[str, Any]) -> dict[str, Any]:
    """Run one remote call on the owner's store; raises StoreError or ValueError."""
    op = body.get("op")
    params = decode_value(body.get("parameters")) or None
    if op == "command":
        store.command(str(body["sql"]), params)
        return {}
    if op == "query":
        result = store.query(str(body["sql"]), params)
        return {"columns": result.columns, "rows": encode_value([list(r) for r in result.rows])}
    # the data: "rows", or one list per column with "column_oriented"
    column_oriented = bool(body.get("column_oriented", False))
    if op == "insert":
        store.insert(
            str(body["table"]),
            decode_value(body["rows"]),
            list(body["columns"]),
            column_oriented=column_oriented,
        )
        return {}
    if op == "insert_at_positions":  # check and insert in one call on the owner's store thread
        expected = {
            (str(t), int(p)): (int(epoch), int(last)) for t, p, epoch, last in body["expected"]
        }
        store.insert_at_positions(
            decode_value(body["rows"]),
            list(body["columns"]),
            expected,
            column_oriented=column_oriented,
        )
        return {}
    raise ValueError(f"op {op!r} is not one of command, query, insert, insert_at_positions")


POSITION_MOVED_STATUS = 412


def store_error_reply(exc: Exception) -> tuple[dict[str, Any], int]:
    """The JSON body and HTTP status with which ``/store`` answers a call that raised ``exc``."""
    if isinstance(exc, PositionMoved):
        return {"error": str(exc), "retryable": True, "position_moved": True}, POSITION_MOVED_STATUS
    if isinstance(exc, StoreRefused):
        return {"error": str(exc), "retryable": False, "refused": True}, 400
    return {"error": str(exc), "retryable": is_retryable(exc)}, 400


def auth_headers(secret: str | None = None, token: str | None = None) -> dict[str, str]:
    """Headers of a call to a worker's web port: the store secret and the bearer token, when set."""
    from monitor.adapters.store_secret import SECRET_HEADER

    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SECRET_HEADER] = secret
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _refused(status: int, text: str) -> bool:
    """Whether the owner says its store refused the call for a reason only a change of
    configuration fixes (:class:`StoreRefused`).

    >>> _refused(400, '{"error": "insert failed", "retryable": false, "refused": true}')
    True
    >>> _refused(400, '{"error": "insert failed", "retryable": false}'), _refused(409, "not the owner")
    (False, False)
    """
    try:
        return status == 400 and json.loads(text).get("refused") is True
    except (ValueError, AttributeError):
        return False


def _retryable(status: int, text: str) -> bool:
    """Whether a refused call may succeed later: the owner says so for its store's errors (a refused
    value is not, an outage is); another owner, a new secret or a server error may.

    >>> _retryable(400, '{"error": "insert failed", "retryable": false}'), _retryable(409, "not the owner")
    (False, True)
    """
    try:
        said = json.loads(text).get("retryable")
    except (ValueError, AttributeError):
        said = None
    return bool(said) if said is not None else status != 400


class RemoteStore(ClickHouseStore):
    """A :class:`ClickHouseStore` whose primitives go to the owning worker over HTTP."""

    caches_positions = False  # the owner checks positions; this process writes nothing itself

    def __init__(
        self,
        url: str,
        owner_url: str,
        *,
        secret_file: Path | None = None,
        token: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(url)
        self.owner_url = owner_url.rstrip("/")
        self.secret_file = secret_file
        self.token = token
        self.timeout = timeout
        self._secret: str | None = None

    def _headers(self, reread: bool = False) -> dict[str, str]:
        from monitor.adapters.store_secret import read_secret

        if self.secret_file is not None and (self._secret is None or reread):
            self._secret = read_secret(self.secret_file)
        return auth_headers(self._secret, self.token)

    def connect(self, timeout: float = 30.0) -> RemoteStore:
        """Until the owner answers: its record is written before its web port listens."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call({"op": "query", "sql": "SELECT 1"})
                return self
            except StoreError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        pass

    def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(encode_value(body)).encode()
        for attempt in range(2):  # a restarted owner writes a new secret: read it again once
            request = urllib.request.Request(
                f"{self.owner_url}/store", data=data, headers=self._headers(attempt > 0)
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 403 and attempt == 0 and self.secret_file is not None:
                    continue
                text = exc.read().decode(errors="replace")
                if exc.code == POSITION_MOVED_STATUS:
                    raise PositionMoved(f"store owner {self.owner_url}: {text}") from None
                message = f"store owner {self.owner_url} answered {exc.code}: {text}"
                if exc.code in (404, 409):  # that worker does not own the store (any more)
                    message += self._follow_owner()
                if _refused(exc.code, text):  # the owner's ClickHouse refused its user: stop too
                    raise StoreRefused(message) from None
                raise StoreError(message, retryable=_retryable(exc.code, text)) from None
            except OSError as exc:
                raise StoreError(
                    f"store owner {self.owner_url} did not answer: {exc}{self._follow_owner()}"
                ) from None
        raise AssertionError("unreachable")

    def _follow_owner(self) -> str:
        """After a failed call: switch to the store's current owner if another worker has taken it over.

        The caller still gets its error (the call may or may not have run), and retries the batch."""
        from monitor.adapters.reader import live_owner

        owner = live_owner(self.url)
        if owner is None or str(owner["url"]).rstrip("/") == self.owner_url:
            return ""
        self.owner_url = str(owner["url"]).rstrip("/")
        self._secret = None  # the new owner issued its own secret
        return f"; the store is now owned by pid {owner['pid']} at {self.owner_url}"

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._call({"op": "command", "sql": sql, "parameters": parameters or {}})

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> QueryResult:
        if settings:
            raise StoreError("a remote store call takes no per-query settings")
        payload = self._call({"op": "query", "sql": sql, "parameters": parameters or {}})
        rows = decode_value(payload["rows"], naive=True)
        return QueryResult(payload["columns"], [tuple(r) for r in rows])

    def insert(
        self,
        table: str,
        data: Sequence[Sequence[Any]],
        columns: Sequence[str],
        *,
        column_oriented: bool = False,
    ) -> None:
        if data[0] if column_oriented and data else data:
            self._call(
                {
                    "op": "insert",
                    "table": table,
                    "rows": [list(r) for r in data],
                    "columns": list(columns),
                    "column_oriented": column_oriented,
                }
            )

    def insert_at_positions(
        self,
        data: Sequence[Sequence[Any]],
        columns: Sequence[str],
        expected: Mapping[tuple[str, int], tuple[int, int]],
        *,
        column_oriented: bool = False,
    ) -> None:
        """The owner checks the positions and inserts in one call (see ClickHouseStore.insert_at_positions)."""
        self._call(
            {
                "op": "insert_at_positions",
                "rows": [list(r) for r in data],
                "columns": list(columns),
                "column_oriented": column_oriented,
                "expected": [[t, p, epoch, last] for (t, p), (epoch, last) in expected.items()],
            }
        )


class StoreLock:
    """An exclusive lock beside an embedded store's directory: who holds it owns the store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "ab")  # noqa: SIM115 - held open for as long as the lock is held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def wait_for_owner(read_owner, timeout: float = 60.0) -> dict[str, Any]:
    """The owner record once the owning worker has announced itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owner = read_owner()
        if owner is not None:
            return owner
        time.sleep(0.2)
    raise StoreError(
        f"the embedded store is locked by another process that announced no endpoint "
        f"within {timeout:.0f} s (pid {os.getpid()} waiting)"
    )
