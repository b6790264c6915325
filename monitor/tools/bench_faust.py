"""The bare Faust agent of ``monitor bench``: consume one topic and only decode, the Faust limit.

Run as a child process by :mod:`monitor.tools.bench`::

    python -m monitor.tools.bench_faust BOOTSTRAP TOPIC EVENTS --partitions 2 --app-id bench-x

The agent takes batches like the worker (``take_events(1000, within=0.5)``), ``orjson.loads`` each
message value and counts events (the elements of an array message). When ``EVENTS`` are counted it
prints one line ``bench-result {"events": n, "seconds": s}``: the time from the arrival of the first batch
to the end of the last, so start-up and group join are left out. The parent stops the process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import orjson

__all__ = ["RESULT_PREFIX", "count_events", "main"]

BATCH_SIZE = 1000
BATCH_WITHIN = 0.5
RESULT_PREFIX = "bench-result "  # Faust may print to stdout too
MAX_FETCH_BYTES = 4_194_304
SESSION_TIMEOUT = 6.0  # as the bench's worker: the group forms in seconds, not half a minute  # the worker's consumer_max_fetch_size with default settings


def count_events(value: bytes) -> int:
    """Events in one message: an array's length, else one.

    >>> count_events(b'[{"a": 1}, {"a": 2}]'), count_events(b'{"a": 1}')
    (2, 1)
    """
    decoded = orjson.loads(value)
    return len(decoded) if isinstance(decoded, list) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="monitor.tools.bench_faust", description=__doc__.splitlines()[0]
    )
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("events", type=int)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--app-id", default="monitor-bench-faust")
    args = parser.parse_args(argv)

    import faust  # only in this child process: the core never imports faust

    from monitor.adapters.client_security import faust_broker_credentials
    from monitor.settings import Settings

    report = os.fdopen(os.dup(1), "w")  # the Faust worker redirects sys.stdout into its log

    app = faust.App(
        args.app_id,
        broker=[f"kafka://{s.strip()}" for s in args.bootstrap.split(",")],
        broker_credentials=faust_broker_credentials(Settings()),  # MONITOR_KAFKA_* as the worker
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        topic_partitions=args.partitions,
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=MAX_FETCH_BYTES,
        web_enabled=False,
        broker_session_timeout=SESSION_TIMEOUT,
        broker_heartbeat_interval=SESSION_TIMEOUT / 3,
    )
    topic = app.topic(
        args.topic, partitions=args.partitions, value_serializer="raw", key_serializer="raw"
    )
    progress = {"events": 0, "first": 0.0, "done": False}

    @app.agent(topic, concurrency=1, name="decode")
    async def decode(stream):
        async for batch in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN):
            if not progress["first"]:
                progress["first"] = time.perf_counter()
            progress["events"] += sum(count_events(event.value) for event in batch)
            if progress["events"] >= args.events and not progress["done"]:
                progress["done"] = True
                seconds = time.perf_counter() - progress["first"]
                report.write(
                    RESULT_PREFIX
                    + orjson.dumps({"events": progress["events"], "seconds": seconds}).decode()
                    + "\n"
                )
                report.flush()

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
