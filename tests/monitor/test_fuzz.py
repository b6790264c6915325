"""The fast slice of the fuzz run (``monitor fuzz`` is the long one): generated, mutated and arbitrary
messages through the whole batch path into embedded ClickHouse. No exception escapes, every
rejection has a reason, every event is accepted or rejected, valid events are all written."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests_support import monitor_cli

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.tools.fuzz import FuzzHarness, run_fuzz
from monitor.tools.fuzz.messages import POISON, FuzzMessage, generate_message

FAST = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def harness(chdb_dir) -> FuzzHarness:
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=fuzz_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    return FuzzHarness(store, seed=7, prefix=f"fuzz{uuid.uuid4().hex[:6]}")


def assert_kept_its_promises(harness: FuzzHarness) -> None:
    assert harness.report.escaped == 0 and harness.report.violations == [], (
        harness.report.violations[:3]
    )


@FAST
@given(st.randoms(use_true_random=False))
def test_generated_and_mutated_batches(harness, rng):
    request_ids: list[str] = []  # generation depends on the drawn randomness only
    messages = [
        generate_message(
            rng, rng.choice(("inference", "feedback")), i, now=harness.now, request_ids=request_ids
        )
        for i in range(12)
    ]
    harness.run_batch(harness.place(messages, rng))
    assert_kept_its_promises(harness)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from(POISON),
    st.text(st.characters(exclude_categories=()), max_size=30),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=()), max_size=8), inner, max_size=4
        )
    ),
    max_leaves=12,
)
events = st.fixed_dictionaries(
    {
        "request_id": st.one_of(
            st.text(st.characters(exclude_categories=()), max_size=300), scalars
        ),
        "timestamp": st.one_of(
            st.floats(), st.integers(), st.text(max_size=30), st.just(1_795_000_000.0)
        ),
        "model": scalars,
        "model_version": st.one_of(st.just("v1"), scalars),
    },
    optional={
        "features": st.dictionaries(
            st.text(st.characters(exclude_categories=()), max_size=300), scalars, max_size=6
        ),
        "segment": documents,
        "usage": documents,
        "latency_ms": scalars,
        "rating": scalars,
        "judge_score": scalars,
        "label": scalars,
        "prediction": scalars,
        "turns": scalars,
    },
)


def as_message(kind: str, value: object) -> FuzzMessage:
    raw = value if isinstance(value, bytes) else json.dumps(value, allow_nan=True).encode()
    return FuzzMessage(kind, raw, None, (), "hypothesis")


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("inference", "feedback")),
            st.one_of(st.binary(max_size=120), documents, events, st.lists(events, max_size=5)),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_arbitrary_bytes_documents_and_event_shaped_objects(harness, messages):
    harness.run_batch(harness.place([as_message(kind, value) for kind, value in messages]))
    assert_kept_its_promises(harness)


def test_the_command_reports_its_figures(chdb_dir, tmp_path):
    output = tmp_path / "fuzz.json"
    lines: list[str] = []
    report = run_fuzz(
        300,
        seed=3,
        batch=100,
        output=str(output),
        echo=lines.append,
        store_url=f"chdb://{chdb_dir}?database=fuzzcli_{uuid.uuid4().hex[:8]}",
    )
    figures = json.loads(output.read_text())
    assert report.ok and figures["exceptions_escaped"] == 0 and figures["invariant_violations"] == 0
    assert figures["messages"] == 300 and figures["batches"] == 3
    assert figures["events_accepted"] > 100 and figures["rejected"] == sum(
        figures["rejected_by_reason"].values()
    )
    assert {"wrong_type", "not_utf8"} <= set(figures["rejected_by_reason"])


@pytest.mark.parametrize(
    ("option", "value"),
    [("--batch", "0"), ("--batch", "-1"), ("--messages", "1" + "0" * 400)],
)
def test_monitor_fuzz_refuses_counts_that_never_end(tmp_path, option, value) -> None:
    # a subprocess with a timeout: a batch below 1 looped for ever, 10**400 messages never ended
    env = {"MONITOR_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}"}
    args = (
        ("fuzz", "--messages", "20", option, value)
        if option == "--batch"
        else ("fuzz", option, value)
    )
    done = monitor_cli(*args, env=env, check=False, timeout=60)
    assert done.returncode == 2, done.stdout[-500:] + done.stderr[-500:]
    (line,) = done.stderr.splitlines()  # one line, never Typer's box or a traceback
    assert line.startswith(f"error: {option} {value!r}: expected an integer >= 1 and <= "), line
