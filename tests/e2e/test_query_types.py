"""One value of every ClickHouse type through a worker's ``POST /query`` and the CLI's reader.

Before: a result column of a type JSON could not serialize answered 500 with a traceback in the
worker's log (`TypeError: JSON cannot serialize 'IPv6Address'` for `SELECT toIPv6('::1')` or
`SELECT * FROM system.processes`; an integer beyond 64 bits failed the same way in orjson).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime

from tests_support import reader_for

UUID_TEXT = "61f0c404-5cb3-11e7-907b-a6006ad3dba0"
UUID = f"toUUID('{UUID_TEXT}')"

# (SELECT expression, the value HttpReader.query gives back)
TYPES = [
    ("toInt8(-3)", -3),
    ("toUInt64(18446744073709551615)", 2**64 - 1),
    ("toInt128('-170141183460469231731687303715884105728')", -(2**127)),
    (
        "toUInt256('115792089237316195423570985008687907853269984665640564039457584007913129639935')",
        2**256 - 1,
    ),
    ("toFloat32(1.5)", 1.5),
    ("toBFloat16(1.5)", 1.5),
    ("nan", None),
    ("-inf", None),
    ("toDecimal32(1.25, 2)", "1.25"),
    ("toDecimal256('123456789012345678901234567890.123', 3)", "123456789012345678901234567890.123"),
    ("true", True),
    ("'héllo'", "héllo"),
    ("toFixedString('ab', 4)", "ab\x00\x00"),
    ("toFixedString(unhex('FF41'), 2)", "\\xffA"),
    (UUID, UUID_TEXT),
    ("toIPv4('1.2.3.4')", "1.2.3.4"),
    ("toIPv6('::1')", "::1"),
    ("toDate('2026-01-02')", "2026-01-02"),
    ("toDate32('1900-01-01')", "1900-01-01"),
    ("toDateTime('2026-01-02 03:04:05', 'UTC')", datetime(2026, 1, 2, 3, 4, 5)),
    ("toDateTime64('2026-01-02 03:04:05.123456', 6, 'UTC')", datetime(2026, 1, 2, 3, 4, 5, 123456)),
    (
        "toDateTime64('2026-01-02 03:04:05.5', 1, 'Asia/Tokyo')",
        datetime(2026, 1, 1, 18, 4, 5, 500000),
    ),
    ("toTime64('12:34:56.789', 3)", 45296.789),
    ("toIntervalDay(3)", 3),
    ("CAST('b', 'Enum8(\\'a\\' = 1, \\'b\\' = 2)')", "b"),
    ("toLowCardinality('x')", "x"),
    ("CAST(NULL, 'Nullable(Int32)')", None),
    ("[[toIPv4('1.2.3.4')], []]", [["1.2.3.4"], []]),
    (f"tuple(1, 'a', {UUID})", [1, "a", UUID_TEXT]),
    ("CAST((1, 'x'), 'Tuple(a UInt8, b String)')", {"a": 1, "b": "x"}),
    ("map(1, 'a', 2, 'b')", {"1": "a", "2": "b"}),
    ("map(toIPv4('1.2.3.4'), 1)", {"1.2.3.4": 1}),
    ("map((1, 2), 'a')", {"[1,2]": "a"}),
    ("map(toDate('2026-01-02'), [toIPv6('::2')])", {"2026-01-02": ["::2"]}),
    ("CAST([(1, 'a')], 'Nested(x UInt8, y String)')", [{"x": 1, "y": "a"}]),
    ("CAST((1.0, 2.0), 'Point')", [1.0, 2.0]),
    ("CAST([[(1.0, 2.0)]], 'Polygon')", [[[1.0, 2.0]]]),
    ('CAST(\'{"a": "1.2.3.4", "b": [1, 2]}\', \'JSON(a IPv4)\')', {"a": "1.2.3.4", "b": [1, 2]}),
    (f"CAST({UUID}, 'Dynamic')", UUID_TEXT),
    ("CAST(toIPv6('::1'), 'Variant(IPv6, String)')", "::1"),
]


def post_query(worker, sql: str) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{worker.url}/query",
        data=json.dumps({"sql": sql}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def test_every_clickhouse_type_comes_back_through_query_and_the_reader(start_worker):
    worker = start_worker()
    reader = reader_for(worker)
    wrong = []
    for expression, expected in TYPES:
        result = reader.query(f"SELECT {expression} AS v")  # json.loads takes NaN: None expected
        got = result.rows[0][0]
        if got != expected or type(got) is not type(expected):
            wrong.append((expression, got, expected))
    assert not wrong, wrong
    # all in one row: each column its own value
    result = reader.query("SELECT " + ", ".join(f"{e} AS c{i}" for i, (e, _) in enumerate(TYPES)))
    assert list(result.rows[0]) == [expected for _, expected in TYPES]

    status, text = post_query(worker, "SELECT * FROM system.processes")
    assert status == 200, text
    answer = json.loads(text, parse_constant=not_json)
    assert "address" in answer["columns"] and answer["rows"], answer
    assert worker.alive()
    log = worker.log_path.read_text()
    assert "Traceback" not in log and "cannot serialize" not in log, log[-3000:]
