"""Which requests the judge sees, and the weight that keeps its rates unbiased.

A request is sampled when a stable hash of its ``request_id`` falls below the rate, so the
production and the shadow answers of one request are sampled together, in every worker. Flagged
requests (a human took over, negative feedback, a bad case) are judged whatever the hash says. The
inverse-probability weight of a judgement is ``1 / P(judged)``: 1 for a flagged request (always
judged), ``1 / rate`` for one sampled only by the hash. Weighted means (Hajek) over the judged
requests then estimate the whole traffic's.

>>> sampled("req-1", 1.0), sampled("req-1", 0.0)
(True, False)
>>> round(sum(sampled(f"r{i}", 0.1) for i in range(20000)) / 20000, 2)
0.1
>>> inclusion_weight(0.1, flagged=False), inclusion_weight(0.1, flagged=True)
(10.0, 1.0)
>>> flagged(rating=1, thumbs=None, human_takeover=None, bad_case=None)
True
"""

from __future__ import annotations

import hashlib

__all__ = ["NEGATIVE_RATING", "flagged", "hash_fraction", "inclusion_weight", "sampled"]

NEGATIVE_RATING = 2  # a rating of 1 or 2 on the 1-5 scale is negative feedback
_SCALE = float(1 << 64)


def hash_fraction(request_id: str) -> float:
    """A uniform number in [0, 1) fixed by ``request_id`` (BLAKE2b, the same in every process)."""
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def sampled(request_id: str, rate: float) -> bool:
    """Whether the uniform sample at ``rate`` (0-1) includes the request."""
    return hash_fraction(request_id) < rate


def flagged(
    rating: int | None, thumbs: str | None, human_takeover: bool | None, bad_case: bool | None
) -> bool:
    """A human takeover, a bad case, thumbs down or a rating of at most :data:`NEGATIVE_RATING`."""
    return bool(
        human_takeover
        or bad_case
        or thumbs == "down"
        or (rating is not None and rating <= NEGATIVE_RATING)
    )


def inclusion_weight(rate: float, *, flagged: bool) -> float:
    """``1 / P(judged)``: 1 for flagged requests, else ``1 / rate``."""
    if flagged or rate >= 1.0:
        return 1.0
    if rate <= 0.0:
        raise ValueError(f"an unflagged request cannot be judged at sample rate {rate}")
    return 1.0 / rate
