"""Forward a written batch's answers and human feedback to the judge topic (only when judging is on).

One message per batch (a JSON array, :mod:`monitor.judge.forward`), split where it would pass
:data:`~monitor.judge.forward.JUDGE_MESSAGE_BYTES` (a backlog's batch holds megabytes of texts):
the topic's consumer, the ``monitor judge`` runner, pays per message. Best effort after the batch
is written: a failed send is counted (``monitor_store_errors_total{operation="judge_forward"}``)
and logged, never retried into the ingest path, so a judge outage cannot hold up ingestion.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.folding.pipeline import BatchOutput
from monitor.judge.forward import judge_messages, judge_records
from streams.delivery import delivered, output_topic
from streams.wiring import Wiring

__all__ = ["batch_judge_records", "judge_forwarder"]

log = logging.getLogger("monitor.tools.worker")


def batch_judge_records(
    out: BatchOutput, rate: float, forward_unsampled: bool
) -> list[dict[str, Any]]:
    """The judge message of a batch: its valid answers and feedback, late ones included. Lateness
    is about windows: a late production answer still pairs with its shadow (as the shadow
    comparison pairs it) and late flagging feedback still flags its request."""
    production: list[InferenceEvent] = []
    shadows: list[InferenceEvent] = []
    feedback: list[FeedbackEvent] = []
    for source in out.sources.values():
        if source.kind == "inference":
            production += source.valid
            shadows += source.shadow
        else:
            feedback += source.valid
    return judge_records(production, shadows, feedback, rate, forward_unsampled)


def judge_forwarder(
    app: faust.App, wiring: Wiring
) -> Callable[[BatchOutput], Awaitable[None]] | None:
    """The per-batch forwarder, or None when judging is off."""
    s = wiring.settings
    if not s.judge_enabled:
        return None
    topic = output_topic(app, s, s.judge_records_topic)  # declared at start (declare_output_topics)

    async def forward(out: BatchOutput) -> None:
        records = batch_judge_records(out, s.judge_sample_rate, s.judge_forward_unsampled)
        if not records:
            return
        try:
            sent = [await topic.send(value=message) for message in judge_messages(records)]
            await delivered(sent)
        except Exception as exc:  # noqa: BLE001 - the batch is written; judging is best effort
            wiring.metrics.store_errors.labels(operation="judge_forward").inc()
            log.error("judge records not forwarded: %s: %s", type(exc).__name__, exc)

    return forward
