from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.catalogue import METRIC_WINDOW_NAMES
from monitor.queries import metrics_query, render_sql, table_query


def unquote(literal: str) -> str:
    """Read one ClickHouse single-quoted literal with backslash escapes back to its text."""
    assert literal.startswith("'") and literal.endswith("'")
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            out.append(body[i + 1])
            i += 2
            continue
        assert ch != "'", f"unescaped quote in {literal!r}"
        out.append(ch)
        i += 1
    return "".join(out)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("plain", "'plain'"),
        ("it's", r"'it\'s'"),
        ("back\\slash", r"'back\\slash'"),
        ("\\'", r"'\\\''"),
        ("'; DROP TABLE x; --", r"'\'; DROP TABLE x; --'"),
        ("", "''"),
    ],
)
def test_string_quoting(value: str, expected: str) -> None:
    assert render_sql("{v:String}", {"v": value}) == expected


@given(st.text())
def test_any_string_round_trips(value: str) -> None:
    literal = render_sql("{v:String}", {"v": value})
    assert unquote(literal) == value


def test_numbers_and_bools() -> None:
    assert (
        render_sql("{a:Int64} {b:Float64} {c:Bool}", {"a": 42, "b": 0.5, "c": True}) == "42 0.5 1"
    )
    assert render_sql("{c:UInt8}", {"c": False}) == "0"


def test_datetimes() -> None:
    dt = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    assert (
        render_sql("{t:DateTime64(3)}", {"t": dt})
        == "toDateTime64('2026-01-02 03:04:05.678', 3, 'UTC')"
    )
    assert (
        render_sql("{t:DateTime}", {"t": 1767225600})
        == "toDateTime64('2026-01-01 00:00:00.000', 3, 'UTC')"
    )
    assert (
        render_sql("{t:DateTime64(3)}", {"t": 1767225600.25})
        == "toDateTime64('2026-01-01 00:00:00.250', 3, 'UTC')"
    )


def test_arrays() -> None:
    assert (
        render_sql("{a:Array(String)}", {"a": ["x", "it's", "c\\d"]}) == r"['x', 'it\'s', 'c\\d']"
    )
    assert render_sql("{a:Array(Int64)}", {"a": (1, 2, 3)}) == "[1, 2, 3]"
    assert render_sql("{a:Array(String)}", {"a": []}) == "[]"
    assert render_sql("{a:Array(Array(Int32))}", {"a": [[1], [2, 3]]}) == "[[1], [2, 3]]"
    assert (
        render_sql("{a:Array(DateTime64(3))}", {"a": [0]})
        == "[toDateTime64('1970-01-01 00:00:00.000', 3, 'UTC')]"
    )


def test_substituted_values_are_not_substituted_again() -> None:
    assert render_sql("{a:String} {b:String}", {"a": "{b:String}", "b": "x"}) == "'{b:String}' 'x'"


def test_missing_parameter_is_an_error() -> None:
    with pytest.raises(KeyError):
        render_sql("{a:String}", {})


def test_metrics_query_without_filters_lists_the_catalogues_metrics() -> None:
    sql, params = metrics_query("monitor")
    assert params == {"listed": list(METRIC_WINDOW_NAMES)}  # not the internal emb:* rows
    assert sql.startswith(
        "SELECT window_start, window_end, model, model_version, metric, segment, value, count, low, high "
        "FROM monitor.metric_windows FINAL WHERE has({listed:Array(String)}, metric) ORDER BY"
    )
    assert sql.endswith("LIMIT 10000")


def test_metrics_query_all_filters_bound_and_rendered() -> None:
    sql, params = metrics_query(
        "db", model="m'1", version="v\\2", metric="psi", since=1767225600.0, limit=5
    )
    assert "'" not in sql.split("WHERE")[1]  # values are bound, never inlined
    assert set(params) == {"model", "version", "metric", "since"}
    assert params["since"] == datetime(2026, 1, 1, tzinfo=UTC)
    rendered = render_sql(sql, params)
    assert not re.search(r"\{\w+:", rendered), rendered
    assert r"model = 'm\'1'" in rendered
    assert r"model_version = 'v\\2'" in rendered
    assert "metric = 'psi'" in rendered
    assert "window_start >= toDateTime64('2026-01-01 00:00:00.000', 3, 'UTC')" in rendered
    assert rendered.endswith("LIMIT 5")


def test_metrics_query_some_filters() -> None:
    sql, params = metrics_query("db", metric="js")
    assert params == {"metric": "js"}
    assert " WHERE metric = {metric:String} ORDER BY" in sql


def test_table_query_options() -> None:
    sql, params = table_query(
        "db",
        "t",
        "a, b",
        filters={"x": ("col", "Array(String)", ["p", "q"])},
        since=None,
        order="a",
        limit=7.9,
        final=False,
    )  # type: ignore[arg-type]
    assert sql == "SELECT a, b FROM db.t WHERE col = {x:Array(String)} ORDER BY a LIMIT 7"
    assert (
        render_sql(sql, params) == "SELECT a, b FROM db.t WHERE col = ['p', 'q'] ORDER BY a LIMIT 7"
    )
