"""Secrets out of logs and errors: the one place that masks URLs and credentials.

Every log line or error message that may carry a URL (a store, Redis, a broker, a sink) or a
credential goes through :func:`mask_url` or :func:`mask_text`. A URL keeps its scheme, user, host,
port and path; the password of its user-info (also with an empty user, ``redis://:pw@host``) and
the values of query parameters that carry credentials (``token``, ``password``, ``key`` ...)
become ``***``.

>>> mask_url("rediss://:s3cret@cache:6380/0")
'rediss://:***@cache:6380/0'
>>> mask_text("cannot reach http://u:pw@ch:8123/monitor?access_token=abc: refused")
'cannot reach http://u:***@ch:8123/monitor?access_token=***: refused'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MASK", "SECRET_QUERY_KEYS", "mask_text", "mask_url"]

MASK = "***"
# Query parameters whose values are credentials (compared lower-case, ``-`` read as ``_``).
SECRET_QUERY_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "authorization",
        "api_key",
        "apikey",
        "key",
        "private_key",
        "sig",
        "signature",
        "x_amz_signature",
        "x_amz_credential",
        "x_amz_security_token",
        "sas",
        "sv",
    }
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*:)(//)?")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")


def _mask_netloc(netloc: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        return netloc
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}@{hostport}" if colon else netloc


def _mask_pairs(text: str) -> str:
    pairs = []
    for pair in text.split("&"):
        name, eq, _value = pair.partition("=")
        if eq and name.strip().lower().replace("-", "_") in SECRET_QUERY_KEYS:
            pair = f"{name}={MASK}"
        pairs.append(pair)
    return "&".join(pairs)


def mask_url(url: str) -> str:
    """``url`` with its user-info password and credential query values replaced by ``***``.

    Works on the text itself (no URL parsing that could fail or re-encode), so any string is safe
    to pass, and a string that is not a URL comes back unchanged.

    >>> mask_url("http://default:secret@ch:8123/monitor")
    'http://default:***@ch:8123/monitor'
    >>> mask_url("https://hooks.example/alert?channel=ops&token=abc123#top")
    'https://hooks.example/alert?channel=ops&token=***#top'
    >>> mask_url("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    scheme = _SCHEME.match(url)
    if scheme is None or not scheme.group(2):
        return url
    rest = url[scheme.end() :]
    end = _first(rest, "/?#")
    if "@" not in rest[:end]:
        # a password with an unencoded "/" still hides the user-info's end: mask up to the last @
        # before the query (over-masking an @ in a path beats leaking a password)
        at = rest.rfind("@", 0, _first(rest, "?#"))
        if at != -1 and ":" in rest[:at]:
            end = at + 1 + _first(rest[at + 1 :], "/?#")
    netloc, tail = rest[:end], rest[end:]
    path, hash_sign, fragment = tail.partition("#")
    path, question, query = path.partition("?")
    masked = scheme.group(0) + _mask_netloc(netloc) + path
    if question:
        masked += "?" + _mask_pairs(query)
    if hash_sign:
        masked += "#" + _mask_pairs(fragment)
    return masked


def _first(text: str, separators: str) -> int:
    """Index of the first of ``separators`` in ``text``, ``len(text)`` if none."""
    return min((i for i in (text.find(s) for s in separators) if i != -1), default=len(text))


def _mask_match(match: re.Match[str]) -> str:
    url = match.group(0)
    trimmed = url.rstrip(".,;:)]}")  # sentence punctuation after a URL is not part of it
    return mask_url(trimmed) + url[len(trimmed) :]


def mask_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every URL in it masked and every value of ``secrets`` replaced by ``***``.

    >>> mask_text("AUTH failed for hunter2", secrets=["hunter2"])
    'AUTH failed for ***'
    """
    masked = _URL_IN_TEXT.sub(_mask_match, text)
    for secret in secrets:
        if secret:
            masked = masked.replace(secret, MASK)
    return masked
