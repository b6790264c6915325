"""The commands that run a monitor process (worker, judge, broker, ui) or feed one (replay)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from monitor.adapters.delivery import DELIVERY_TIMEOUT
from monitor.redact import mask_url
from monitor.tools.cli_options import ConfigOption, cli_settings, kafka_bootstrap
from monitor.tools.cli_support import LONGEST_OPTION

__all__ = ["broker", "judge", "replay", "ui", "worker"]

MAX_PORT = 65_535  # a TCP port is 16 bits (99999 was an OverflowError from bind())


def worker(
    config: Path | None = ConfigOption,
    loglevel: str = typer.Option("info", help="crit|error|warn|info|debug"),
) -> None:
    """Run a monitor worker (Faust) on MONITOR_KAFKA_BOOTSTRAP."""
    from monitor.tools.cli_support import log_level
    from monitor.tools.worker import run_worker

    log_level(loglevel)  # Faust's own names (crit, warn) go on to Faust as given
    run_worker(cli_settings(config), loglevel=loglevel)


def judge(
    config: Path | None = ConfigOption,
    report: Annotated[
        Path | None,
        typer.Option(
            help="write the judge's quality report (JSON) here at start and after each batch"
        ),
    ] = None,
    loglevel: str = typer.Option("info", help="critical|error|warning|info|debug"),
) -> None:
    """Run the LLM judge (docs/judge.md): grade sampled answers, compare shadows, publish feedback."""
    from monitor.tools.cli_support import log_level
    from monitor.tools.judge import run_judge

    log_throttled(log_level(loglevel))
    sys.exit(asyncio.run(run_judge(cli_settings(config), report_path=report)))


def broker(
    port: int = typer.Option(9092, min=0, max=MAX_PORT, help="loopback port to listen on"),
    storage: str = typer.Option(
        "memory://tansu/",
        help="memory://tansu/, or s3://bucket/ to survive restarts "
        "(AWS_ENDPOINT, AWS_ACCESS_KEY_ID... from the environment)",
    ),
) -> None:
    """Run only the local Kafka-compatible broker (Tansu) until Ctrl-C."""
    import signal
    import threading

    from monitor.adapters.local_broker import LocalBroker

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalBroker(port=port, storage=storage) as local:
        typer.echo(
            f"broker listening on {local.bootstrap} (storage {mask_url(storage)}); Ctrl-C stops it"
        )
        typer.echo(f"  export MONITOR_KAFKA_BOOTSTRAP={local.bootstrap}")
        sys.stdout.flush()
        stop.wait()
        typer.echo("stopping broker")
        sys.stdout.flush()


def log_throttled(level: str) -> None:
    """Log to stderr from ``level`` on, aiokafka's repeated lines throttled (a broker gone makes it
    log about 80 a second)."""
    import logging

    from monitor.adapters.log_throttle import LogThrottle, throttle_handlers

    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    throttle_handlers(logging.root, LogThrottle())


def replay(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="JSONL file, one message per line: an event, an array of "
            "events, an OpenTelemetry GenAI event or an OTLP/JSON logs "
            "envelope",
        ),
    ],
    kind: str = typer.Option(..., help="inference or feedback"),
    rate: float = typer.Option(0.0, min=0.0, help="events per second; 0 = as fast as possible"),
    batch_size: int = typer.Option(100, min=1, help="events per Kafka message"),
    timeout: str = typer.Option(
        f"{DELIVERY_TIMEOUT:g}s",
        help="how long the broker may take to confirm a message before the replay stops "
        f"(at most {LONGEST_OPTION})",
    ),
    progress: str = typer.Option(
        "10s",
        help=f"how often to say how far it got (to stderr); 0 for never (at most {LONGEST_OPTION})",
    ),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="send each line as one message, as it is: nothing decoded or checked, so the "
        "workers dead-letter what they reject (try a bad message: docs/events.md)",
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Publish a JSONL file of events to the inference or feedback topic, decoded as the topic decodes them.

    Exits 1 when no event of the file was accepted; rejections name the file's line numbers. A broker that stops confirming ends it with exit code 2, Ctrl-C with 130, SIGTERM with 143, each saying through which line the file was sent. With --raw every line is sent unchecked.
    """
    from monitor.tools.cli_support import (
        EXIT_INTERRUPTED,
        EXIT_TERMINATED,
        counted,
        parse_duration_option,
    )
    from monitor.tools.replay import (
        Progress,
        ReplayReport,
        Terminated,
        replay_file,
        stop_on_sigterm,
    )

    delivery_timeout = parse_duration_option(timeout, "--timeout")
    every = parse_duration_option(progress, "--progress")
    shown = (
        Progress(lambda r, elapsed: typer.echo(r.progress_line(elapsed), err=True), every)
        if every > 0
        else None
    )
    settings = cli_settings(config)
    if kind not in ("inference", "feedback"):
        raise typer.BadParameter(f"{kind!r} is not one of inference, feedback", param_hint="--kind")
    kafka_bootstrap(settings)
    log_throttled("WARNING")
    report = ReplayReport()
    try:
        asyncio.run(
            stop_on_sigterm(
                replay_file(
                    settings,
                    file,
                    kind,
                    rate=rate,
                    batch_size=batch_size,
                    delivery_timeout=delivery_timeout,
                    report=report,
                    progress=shown,
                    raw=raw,
                )
            )
        )
    except (KeyboardInterrupt, Terminated) as stopped:
        typer.echo(f"interrupted: {report.progress(file)}", err=True)
        raise typer.Exit(
            EXIT_TERMINATED if isinstance(stopped, Terminated) else EXIT_INTERRUPTED
        ) from None
    if raw:
        _say_raw_sent(report.messages, report.lines, file, settings.dlq_topic)
    else:
        typer.echo(
            f"sent {counted(report.sent, 'event')} in {counted(report.messages, 'message')}; "
            f"{len(report.rejected)} rejected"
        )
    for rejection in report.rejected[:20]:
        typer.echo(f"  {file}: {rejection.describe()}", err=True)
    if len(report.rejected) > 20:
        typer.echo(f"  ... and {len(report.rejected) - 20} more", err=True)
    if report.sent == 0:
        what = "line of {file} was sent" if raw else "event of {file} was accepted"
        lines = counted(report.lines, "non-blank line")
        typer.echo(f"error: no {what.format(file=file)} ({lines})", err=True)
        raise typer.Exit(1)


def _say_raw_sent(messages: int, lines: int, file: Path, dlq_topic: str) -> None:
    """What ``replay --raw`` did, and where the workers' verdict will be; exit 1 for an empty file."""
    from monitor.tools.cli_support import counted

    if lines == 0:
        typer.echo(f"error: {file} has no non-blank line to send", err=True)
        raise typer.Exit(1)
    if messages == 0:  # every line refused before sending: the error below says so
        return
    typer.echo(
        f"sent {counted(messages, 'message')} unchecked (--raw); what the workers reject goes to "
        f"{dlq_topic}: monitor dead-letters"
    )


def ui(
    host: str = typer.Option(
        "127.0.0.1", help="address to listen on (beyond loopback only with MONITOR_WEB_TOKEN)"
    ),
    port: int = typer.Option(8050, min=0, max=MAX_PORT, help="port to listen on"),
    config: Path | None = ConfigOption,
) -> None:
    """The dashboard of MONITOR_CLICKHOUSE_URL's store on http://HOST:PORT/ (same pages as a worker's /)."""
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.judge_journal import summaries_reader
    from monitor.adapters.listen_check import check_listen, local_url
    from monitor.adapters.reader import open_reader
    from monitor.dashboard.server import run_ui
    from streams.access import check_web_bind

    settings = cli_settings(config, web_host=host)
    check_web_bind(settings)
    check_listen(host, port, "--port")
    reader = open_reader(
        settings.clickhouse_url, clickhouse_client_options(settings), token=settings.web_token_value
    )
    hint = "  (open it once with ?token=$MONITOR_WEB_TOKEN)" if settings.web_token_value else ""

    def listening(bound: int) -> None:
        shown = mask_url(settings.clickhouse_url)
        typer.echo(f"dashboard of {shown}: {local_url(host, bound)}/{hint}")
        sys.stdout.flush()

    run_ui(
        reader,
        host,
        port,
        settings.web_token_value,
        listening,
        secure_cookie=settings.web_secure_cookie,
        judge=summaries_reader(settings),
    )
