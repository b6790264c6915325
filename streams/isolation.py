"""The streaming boundary's last line: a bug on one message must not stop the worker.

The core never catches bare exceptions; here, if folding a batch raises, each message is tried on
its own, the ones that raise go to the dead-letter topic with reason ``internal_error``, and the
rest of the batch is processed as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from monitor.decode import Rejection
from monitor.pipeline import (
    BatchConfig,
    BatchOutput,
    InferenceFold,
    Position,
    RawMessage,
    process_batch,
)

__all__ = ["INTERNAL_ERROR", "process_isolating"]

log = logging.getLogger("monitor.worker")
INTERNAL_ERROR = "internal_error"


def process_isolating(raw: Sequence[RawMessage], positions: Mapping[tuple[str, int], Position],
                      config: BatchConfig, folds: Sequence[InferenceFold] = ()) -> BatchOutput:
    """``process_batch``, with the messages that make it raise dead-lettered instead."""
    try:
        return process_batch(raw, positions, config, folds)
    except Exception:
        log.exception("batch of %d messages raised; isolating the message(s) responsible", len(raw))
    good: list[RawMessage] = []
    bad: list[tuple[RawMessage, Exception]] = []
    for message in raw:
        try:
            process_batch([message], positions, config, folds)
            good.append(message)
        except Exception as exc:  # noqa: BLE001 - same boundary, one message at a time
            bad.append((message, exc))
    out = process_batch(good, positions, config, folds)
    for message, error in bad:
        detail = f"processing raised {type(error).__name__}: {error}"[:300]
        out.rejections.append((message, Rejection(INTERNAL_ERROR, "", detail, -1, message.value or b"")))
    return out
