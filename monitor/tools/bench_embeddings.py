"""`monitor bench --embeddings`: the embedder's throughput and the drift fold's cost with embeddings on.

Measured in process, no broker: (1) ``embed()`` on generated prompts in worker-sized batches
(texts/s); (2) the per-batch drift fold of the worker (histograms and data quality, then the same
plus prompt embeddings at the default and at full sample rate), in events/s. The fold is what
embeddings add to a worker's batch; the rest of the batch path (decode, validate, join, insert) is
unchanged, so ``monitor bench`` without ``--embeddings`` gives the end-to-end rate it comes on top of.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from monitor.adapters.embedders import load_embedder
from monitor.drift.baseline import build_baseline
from monitor.drift.embedding_baseline import attach_embeddings, sample_embedding_fields
from monitor.drift.embedding_windows import fold_embeddings
from monitor.drift.windows import fold_drift

__all__ = ["bench_embeddings", "run_bench_embeddings"]

_WORDS = [
    "invoice",
    "refund",
    "charge",
    "card",
    "plan",
    "bill",
    "payment",
    "account",
    "login",
    "password",
    "reset",
    "code",
    "device",
    "phone",
    "laptop",
    "order",
    "delivery",
    "parcel",
    "address",
    "return",
    "size",
    "colour",
    "price",
    "discount",
    "coupon",
    "subscription",
    "cancel",
    "upgrade",
    "error",
    "crash",
    "slow",
    "screen",
    "app",
    "update",
    "language",
    "settings",
    "email",
    "notification",
]


def prompts(n: int, seed: int = 7) -> list[str]:
    """``n`` prompts of 8–24 words drawn from a small support vocabulary."""
    rng = np.random.default_rng(seed)
    return [
        "Why does my " + " ".join(rng.choice(_WORDS, int(rng.integers(8, 24)))) + "?"
        for _ in range(n)
    ]


def _rate(fn: Any, batches: list[Any], per_batch: int) -> float:
    started = time.perf_counter()
    for batch in batches:
        fn(batch)
    return len(batches) * per_batch / (time.perf_counter() - started)


def bench_embeddings(
    embedder_spec: str = "wordllama", *, events: int = 20_000, batch: int = 1000
) -> dict[str, Any]:
    """The measurements as a dict (texts/s and events/s figures, the settings they were taken with)."""
    embedder = load_embedder(embedder_spec)
    if embedder is None:
        raise SystemExit("--embeddings needs MONITOR_EMBEDDER other than none")
    texts = prompts(events)
    chunks = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    embedder.embed(chunks[0])  # warm-up: first-call allocations
    embed_rate = _rate(embedder.embed, chunks, batch)
    reference: list[dict[str, Any]] = [
        {"features": {"channel": "web"}, "input_text": t} for t in texts[:1000]
    ]
    base = build_baseline("m", "v1", reference, now=0.0)
    fields = sample_embedding_fields(embedder, [r["input_text"] for r in reference])
    base = attach_embeddings(base, [{"embedding": f} for f in fields if f])
    baselines = {("m", "v1"): ("b1", base)}
    ids = [f"r{i}" for i in range(events)]

    def drift_only(i: int) -> None:
        n = len(chunks[i])
        fold_drift(baselines, [{"channel": "web"}] * n, chunks[i], np.zeros(n), ["m"] * n,
                   ["v1"] * n, np.ones(n), 300)  # fmt: skip

    def with_embeddings(rate: float) -> Any:
        def fold(i: int) -> None:
            drift_only(i)
            n = len(chunks[i])
            fold_embeddings(baselines, embedder, chunks[i], ids[i * batch : i * batch + n],
                            np.zeros(n), ["m"] * n, ["v1"] * n, np.ones(n), 300, rate=rate)  # fmt: skip

        return fold

    indexes = list(range(len(chunks)))
    return {
        "embedder": embedder.name,
        "events": events,
        "batch": batch,
        "embed_texts_per_s": round(embed_rate),
        "fold_events_per_s": {
            "drift_only": round(_rate(drift_only, indexes, batch)),
            "embeddings_rate_0.25": round(_rate(with_embeddings(0.25), indexes, batch)),
            "embeddings_rate_1": round(_rate(with_embeddings(1.0), indexes, batch)),
        },
    }


def run_bench_embeddings(
    embedder_spec: str, *, events: int, batch: int, output: Path | None = None
) -> int:
    result = bench_embeddings(embedder_spec, events=events, batch=batch)
    folds = result["fold_events_per_s"]
    print(f"embedder {result['embedder']}: {result['embed_texts_per_s']:,} texts/s "
          f"(batches of {batch})")  # fmt: skip
    print(f"drift fold, events/s: histograms only {folds['drift_only']:,}; "
          f"+ embeddings at rate 0.25 {folds['embeddings_rate_0.25']:,}; "
          f"at rate 1 {folds['embeddings_rate_1']:,}")  # fmt: skip
    if output is not None:
        output.write_text(json.dumps(result, indent=1))
    return 0
