"""Feedback events the join store refused, taken back out of their processed batch: the batch
becomes the batch that never held them (they are dead-lettered instead). Its counts, its late
events and its watermark are those of the rest: a refused event's time moves no window's lateness.

>>> from monitor.folding.pipeline import BatchConfig, Position, RawMessage, process_batch
>>> cfg = BatchConfig(window_seconds=60, allowed_lateness=0, max_future_skew=300, now=1000.0, min_event_time=0)
>>> raw = b'[{"request_id":"r","timestamp":990},{"request_id":"r","timestamp":991}]'
>>> out = process_batch([RawMessage("fb", 0, 7, raw, "feedback")], {}, cfg)
>>> drop_feedback(out, ("fb", 0), [1], window=60)
>>> src = out.sources[("fb", 0)]
>>> out.events["feedback"], src.event_ids, [p.count for p in src.partials], src.watermark
(1, ['fb:0:7:0'], [1.0], 990.0)

An event that was late only behind a refused one is on time in the batch that is left:

>>> raw = b'[{"request_id":"r","timestamp":990},{"request_id":"s","timestamp":900}]'
>>> out = process_batch([RawMessage("fb", 0, 7, raw, "feedback")], {}, cfg)
>>> out.late["feedback"], out.sources[("fb", 0)].late
(1, [False, True])
>>> drop_feedback(out, ("fb", 0), [0], window=60)
>>> out.late["feedback"], out.events["feedback"], out.sources[("fb", 0)].late, out.sources[("fb", 0)].watermark
(0, 1, [False], 900.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monitor.folding.pipeline import BatchOutput, FoldColumns, feedback_counts
from monitor.folding.windows import classify_lateness

__all__ = ["drop_feedback"]


def drop_feedback(
    out: BatchOutput, source: tuple[str, int], drop: Sequence[int], window: int
) -> None:
    """Take the valid events at ``drop`` (indexes into its ``valid``) out of the feedback source
    ``source`` of ``out``, before anything but the batch's fold has read it: the rest are
    classified again from the watermark before the batch (:func:`classify_lateness`, with the
    lateness they were classified with) and the source's partials (a feedback source's are its
    event counts only) are folded again from them."""
    src = out.sources[source]
    gone = set(drop)
    if not gone:
        return
    before = {id(e) for e, late in zip(src.valid, src.late or [False] * len(src.valid)) if not late}
    keep = [i for i in range(len(src.valid)) if i not in gone]
    src.valid = [src.valid[i] for i in keep]
    src.event_ids = [src.event_ids[i] for i in keep]
    src.offsets = [src.offsets[i] for i in keep]
    times = np.fromiter((e.timestamp for e in src.valid), np.float64, len(src.valid))
    verdict = classify_lateness(times, src.start_watermark, window, src.allowed_lateness)
    src.late = verdict.late.tolist()
    src.watermark = verdict.watermark
    on_time = [e for e, late in zip(src.valid, src.late) if not late]
    n_on_time, n_late = len(on_time), len(src.valid) - len(on_time)
    out.events[src.kind] += n_on_time - len(before)
    out.late[src.kind] += n_late - (len(gone) + len(keep) - len(before))
    out.feedback = [e for e in out.feedback if id(e) not in before] + on_time
    if not src.valid:
        src.partials = []
        return
    c = FoldColumns.of(src.valid, window)
    src.partials = feedback_counts(c.times, c.starts, c.models, c.versions, verdict.late, window)
