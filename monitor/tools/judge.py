"""``monitor judge``: the judge runner process (its own consumer group, so slow judge calls never
hold up ingestion).

It consumes the judge topic the workers forward to (:mod:`streams.judge_forward`), judges what
the records make judgeable (:class:`monitor.services.judge.JudgeRunner`), publishes the grades to
the feedback topic as OpenTelemetry ``gen_ai.evaluation.result`` events (keyed and partitioned by
request_id like any producer's) and commits its offsets only after they are delivered
(at-least-once). A message that made judge calls is committed as soon as its grades are delivered,
so a crash calls the endpoint again only for the message it was judging (no grade of it was
published yet). The requests a message touched are buffered (in Redis when MONITOR_REDIS_URL is
set) after its grades are delivered and before it is committed: a committed answer is graded, or
still waits for its partner where the next runner finds it. A record it cannot read goes to the
dead-letter topic with its reason. A key the endpoint refuses, or credentials or a command that
Redis refuses, stops it at the message it was judging, not committed: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import time
from collections import defaultdict
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from prometheus_client import CollectorRegistry, start_http_server

from monitor.adapters.aiokafka_stop import patch_fetcher_close
from monitor.adapters.broker_check import broker_errors, check_broker
from monitor.adapters.client_security import kafka_client_options, redis_client_options
from monitor.adapters.judge_buffer import RedisRequestBuffer
from monitor.adapters.judge_client import ChatClient, JudgeKeyRefused
from monitor.adapters.judge_journal import stats_journal
from monitor.adapters.judge_ledger import RedisTokenLedger
from monitor.adapters.listen_check import check_listen
from monitor.adapters.producer import partition_for
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.adapters.redis_calls import JUDGE_NEEDS, check_key_access, check_redis
from monitor.adapters.topics import ensure_topics
from monitor.contract.decode import Rejection
from monitor.contract.dlq import JUDGE_KIND, dead_letter_key, dead_letter_record
from monitor.contract.reasons import NOT_AN_OBJECT, UNDECODABLE
from monitor.errors import ConfigError, InvalidEvent, StoreRefused
from monitor.judge.budget import DailyBudget, RateLimit
from monitor.judge.forward import AnswerRecord, HumanRecord, read_records
from monitor.judge.rubric import read_rubric
from monitor.redact import mask_url
from monitor.services.judge import JudgeConfig, JudgeRunner
from monitor.settings import JUDGE_REDIS_KEYS, Settings, parse_duration

__all__ = ["build_runner", "run_judge"]

log = logging.getLogger("monitor.judge")


def build_runner(settings: Settings, registry: CollectorRegistry) -> tuple[JudgeRunner, ChatClient]:
    """The runner and its (not yet set up) client, from the settings; a ConfigError when judging is off."""
    s = settings
    if not s.judge_enabled:
        raise ConfigError(
            "monitor judge needs MONITOR_JUDGE_URL and MONITOR_JUDGE_MODEL (judging is off)"
        )
    metrics = MonitorMetrics(registry).judge
    client = ChatClient(
        s.judge_url or "",
        s.judge_model or "",
        s.judge_api_key.get_secret_value() if s.judge_api_key else None,
        api_key_header=s.judge_api_key_header,
        timeout_seconds=parse_duration(s.judge_timeout),
        retries=s.judge_retries,
        on_retry=lambda reason: metrics.retries.labels(reason=reason).inc(),
    )
    buffer_ttl_seconds = parse_duration(s.judge_buffer_ttl)
    config = JudgeConfig(
        read_rubric(s.judge_rubric),
        s.judge_model or "",
        sample_rate=s.judge_sample_rate,
        pairwise=s.judge_pairwise,
        max_output_tokens=s.judge_max_output_tokens,
        pass_score=s.judge_pass_score,
        buffer_size=s.judge_buffer_size,
        buffer_ttl_seconds=buffer_ttl_seconds,
    )
    runner = JudgeRunner(
        config,
        client,
        metrics,
        rate_limit=RateLimit(s.judge_requests_per_second, s.judge_burst),
        budget=DailyBudget(s.judge_daily_tokens, _token_ledger(s)),
        journal=stats_journal(s),
        buffer=_request_buffer(s, buffer_ttl_seconds),
    )
    return runner, client


def _token_ledger(s: Settings) -> RedisTokenLedger | None:
    """The day's token count in MONITOR_REDIS_URL's Redis, shared by the runners of this app id
    and kept across restarts; None (this process's memory) without Redis."""
    if not s.redis_dsn:
        return None
    return RedisTokenLedger(s.redis_dsn, s.redis_prefix("judge:tokens"), redis_client_options(s))


def _request_buffer(s: Settings, ttl_seconds: float) -> RedisRequestBuffer | None:
    """The requests waiting for a partner or feedback in MONITOR_REDIS_URL's Redis, found again by
    the next runner of this app id; None (this process's memory) without Redis."""
    if not s.redis_dsn:
        return None
    prefix = s.redis_prefix("judge:buffer")
    options = redis_client_options(s)
    return RedisRequestBuffer(s.redis_dsn, prefix, s.judge_buffer_size, ttl_seconds, options)


def _records(value: bytes | None) -> tuple[list[AnswerRecord | HumanRecord], Rejection | None]:
    raw = value or b""
    try:
        payload = orjson.loads(raw)
        if not isinstance(payload, list):
            raise InvalidEvent(NOT_AN_OBJECT, "", "a judge message is a JSON array of records")
        return read_records(payload), None
    except orjson.JSONDecodeError as exc:
        return [], Rejection(UNDECODABLE, "", f"not JSON: {exc}"[:300], -1, raw)
    except (InvalidEvent, TypeError) as exc:
        reason = getattr(exc, "reason", "wrong_type")
        return [], Rejection(reason, getattr(exc, "field", ""), str(exc)[:300], -1, raw)


async def _publish(
    producer: AIOKafkaProducer, topic: str, partitions: int, events: list[dict[str, Any]]
) -> None:
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        request_id = event["attributes"]["gen_ai.response.id"]
        groups[partition_for(request_id, partitions)].append(event)
    futures = [
        await producer.send(
            topic,
            orjson.dumps(group),
            key=group[0]["attributes"]["gen_ai.response.id"].encode(),
            partition=partition,
        )
        for partition, group in groups.items()
    ]
    for future in futures:
        await future


def _write_report(path: Path, report: dict[str, Any]) -> None:
    """Strict JSON (an undefined statistic, e.g. kappa when every label agrees, is ``null``)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(_finite(report), indent=2, allow_nan=False))
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"--report {path}: cannot be written ({exc.strerror})") from None


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``, for strict JSON readers (jq, browsers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


async def run_judge(
    settings: Settings, *, report_path: Path | None = None, stop: asyncio.Event | None = None
) -> int:
    """Consume, judge, publish, commit, until ``stop`` is set (or SIGTERM / SIGINT)."""
    s = settings
    registry = CollectorRegistry()
    runner, client = build_runner(s, registry)
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    patch_fetcher_close()  # else a stop while the broker is gone raises out of consumer.stop()
    # what has started is closed however start-up or the loop ends, the last started first
    async with AsyncExitStack() as started:
        if s.judge_metrics_port is not None:
            host, port = s.judge_metrics_host, s.judge_metrics_port
            check_listen(host, port, "MONITOR_JUDGE_METRICS_PORT")
            server, _ = start_http_server(port, addr=host, registry=registry)
            started.callback(server.server_close)
            started.callback(server.shutdown)
        # each stop is pushed before its start: it also closes a start that failed half-way
        started.push_async_callback(client.close)
        started.callback(runner.close)  # its stores: token ledger, statistics journal, buffer
        # the endpoint first: an unreachable judge fails start-up before joining the consumer group
        await client.setup()
        if s.redis_dsn:  # then its Redis, as the stores reach it: unreachable or refusing, stop
            options = redis_client_options(s)
            await asyncio.to_thread(check_redis, s.redis_dsn, "judge Redis", options)
            prefixes = [s.redis_prefix(kind) for kind in JUDGE_REDIS_KEYS]  # an ACL leaving one out
            await asyncio.to_thread(
                check_key_access, s.redis_dsn, prefixes, "judge Redis", JUDGE_NEEDS, options
            )
        await runner.restore()  # the statistics the last runner of this app id left in Redis
        # then the broker: one error naming its address, however far the clients got
        await check_broker(s, _bootstrap(s))
        with broker_errors(s, _bootstrap(s)):
            consumer, producer = await _kafka_clients(s)
            started.push_async_callback(consumer.stop)
            await consumer.start()
            started.push_async_callback(producer.stop)
            await producer.start()
        log.info(
            "judging with %s at %s; records from %s, results to %s",
            s.judge_model,
            mask_url(s.judge_url or ""),
            s.judge_records_topic,
            s.feedback_topic,
        )
        await _judge_until_stopped(s, runner, consumer, producer, stop, report_path)
    return 0


def _stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (where the loop can take signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass


def _bootstrap(s: Settings) -> str:
    return s.kafka_bootstrap or "127.0.0.1:9092"


async def _kafka_clients(s: Settings) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
    """The judge topic, made sure of; its consumer (offsets committed by hand) and the producer of
    grades and dead letters, neither started."""
    options = kafka_client_options(s)
    bootstrap = _bootstrap(s)
    await ensure_topics(bootstrap, {s.judge_records_topic: 1}, options)
    consumer = AIOKafkaConsumer(
        s.judge_records_topic,
        bootstrap_servers=bootstrap,
        group_id=s.judge_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **options,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **options)
    return consumer, producer


async def _judge_until_stopped(
    s: Settings,
    runner: JudgeRunner,
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    stop: asyncio.Event,
    report_path: Path | None,
) -> None:
    """Judge each fetched batch, then commit what was judged (and rewrite the report), until
    ``stop`` is set: a stop ends the batch at the message being judged (cancelled, not committed)."""
    partitions = max(len(await producer.partitions_for(s.feedback_topic) or ()), 1)
    if report_path is not None:  # at once: what an earlier runner left in Redis, or empty
        _write_report(report_path, runner.report())
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=500, max_records=100)
        judged = await _judge_batch(s, runner, consumer, producer, partitions, batches, stop)
        if judged:
            await consumer.commit(judged)
            if report_path is not None:
                _write_report(report_path, runner.report())


async def _judge_batch(
    s: Settings,
    runner: JudgeRunner,
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    partitions: int,
    batches: dict[TopicPartition, list[ConsumerRecord]],
    stop: asyncio.Event,
) -> dict[TopicPartition, int]:
    """Judge ``batches`` in order until ``stop`` is set; the offsets to commit. A message that made
    judge calls is committed at once, its grades delivered, so a crash does not pay for it again."""
    judged: dict[TopicPartition, int] = {}
    for tp, messages in batches.items():
        for message in messages:
            calls = runner.endpoint_calls
            judging = _judge_message(s, runner, producer, partitions, tp, message)
            try:
                finished = await _unless_stopped(judging, stop)
            except JudgeKeyRefused as exc:  # every call would fail: stop, and skip nothing
                raise JudgeKeyRefused(
                    f"{exc}; stopped at {tp.topic}/{tp.partition} offset {message.offset}, "
                    "judged from there once the judge starts with a key the endpoint takes"
                ) from None
            except StoreRefused as exc:  # every Redis call would fail: the same
                raise StoreRefused(
                    f"{exc}; stopped at {tp.topic}/{tp.partition} offset {message.offset}, "
                    "judged from there once the judge starts with a MONITOR_REDIS_URL Redis takes"
                ) from None
            if not finished:
                return judged  # the message being judged is judged again after a restart
            judged[tp] = message.offset + 1
            if runner.endpoint_calls > calls:  # paid for: not to be judged again after a crash
                await consumer.commit({tp: message.offset + 1})
    return judged


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run ``work``, cancelled if ``stop`` is set first (a judge call can take a minute with its
    retries); True if it finished."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    task.result()  # its error, if it raised
    return True


async def _judge_message(
    s: Settings,
    runner: JudgeRunner,
    producer: AIOKafkaProducer,
    partitions: int,
    tp: TopicPartition,
    message: ConsumerRecord,
) -> None:
    """One message's records judged and their grades published; an unreadable one dead-lettered."""
    records, rejection = _records(message.value)
    if rejection is not None:
        runner.metrics.failures.labels(reason="bad_record").inc()
        await _dead_letter(producer, s.dlq_topic, tp, message, rejection)
        return
    judged = await runner.judge(records)
    if judged.events:
        await _publish(producer, s.feedback_topic, partitions, judged.events)
    # buffered after the grades are delivered (buffered as graded means published) and before the
    # commit (a committed answer still waiting for its partner is where the next runner finds it)
    await runner.keep(judged)


async def _dead_letter(
    producer: AIOKafkaProducer,
    dlq_topic: str,
    tp: TopicPartition,
    message: ConsumerRecord,
    rejection: Rejection,
) -> None:
    """``message`` to the dead-letter topic with the reason it was rejected, once delivered."""
    await (
        await producer.send(
            dlq_topic,
            dead_letter_record(
                tp.topic,
                tp.partition,
                message.offset,
                JUDGE_KIND,
                rejection,
                time.time(),
            ),
            key=dead_letter_key(tp.topic, tp.partition, message.offset, -1),
        )
    )
