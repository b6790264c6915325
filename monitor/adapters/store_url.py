"""Where the aggregate store is: ``MONITOR_CLICKHOUSE_URL`` parsed into a :class:`StoreURL`.

``chdb:///abs/path`` or ``chdb://relative/path`` is embedded ClickHouse in that directory;
``http(s)://user:password@host:8123/database`` a server. The database name is a checked identifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from monitor.errors import ConfigError, StoreError
from monitor.redact import mask_url

__all__ = ["StoreURL", "checked_identifier", "parse_store_url", "require_embedded_store"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
        return StoreURL(
            "chdb", checked_identifier(database), path=Path(path_part).expanduser().resolve()
        )
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise ConfigError(
            f"{mask_url(url)!r}: ClickHouse URL must start with chdb://, http:// or https://"
        )
    secure = parsed.scheme == "https"
    return StoreURL(
        "http",
        checked_identifier(parsed.path.strip("/") or "monitor"),
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


def checked_identifier(name: str, what: str = "database name") -> str:
    """``name`` if it is a plain ClickHouse identifier, else a ConfigError naming ``what`` it is.

    >>> checked_identifier("monitor"), checked_identifier("drift_windows", "table name")
    ('monitor', 'drift_windows')
    >>> checked_identifier("x; DROP", "table name")
    Traceback (most recent call last):
    monitor.errors.ConfigError: table name 'x; DROP' must match ^[A-Za-z_][A-Za-z0-9_]*$
    """
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"{what} {name!r} must match {_IDENTIFIER.pattern}")
    return name
