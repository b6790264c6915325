"""Dead letters read back, filtered, summarised and printed: what the worker writes is read back
whole, anything else is unreadable (never an exception), and every printed line is one safe line."""

from __future__ import annotations

import base64
import io
import json
import random
from collections import Counter

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.contract.decode import Rejection, decode_message
from monitor.contract.dlq import DEAD_LETTER_KINDS, dead_letter_record
from monitor.contract.fields import MAX_RECORD_BYTES
from monitor.contract.reasons import REJECTION_REASONS
from monitor.tools.dead_letters import (
    MAX_GROUPS,
    DeadLetter,
    DeadLetterFilter,
    DeadLetterSummary,
    OriginalsWriter,
    group_rows,
    letter_line,
    read_dead_letter,
    summary_lines,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def letter(
    reason: str = "wrong_type",
    field: str = "model_version",
    kind: str = "inference",
    at: float = T0,
    original: bytes = b'{"request_id": "r1"}',
    offset: int = 7,
) -> DeadLetter:
    rejection = Rejection(reason, field, "bad", 1, original)
    read = read_dead_letter(dead_letter_record("monitor.inference", 3, offset, kind, rejection, at))
    assert read is not None
    return read


def test_the_rejections_of_real_messages_are_read_back_whole() -> None:
    messages = [
        b'[{"request_id": "a", "timestamp": 1767225600, "model": "m", "model_version": 3}]',
        b"\xff\xfe not json",
        b'{"request_id": "u", ',
        (
            b'{"request_id": "x", "timestamp": 1767225600, "model": "m", "model_version": "v", '
            b'"features": {"f": NaN}}'
        ),
    ]
    rejections = [
        (offset, rejection)
        for offset, raw in enumerate(messages)
        for rejection in decode_message(raw, "inference", now=T0).rejections
    ]
    assert [r.reason for _, r in rejections] == [
        "wrong_type",
        "not_utf8",
        "undecodable",
        "not_finite",
    ]
    for offset, rejection in rejections:
        record = dead_letter_record("monitor.inference", 1, offset, "inference", rejection, T0)
        read = read_dead_letter(record)
        assert read is not None, record
        assert (read.reason, read.field, read.error, read.kind) == (
            rejection.reason,
            rejection.field,
            rejection.message,
            "inference",
        )
        assert read.source == f"monitor.inference/1/{offset}/{rejection.index}"
        kept = (
            read.original.encode()
            if read.original is not None
            else base64.b64decode(read.original_base64 or "")
        )
        assert kept == rejection.original
        assert orjson.loads(read.record) == orjson.loads(record)


@given(
    reason=st.text(),
    field=st.text(),
    detail=st.text(),
    original=st.binary(),
    kind=st.sampled_from(DEAD_LETTER_KINDS),
    index=st.integers(-1, 10_000),
)
def test_every_record_the_worker_can_write_is_read_back(
    reason: str, field: str, detail: str, original: bytes, kind: str, index: int
) -> None:
    rejection = Rejection(reason, field, detail, index, original)
    read = read_dead_letter(dead_letter_record("t", 0, 5, kind, rejection, T0))
    assert read is not None
    assert read.kind == kind and read.source == f"t/0/5/{index}"
    line = letter_line(read)
    assert line.isprintable() and "\n" not in line


GARBAGE = [
    None,
    b"",
    b"null",
    b"[]",
    b'"a dead letter"',
    b"\xff\xfe\x00",
    b"\x1b[2J\x1b[H",
    b"[" * 100_000,
    b'{"reason": "wrong_type"}',
]


@pytest.mark.parametrize("value", GARBAGE)
def test_what_is_not_a_dead_letter_is_unreadable(value: bytes | None) -> None:
    assert read_dead_letter(value) is None


def _record(**changes: object) -> bytes:
    obj = orjson.loads(letter().record)
    for key, value in changes.items():
        if key.startswith("source_"):
            obj["source"][key.removeprefix("source_")] = value
        elif value is ...:
            del obj[key]
        else:
            obj[key] = value
    return orjson.dumps(obj)


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "evil"},
        {"kind": 1},
        {"reason": None},
        {"error": ...},
        {"source": "monitor.inference/0/1/0"},
        {"source_partition": "3"},
        {"source_offset": True},
        {"source_index": 1.5},
        {"source_topic": None},
        {"rejected_at": "now"},
        {"rejected_at": False},
        {"original": None},  # neither original nor original_base64
        {"original_base64": "e30="},  # both
        {"original": 42},
    ],
)
def test_a_record_of_another_shape_is_unreadable(changes: dict[str, object]) -> None:
    assert read_dead_letter(_record()) is not None  # the unchanged record is read
    assert read_dead_letter(_record(**changes)) is None


def test_a_lone_surrogate_escape_in_a_record_makes_it_unreadable() -> None:
    assert read_dead_letter(_record().replace(b'"wrong_type"', b'"\\ud800"')) is None


@given(st.binary(max_size=2000))
def test_no_bytes_make_the_reader_raise(value: bytes) -> None:
    read_dead_letter(value)


def test_the_filter_keeps_the_kind_the_reason_and_the_time_asked() -> None:
    letters = [
        letter("wrong_type", kind="inference", at=T0),
        letter("wrong_type", kind="feedback", at=T0 + 10),
        letter("out_of_range", kind="feedback", at=T0 + 20),
    ]

    def pick(wanted: DeadLetterFilter) -> list[tuple[str, str, float]]:
        return [(d.kind, d.reason, d.rejected_at) for d in letters if wanted.matches(d)]

    assert len(pick(DeadLetterFilter())) == 3
    assert pick(DeadLetterFilter(kind="feedback", reason="wrong_type")) == [
        ("feedback", "wrong_type", T0 + 10)
    ]
    assert pick(DeadLetterFilter(since=T0 + 10)) == [
        ("feedback", "wrong_type", T0 + 10),
        ("feedback", "out_of_range", T0 + 20),
    ]
    described = DeadLetterFilter("feedback", "wrong_type", T0).describe()
    assert described == "--kind feedback --reason wrong_type --since 2026-01-01 00:00:00"


def test_the_summary_counts_as_a_plain_count_does_and_keeps_the_latest() -> None:
    rng = random.Random(7)
    letters = [
        letter(
            rng.choice(REJECTION_REASONS[:5]),
            rng.choice(["model", "features.x", ""]),
            rng.choice(["inference", "feedback"]),
            at=T0 + rng.randrange(0, 3600),
            offset=i,
        )
        for i in range(500)
    ]
    summary = DeadLetterSummary(limit=20)
    for d in letters:
        summary.update(d)
    assert summary.records == 500
    assert summary.kinds == Counter(d.kind for d in letters)
    assert summary.groups == Counter((d.kind, d.reason, d.field) for d in letters)
    assert (summary.first, summary.last) == (
        min(d.rejected_at for d in letters),
        max(d.rejected_at for d in letters),
    )
    # the latest 20 by time, ties in read order, printed oldest first
    expected = sorted(enumerate(letters), key=lambda p: (p[1].rejected_at, p[0]))[-20:]
    assert [d.source for d in summary.latest()] == [d.source for _, d in expected]
    assert DeadLetterSummary(limit=0).update(letters[0]).latest() == []


def test_the_groups_are_bounded_and_the_rest_is_said() -> None:
    summary = DeadLetterSummary(limit=1)
    for i in range(MAX_GROUPS + 5):
        summary.update(letter(field=f"features.f{i}", offset=i))
    assert len(summary.groups) == MAX_GROUPS
    columns, rows, rest = group_rows(summary, top=10)
    assert columns == ["kind", "reason", "field", "records"] and len(rows) == 10
    assert rest == f"... and {MAX_GROUPS + 5 - 10} records in other groups"


def test_a_line_escapes_control_characters_and_caps_the_original() -> None:
    evil = b'{"request_id": "\x1b[31mred\x1b[0m", "input_text": "' + b"x" * 5000 + b'"}'
    line = letter_line(letter("undecodable", "", original=evil))
    assert "\x1b" not in line and '"\\x1b[31mred\\x1b[0m"' in line
    assert line.endswith(f"… ({len(evil) - 120} more characters)")
    assert len(line) < 500
    binary = letter_line(letter("not_utf8", "", original=b"\xff\xfe"))
    assert binary.endswith("(not UTF-8: original_base64, see --format json)")
    assert "\n" not in letter_line(letter(field="a\nb", original=b"{\n}"))


def test_the_summary_lines_say_how_many_of_which_kind_when_and_what_was_skipped() -> None:
    summary = DeadLetterSummary()
    summary.update(letter(kind="inference", at=T0)).update(letter(kind="feedback", at=T0 + 60))
    summary.count_unreadable()
    lines = summary_lines(summary, "monitor.contract.dlq", DeadLetterFilter(reason="wrong_type"))
    assert lines[0] == (
        "2 dead letters matching --reason wrong_type in monitor.contract.dlq "
        "(inference 1, feedback 1), rejected from 2026-01-01 00:00:00 to 2026-01-01 00:01:00 UTC"
    )
    assert lines[1].startswith("1 unreadable record skipped")
    assert summary_lines(DeadLetterSummary(), "dlq", DeadLetterFilter()) == [
        "no dead letters in dlq"
    ]


def test_originals_are_written_one_a_line_in_order_and_binary_ones_counted() -> None:
    pretty = json.dumps({"request_id": "p", "rating": 9}, indent=2).encode()
    stream = io.BytesIO()
    writer = OriginalsWriter(stream)
    for original in [b'{"request_id": "a"}', b"\xff\xfe", pretty, b'{"request_id": "b"}']:
        writer.add(letter(original=original))
    lines = stream.getvalue().decode().splitlines()
    assert (writer.written, writer.binary, writer.joined) == (3, 1, 1)
    assert [json.loads(line) for line in lines] == [
        {"request_id": "a"},
        {"request_id": "p", "rating": 9},  # the same JSON, on one line
        {"request_id": "b"},
    ]


@pytest.mark.parametrize(
    "original",
    [
        b"\x01" * 1_000_000,  # within MONITOR_MAX_MESSAGE_BYTES; each byte escaped to six
        b'"' * 999_990,  # each escaped to two
        b"\xff" * 900_000,  # not UTF-8: base64, four bytes for three
        "é".encode() * 700_000,
    ],
    ids=["control", "quotes", "binary", "two-byte"],
)
def test_a_dead_letter_too_large_for_kafka_is_cut_short_and_read_back(original: bytes) -> None:
    """Before: the record held the whole original, up to 6 MB, which no producer or broker takes."""
    record = dead_letter_record(
        "t", 0, 5, "inference", Rejection("undecodable", "", "x", -1, original), T0
    )
    assert len(record) <= MAX_RECORD_BYTES
    assert len(record) > MAX_RECORD_BYTES - 10  # as much of the original as fits
    read = read_dead_letter(record)
    assert read is not None and read.original_truncated
    kept = (
        read.original.encode()
        if read.original is not None
        else base64.b64decode(read.original_base64 or "")
    )
    assert original.startswith(kept) and 0 < len(kept) < len(original)
    assert orjson.loads(record)["original_bytes"] == len(original)
    assert "cut short" in letter_line(read)


def test_a_dead_letter_that_fits_is_whole_and_cut_short_ones_are_not_written_as_originals() -> None:
    whole = letter(original=b'{"request_id": "a"}')
    assert not whole.original_truncated and whole.original == '{"request_id": "a"}'
    stream = io.BytesIO()
    writer = OriginalsWriter(stream)
    writer.add(whole)
    writer.add(letter(original=b"\x01" * 1_000_000))
    assert (writer.written, writer.truncated) == (1, 1)
    assert stream.getvalue() == b'{"request_id": "a"}\n'
