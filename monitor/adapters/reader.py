"""Read the store from the CLI: directly, or through the worker that owns an embedded store."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from monitor.adapters.clickhouse_store import ClickHouseStore, QueryResult, parse_store_url
from monitor.errors import StoreError
from monitor.redact import mask_url

__all__ = [
    "HttpReader",
    "Reader",
    "live_owner",
    "no_store_at",
    "open_reader",
    "open_store",
    "owner_path",
    "owner_record",
    "process_start",
]


class Reader(Protocol):
    db: str

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult: ...


def owner_path(clickhouse_url: str) -> Path | None:
    """Where the process that owns an embedded store announces its query endpoint."""
    target = parse_store_url(clickhouse_url)
    return None if target.path is None else target.path.with_name(target.path.name + ".owner.json")


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (Linux: clock ticks after boot, field 22 of ``/proc/<pid>/stat``),
    or None where that cannot be read (no such process, no ``/proc``).

    >>> process_start(os.getpid()).isdigit()  # on Linux
    True
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return fields[19] if len(fields) > 19 else None


def owner_record(url: str) -> dict[str, Any]:
    """What the owner of an embedded store announces at :func:`owner_path`: this process and the
    web endpoint it serves the store on."""
    return {"pid": os.getpid(), "started": process_start(os.getpid()), "url": url}


def live_owner(clickhouse_url: str) -> dict[str, Any] | None:
    """The owner record of an embedded store held by another live process, else None.

    A record outlives an owner killed with ``kill -9``, and its pid may be given to another process
    later (the pid space wraps within hours on a busy machine with 32,768 of them): a pid that
    started at another time than the record says is not the owner."""
    path = owner_path(clickhouse_url)
    if path is None or not path.exists():
        return None
    try:
        owner = json.loads(path.read_text())
        pid = int(owner["pid"])
        os.kill(pid, 0)
    except (ValueError, KeyError, TypeError, OSError):
        return None
    started, now = owner.get("started"), process_start(pid)
    if started is not None and now is not None and now != started:
        return None
    return owner if pid != os.getpid() else None


class HttpReader:
    """Queries a worker's ``/query`` endpoint (read-only statements)."""

    def __init__(
        self, base_url: str, db: str, timeout: float = 60.0, token: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.db = db
        self.timeout = timeout
        self.token = token

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        from monitor.adapters.remote_store import auth_headers, decode_value, encode_value

        body = json.dumps(encode_value({"sql": sql, "parameters": parameters or {}})).encode()
        request = urllib.request.Request(
            f"{self.base_url}/query", data=body, headers=auth_headers(token=self.token)
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            hint = " (set MONITOR_WEB_TOKEN to the worker's token)" if exc.code == 401 else ""
            raise StoreError(
                f"worker at {self.base_url} refused the query (HTTP {exc.code}){hint}: {detail}"
            ) from None
        except OSError as exc:
            raise StoreError(f"worker at {self.base_url} did not answer: {exc}") from None
        rows = decode_value(payload["rows"], naive=True)
        return QueryResult(payload["columns"], [tuple(r) for r in rows])


def no_store_at(clickhouse_url: str, path: Path) -> str:
    """Why an embedded store ``clickhouse_url`` names is not at ``path``, and what to do: a relative
    directory (the default one) is found from the current directory, so a worker started in another
    directory has its store there.

    >>> print(no_store_at("chdb://.monitor-data/clickhouse", Path("/x/.monitor-data/clickhouse")))
    no embedded store at /x/.monitor-data/clickhouse: MONITOR_CLICKHOUSE_URL (default \
chdb://.monitor-data/clickhouse) is relative to the current directory: run this in the worker's \
directory, or set MONITOR_CLICKHOUSE_URL=chdb://<the worker's directory>/.monitor-data/clickhouse; \
no worker yet? start `monitor worker` (or `monitor demo`) first
    """
    from monitor.settings import Settings

    given = clickhouse_url.removeprefix("chdb://").partition("?")[0]
    if Path(given).expanduser().is_absolute():
        return (
            f"no embedded store at {path}: start `monitor worker` (or `monitor demo`) first, "
            "or set MONITOR_CLICKHOUSE_URL to where the data is"
        )
    default = Settings.model_fields["clickhouse_url"].default
    named = f" (default {default})" if clickhouse_url == default else f"={mask_url(clickhouse_url)}"
    return (
        f"no embedded store at {path}: MONITOR_CLICKHOUSE_URL{named} is relative to the current "
        "directory: run this in the worker's directory, or set MONITOR_CLICKHOUSE_URL=chdb://<the "
        f"worker's directory>/{given.removeprefix('./')}; no worker yet? start `monitor worker` "
        "(or `monitor demo`) first"
    )


def open_reader(
    clickhouse_url: str, client_options: dict[str, Any] | None = None, *, token: str | None = None
) -> Reader:
    """The store itself, or the owning worker's ``/query`` (with bearer ``token``) for an embedded store in use."""
    owner = live_owner(clickhouse_url)
    target = parse_store_url(clickhouse_url)
    if owner is not None:
        return HttpReader(owner["url"], target.database, token=token)
    if target.path is not None and not target.path.exists():
        raise StoreError(no_store_at(clickhouse_url, target.path))
    store = ClickHouseStore(clickhouse_url, client_options)
    store.names_empty_results = True  # CSV and tables of no rows still print their header
    return store.connect()


def open_store(
    clickhouse_url: str, client_options: dict[str, Any] | None = None, *, token: str | None = None
) -> ClickHouseStore:
    """A read-write store for the CLI: direct, or through the worker that owns an embedded store
    (its ``/store``, with the directory's secret and the bearer ``token``)."""
    from monitor.adapters.remote_store import RemoteStore
    from monitor.adapters.store_secret import secret_path

    owner = live_owner(clickhouse_url)
    if owner is not None:
        return RemoteStore(
            clickhouse_url, owner["url"], secret_file=secret_path(clickhouse_url), token=token
        ).connect()
    store = ClickHouseStore(clickhouse_url, client_options).connect()
    store.migrate()
    return store
