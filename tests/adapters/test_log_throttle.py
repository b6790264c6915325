"""The log throttle with a fake clock: the first record of a logger and template passes, its repeats
within the interval do not, the next one after it passes and says how many it stood for; other
templates, loggers, levels and our own loggers are not held back."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from monitor.adapters.log_throttle import LogThrottle, throttle_handlers

CONNECT = "Unable connect to node with id %s: %s"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str = CONNECT,
    args: tuple[object, ...] = (1, "refused"),
    name: str = "aiokafka.conn",
    level: int = logging.ERROR,
) -> logging.LogRecord:
    return logging.makeLogRecord({"name": name, "levelno": level, "msg": msg, "args": args})


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def throttle(clock: Clock) -> LogThrottle:
    return LogThrottle(interval=10.0, clock=clock)


def test_the_first_passes_and_its_repeats_within_the_interval_do_not(throttle, clock) -> None:
    assert throttle.filter(record())
    for step in range(50):
        clock.now += 0.19  # 9.5 s of repeats, other nodes and causes of the same template
        assert not throttle.filter(record(args=(step, "reset")))


def test_the_next_after_the_interval_passes_with_the_count_it_stood_for(throttle, clock) -> None:
    throttle.filter(record())
    for _ in range(412):
        clock.now += 0.02
        throttle.filter(record())
    clock.now = 112.0
    passed = record(args=(7, "refused"))
    assert throttle.filter(passed)
    assert passed.getMessage() == (
        "Unable connect to node with id 7: refused (412 similar messages suppressed in the last 12 s)"
    )
    clock.now += 1.0  # a new interval began with it
    assert not throttle.filter(record())


def test_a_record_after_a_quiet_interval_passes_as_it_is(throttle, clock) -> None:
    throttle.filter(record())
    clock.now += 10.0
    again = record()
    assert throttle.filter(again)
    assert again.getMessage() == "Unable connect to node with id 1: refused"


def test_templates_loggers_and_levels_are_throttled_apart(throttle) -> None:
    assert throttle.filter(record())
    assert throttle.filter(record("Unable to update metadata from %s", ([1],)))
    assert throttle.filter(record(name="aiokafka.consumer.fetcher"))
    assert throttle.filter(record(name="faust.transport.consumer"))
    assert not throttle.filter(record())
    assert not throttle.filter(record(level=logging.WARNING))  # one template, whatever its level
    for _ in range(3):  # info lines (rebalances, assignments) and our own loggers never
        assert throttle.filter(record(level=logging.INFO))
        assert throttle.filter(record(name="monitor.tools.worker"))
        assert throttle.filter(record(name="streams.agents"))
        assert throttle.filter(record(name="aiokafkax"))  # not a child of aiokafka


def test_an_interval_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="interval: 0"):
        LogThrottle(interval=0)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture()
def library() -> Iterator[tuple[logging.Logger, list[Collect]]]:
    """A logger of a made-up library with two handlers of its own."""
    logger = logging.getLogger(f"lib{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handlers = [Collect(), Collect()]
    for handler in handlers:
        logger.addHandler(handler)
    yield logger, handlers
    for handler in handlers:
        logger.removeHandler(handler)


def test_on_the_handlers_it_holds_back_a_child_loggers_records_once_for_all(library, clock) -> None:
    logger, handlers = library
    throttle = LogThrottle(interval=10.0, loggers=(logger.name,), clock=clock)
    throttle_handlers(logger, throttle)
    throttle_handlers(logger, throttle)  # again, as after Faust set up its handler: still one
    conn = logger.getChild("conn")
    for _ in range(3):
        conn.error("Unable connect to %s", "a")
    clock.now += 10.0
    conn.error("Unable connect to %s", "b")
    expected = [
        "Unable connect to a",
        "Unable connect to b (2 similar messages suppressed in the last 10 s)",
    ]
    assert [h.lines for h in handlers] == [expected, expected]
