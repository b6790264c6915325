"""Which ClickHouse failures a retry fixes, which blame the data, and which only a change of
configuration fixes (:class:`StoreRefused`: the worker stops), read off the errors clickhouse-connect
raises for an HTTP server's answers."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver._backend.httpcommon import build_http_error

from monitor.adapters.clickhouse_connection import store_error
from monitor.errors import StoreRefused

URL = "https://clickhouse.internal:8443"


def _answer(status: int, code: str | None, body: str) -> Exception:
    return build_http_error(status, code, body, True, URL, False)


@pytest.mark.parametrize(
    ("status", "code", "body", "kind"),
    [
        (
            516,
            "516",
            "Code: 516. DB::Exception: monitor: Authentication failed. (AUTHENTICATION_FAILED)",
            "refused",
        ),
        (
            500,
            "497",
            "Code: 497. DB::Exception: monitor: Not enough privileges. (ACCESS_DENIED)",
            "refused",
        ),
        (
            500,
            "164",
            "Code: 164. DB::Exception: monitor: Cannot execute query in readonly mode. (READONLY)",
            "refused",
        ),
        (
            404,
            "60",
            "Code: 60. DB::Exception: Table monitor.partials does not exist. (UNKNOWN_TABLE)",
            "refused",
        ),
        (
            500,
            "241",
            "Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)",
            "retry",
        ),
        (
            500,
            "201",
            "Code: 201. DB::Exception: Quota for user exceeded. (QUOTA_EXCEEDED)",
            "retry",
        ),
        (500, "53", "Code: 53. DB::Exception: Type mismatch. (TYPE_MISMATCH)", "data"),
        # no ClickHouse code: a proxy or load balancer in front of the server answered
        (502, None, "<html>Bad Gateway</html>", "retry"),
        (503, None, "Service Unavailable", "retry"),
        (429, None, "Too Many Requests", "retry"),
        (403, None, "Forbidden", "refused"),
        (401, None, "Unauthorized", "refused"),
    ],
)
def test_each_answer_is_an_outage_bad_data_or_a_refusal(
    status: int, code: str | None, body: str, kind: str
) -> None:
    """Before: a proxy's 502/503 was taken for bad data (every batch dead-lettered after three
    tries), READONLY was retried for ever, ACCESS_DENIED and AUTHENTICATION_FAILED dead-lettered."""
    error = store_error("ClickHouse insert into partials failed", _answer(status, code, body))
    assert isinstance(error, StoreRefused) == (kind == "refused")
    assert error.retryable == (kind == "retry")
