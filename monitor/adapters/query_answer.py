"""The JSON body of a ``/query`` answer: a statement's columns and rows, whatever their types.

A user's SELECT can return any ClickHouse type. Each value goes through
:func:`~monitor.adapters.remote_store.encode_value` (IP addresses, UUIDs and decimals as text, dates
ISO text, datetimes ``{"$dt": epoch}``, maps with text keys ...); a float that is not finite becomes
null (JSON has no NaN), and an integer beyond 64 bits (``Int128``, ``UInt256``) stays an exact
number. A value still not JSON is the statement's to change: a ``ValueError`` naming its column.

>>> from ipaddress import ip_address
>>> query_answer(["ip", "n", "x"], [(ip_address("1.2.3.4"), 2**100, float("nan"))])
b'{"columns":["ip","n","x"],"rows":[["1.2.3.4",1267650600228229401496703205376,null]]}'
>>> query_answer(["thing"], [(object(),)])
Traceback (most recent call last):
...
ValueError: column 'thing' holds a object value that JSON cannot carry: convert it in the SELECT (toString(thing))
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import orjson

from monitor.adapters.remote_store import encode_value

__all__ = ["query_answer"]


def query_answer(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """``{"columns": [...], "rows": [[...], ...]}`` as UTF-8 JSON."""
    body = {
        "columns": list(columns),
        "rows": [
            [_plain(encode_value(value), name) for name, value in zip(columns, row)] for row in rows
        ],
    }
    try:
        return orjson.dumps(body)
    except TypeError:  # an integer beyond 64 bits: the standard library writes it exactly
        return json.dumps(body, separators=(",", ":")).encode()


def _plain(value: Any, column: str) -> Any:
    """``value`` made only of JSON's types, non-finite floats as None."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_plain(v, column) for v in value]
    if isinstance(value, dict):
        return {key: _plain(v, column) for key, v in value.items()}
    raise ValueError(
        f"column {column!r} holds a {type(value).__name__} value that JSON cannot carry: "
        f"convert it in the SELECT (toString({column}))"
    )
