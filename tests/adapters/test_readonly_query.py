"""/query's read-only enforcement against real embedded ClickHouse: ClickHouse parses, ClickHouse refuses."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests_support import REFUSED_STATEMENTS

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.readonly_query import QueryLimits, ReadOnlyQueries, refusal
from monitor.errors import StoreError


@pytest.fixture()
def stores(chdb_dir: Path, tmp_path: Path):
    store = ClickHouseStore(f"chdb://{chdb_dir}").connect()
    store.migrate()
    queries = ReadOnlyQueries(
        f"chdb://{chdb_dir}", QueryLimits(max_execution_time=2, max_result_rows=50)
    ).connect()
    yield store, queries
    queries.close()


def test_the_syntax_tree_decides_what_runs() -> None:
    select = [
        "SelectWithUnionQuery (children 1)",
        " ExpressionList (children 1)",
        "  SelectQuery (children 2)",
        "   TablesInSelectQuery (children 1)",
        "    TablesInSelectQueryElement (children 1)",
        "     TableExpression (children 1)",
        "      Function {name} (alias f) (children 1)",
    ]
    assert refusal([line.format(name="numbers") for line in select]) is None
    assert "table function url()" in refusal([line.format(name="url") for line in select])
    # a scalar function that shares a table function's name is fine outside a table expression
    assert (
        refusal(
            [
                "SelectWithUnionQuery (children 1)",
                " ExpressionList (children 1)",
                "  Function format (children 1)",
            ]
        )
        is None
    )
    assert "function file()" in refusal(
        ["SelectWithUnionQuery (children 1)", "  Function file (children 1)"]
    )
    assert "not InsertQuery" in refusal(["InsertQuery (children 1)"])
    assert refusal([]) is not None


@pytest.mark.parametrize("template", REFUSED_STATEMENTS)
def test_every_write_file_network_or_settings_statement_is_refused(
    stores, tmp_path: Path, template: str
) -> None:
    store, queries = stores
    secret = tmp_path / "secret.csv"
    secret.write_text("topsecret,b\n1,2\n")
    out = tmp_path / "out.txt"
    tables = store.query(
        "SELECT name FROM system.tables WHERE database = 'monitor' ORDER BY name"
    ).rows
    with pytest.raises(StoreError) as refused:
        queries.query(template.format(secret=secret, out=out, port=9))
    assert "topsecret" not in str(refused.value)
    assert not out.exists()
    assert (
        store.query("SELECT name FROM system.tables WHERE database = 'monitor' ORDER BY name").rows
        == tables
    )
    assert queries.query("SELECT 1 AS one").rows == [(1,)]  # the query client is still usable


def test_selects_with_parameters_cte_and_union_run(stores) -> None:
    _, queries = stores
    assert queries.query(
        "SELECT {a:String} AS a, {n:UInt32} + 1 AS n", {"a": "x'; DROP", "n": 2}
    ).rows == [("x'; DROP", 3)]
    result = queries.query(
        "WITH 2 AS two SELECT number * two AS d FROM numbers(3) UNION ALL SELECT 100 -- done"
    )
    assert sorted(r[0] for r in result.rows) == [0, 2, 4, 100]
    assert queries.query("SELECT count() FROM monitor.partials").columns == ["count()"]
    assert queries.query("SELECT format('{} {}', 'a', 'b')").rows == [("a b",)]


def test_an_answer_of_no_rows_still_names_its_columns(stores) -> None:
    """ClickHouse's Native format sends no block for no rows: the columns were [] and the CLI's
    CSV of no rows had no header line through a worker."""
    _, queries = stores
    empty = queries.query("SELECT 1 AS one, {s:String} AS s WHERE 0", {"s": "x"})
    assert (empty.columns, empty.rows) == (["one", "s"], [])
    alerts = queries.query("SELECT fingerprint, status FROM monitor.alerts WHERE status = 'x'")
    assert alerts.columns == ["fingerprint", "status"] and alerts.rows == []


def test_result_and_time_limits_are_enforced_by_clickhouse(stores) -> None:
    _, queries = stores
    assert len(queries.query("SELECT * FROM numbers(50)").rows) == 50
    with pytest.raises(StoreError, match="TOO_MANY_ROWS_OR_BYTES"):
        queries.query("SELECT * FROM numbers(51)")
    with pytest.raises(StoreError, match="TIMEOUT_EXCEEDED"):
        queries.query("SELECT count() FROM numbers(1000000000000)")


def test_a_running_query_does_not_hold_the_ingest_client(stores, unique) -> None:
    """The query has its own chdb handle: batches written on the store's client land while it runs."""
    store, _ = stores
    queries = ReadOnlyQueries(store.url, QueryLimits(max_execution_time=5)).connect()
    outcome: list[StoreError] = []

    def heavy() -> None:
        try:
            queries.query("SELECT count() FROM numbers(1000000000000)")
        except StoreError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=heavy)
    thread.start()
    written_while_running = 0
    try:
        for offset in range(200):
            store.write_batch({(f"t{unique}", 0): (offset, 1.0, [])})
            if not thread.is_alive():
                break
            written_while_running += 1
    finally:
        thread.join()
        queries.close()
    assert written_while_running >= 1
    assert store.read_position(f"t{unique}", 0)[0] >= written_while_running - 1
    assert outcome and "TIMEOUT_EXCEEDED" in str(outcome[0])


def test_stopping_cancels_running_statements_and_refuses_new_ones(stores) -> None:
    store, _ = stores
    queries = ReadOnlyQueries(store.url, QueryLimits(max_execution_time=600)).connect()
    outcome: list[StoreError] = []

    def heavy() -> None:
        try:
            queries.query("SELECT count() FROM numbers(100000000000000)")
        except StoreError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=heavy)
    thread.start()
    running = (
        "SELECT count() FROM system.processes WHERE query LIKE '%monitor-query-%numbers(100000000000000)%' "
        "AND query NOT LIKE '%system.processes%'"
    )
    try:
        while thread.is_alive() and not store.query(running).rows[0][0]:
            thread.join(0.1)
        queries.stop(store)
    finally:
        thread.join()
    assert outcome and "QUERY_WAS_CANCELLED" in str(outcome[0])
    with pytest.raises(StoreError, match="stopping"):
        queries.query("SELECT 1 AS one")
    queries.close()


def _written(store: ClickHouseStore, name: str) -> list:
    """The rows of a file chdb's file() wrote under its user files, [] when there is none."""
    try:
        return store.query(f"SELECT * FROM file('{name}', 'TSV', 'x String')").rows
    except StoreError:
        return []


@pytest.mark.parametrize(
    ("sql", "injected", "refused"),
    [
        (
            "SELECT 'abc%(x)s'",
            " ; CREATE TABLE monitor.pwned (x UInt8) ENGINE = Memory; SELECT ",
            None,
        ),
        (
            "SELECT 'abc%(x)s'",
            (
                " ; INSERT INTO FUNCTION file($$pwned-{unique}.txt$$, $$TSV$$, $$x String$$) "
                "VALUES ($$owned$$); SELECT "
            ),
            None,
        ),
        (
            "SELECT %(x)s",
            "1; CREATE TABLE monitor.pwned (x UInt8) ENGINE = Memory",
            "not one valid statement",
        ),
    ],
)
def test_parameters_are_never_written_into_the_statement(
    stores, unique: str, sql: str, injected: str, refused: str | None
) -> None:
    """Before: with no {name:Type} placeholder clickhouse-connect formatted the parameters into the
    text (Python %), and embedded chdb ran the statements spliced in before the check read it:
    tables created, files written, through a 'read-only' /query. Only placeholders are bound now."""
    store, queries = stores
    tables = store.query("SELECT name FROM system.tables WHERE database = 'monitor'").rows
    parameters = {"x": injected.replace("{unique}", unique)}
    if refused is None:  # a parameter that is no placeholder is left out: the text is the text
        assert queries.query(sql, parameters).rows == [("abc%(x)s",)]
    else:
        with pytest.raises(StoreError, match=refused):
            queries.query(sql, parameters)
    assert store.query("SELECT name FROM system.tables WHERE database = 'monitor'").rows == tables
    assert _written(store, f"pwned-{unique}.txt") == []
    # a parameter the statement does not use is left out, as a server leaves it
    assert queries.query("SELECT {x:String} AS s", {"x": "a", "y": "b"}).rows == [("a",)]
    assert queries.query("SELECT {x:String} AS s", {"x": "a%(y)s'; DROP"}).rows == [
        ("a%(y)s'; DROP",)
    ]
