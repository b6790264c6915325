"""The secret the local workers of one embedded store share to call its owner's ``POST /store``.

The owning worker writes a fresh random secret beside the store's lock and owner files, readable
by its OS user only (mode 0600), before it announces itself; the other local workers (and the
CLI's baseline commands) read it and send it in ``X-Monitor-Store-Secret``. Knowing it means being
able to read that file, which already means being able to open the data directory itself.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from monitor.adapters.clickhouse_store import parse_store_url
from monitor.errors import StoreError

__all__ = ["SECRET_HEADER", "issue_secret", "read_secret", "secret_matches", "secret_path"]

SECRET_HEADER = "X-Monitor-Store-Secret"


def secret_path(clickhouse_url: str) -> Path | None:
    """Where the owner of an embedded store keeps the secret; None for a ClickHouse server."""
    target = parse_store_url(clickhouse_url)
    return None if target.path is None else target.path.with_name(target.path.name + ".secret")


def issue_secret(path: Path) -> str:
    """Write a new random secret to ``path`` (mode 0600, replaced atomically) and return it."""
    value = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.replace(staging, path)
    return value


def read_secret(path: Path) -> str:
    """The secret the owner wrote; StoreError when it cannot be read."""
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise StoreError(
            f"cannot read the store secret {path}: {exc.strerror} "
            "(the worker that owns the store writes it at start, readable by its user only)"
        ) from None
    if not value:
        raise StoreError(f"the store secret {path} is empty")
    return value


def secret_matches(expected: str, supplied: str | None) -> bool:
    """Constant-time comparison of the secret a caller sent with the owner's."""
    if not supplied:
        return False
    return hmac.compare_digest(expected.encode(), supplied.encode("utf-8", "surrogateescape"))
