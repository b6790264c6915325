"""Feedback events the join store refused, taken back out of their processed batch: the batch's
counts become those of a batch that never held them (they are dead-lettered instead).

>>> from monitor.folding.pipeline import BatchConfig, Position, RawMessage, process_batch
>>> cfg = BatchConfig(window_seconds=60, allowed_lateness=0, max_future_skew=300, now=1000.0, min_event_time=0)
>>> raw = b'[{"request_id":"r","timestamp":990},{"request_id":"r","timestamp":991}]'
>>> out = process_batch([RawMessage("fb", 0, 7, raw, "feedback")], {}, cfg)
>>> drop_feedback(out, ("fb", 0), [1], window=60)
>>> out.events["feedback"], out.sources[("fb", 0)].event_ids, [p.count for p in out.sources[("fb", 0)].partials]
(1, ['fb:0:7:0'], [1.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monitor.folding.pipeline import BatchOutput, FoldColumns, feedback_counts

__all__ = ["drop_feedback"]


def drop_feedback(
    out: BatchOutput, source: tuple[str, int], drop: Sequence[int], window: int
) -> None:
    """Take the valid events at ``drop`` (indexes into its ``valid``) out of the feedback source
    ``source`` of ``out``, before anything but the batch's fold has read it: the source's partials
    (a feedback source's are its event counts only) are folded again from the rest."""
    src = out.sources[source]
    gone = set(drop)
    if not gone:
        return
    late = src.late or [False] * len(src.valid)
    n_late = sum(late[i] for i in gone)
    out.events[src.kind] -= len(gone) - n_late
    out.late[src.kind] -= n_late
    refused = {id(src.valid[i]) for i in gone}
    out.feedback = [e for e in out.feedback if id(e) not in refused]
    keep = [i for i in range(len(src.valid)) if i not in gone]
    src.valid = [src.valid[i] for i in keep]
    src.event_ids = [src.event_ids[i] for i in keep]
    src.offsets = [src.offsets[i] for i in keep]
    src.late = [late[i] for i in keep]
    if not src.valid:
        src.partials = []
        return
    c = FoldColumns.of(src.valid, window)
    src.partials = feedback_counts(
        c.times, c.starts, c.models, c.versions, np.asarray(src.late, bool), window
    )
