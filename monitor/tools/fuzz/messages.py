"""Generated and mutated Kafka messages for fuzzing the batch path, from one seeded ``random.Random``.

Each message knows what it should become: ``elements`` (events in it, ``None`` when unknown: random
bytes, byte flips) and ``controls`` (indexes of valid, unmutated events that must be accepted).

>>> import random
>>> msg = generate_message(random.Random(3), "inference", 0, now=1767225600.0, request_ids=[])
>>> isinstance(msg.value, bytes), msg.kind
(True, 'inference')
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

__all__ = [
    "POISON",
    "FuzzMessage",
    "generate_message",
    "mutate_event",
    "valid_feedback",
    "valid_inference",
]

MODELS = ("support-assistant", "router", "m\N{GREEK SMALL LETTER ALPHA}")
VERSIONS = ("v1", "v2", "2026-11-rc1")
LANGS = ("en", "de", "ja", "pt-BR", "\N{GRINNING FACE}")
REGIONS = ("eu", "us", "apac")
TEXTS = (
    None,
    "Why was I charged twice?",
    "Wo ist meine Bestellung?",
    "注文はどこですか",
    "🙂 " * 40,
)
# Values the store, the encoders or the maths could choke on, tried in every field.
POISON: tuple[Any, ...] = (
    2**64,
    2**64 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    10**400,
    -(10**30),
    0,
    -1,
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -1e300,
    1e299,
    5e-324,
    0.0,
    "",
    "\ud800",
    "a\udfffb",
    "\udc80\ud800",
    "x" * 257,
    "y" * 1025,
    "z" * 5000,
    "\x00",
    "\N{GRINNING FACE}" * 300,
    "NaN",
    "1e400",
    "2026-13-45T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    [],
    [1, [2, [3]]],
    {},
    {"a": {"b": None}},
    True,
    False,
    None,
    86_400,
    946_684_799,
    946_684_800,
    10**11,
    10**12,
    10**15,
    10**18,
    4_102_444_800,
)
KEYS = ("", "\ud800", "k" * 257, "ok", "features", "\x00", "👍" * 100)


@dataclass(frozen=True)
class FuzzMessage:
    kind: str
    value: bytes
    elements: int | None  # events the message holds; None when it cannot be known
    controls: tuple[int, ...]  # indexes of events that must be accepted
    shape: str


def valid_inference(rng: random.Random, rid: str, now: float) -> dict[str, Any]:
    event: dict[str, Any] = {
        "request_id": rid,
        "timestamp": round(now - rng.uniform(0, 240), 3),
        "model": rng.choice(MODELS),
        "model_version": rng.choice(VERSIONS),
        "features": {
            "prompt_chars": rng.randint(0, 4000),
            "language": rng.choice(LANGS),
            "p": rng.random(),
            "vip": rng.random() < 0.1,
            "missing": None,
        },
        "latency_ms": round(min(rng.gammavariate(2.0, 300.0), 1e6), 1),
        "usage": {"input_tokens": rng.randint(1, 4000), "output_tokens": rng.randint(1, 4000)},
        "prediction": rng.choice(("refund", "answer", 1, 0, True, 0.5)),
        "score": rng.random(),
        "segment": {"region": rng.choice(REGIONS)},
        "turn": rng.randint(0, 20),
        "deployment": rng.choice(("production", "canary", "shadow")),
    }
    text = rng.choice(TEXTS)
    if text is not None:
        event["input_text"] = text
    if rng.random() < 0.2:
        event["timestamp"] = int(event["timestamp"] * 1000)  # epoch milliseconds
    return event


def valid_feedback(rng: random.Random, rid: str, now: float) -> dict[str, Any]:
    event: dict[str, Any] = {"request_id": rid, "timestamp": round(now - rng.uniform(0, 120), 3)}
    for name, value in (
        ("rating", rng.randint(1, 5)),
        ("thumbs", rng.choice(("up", "down"))),
        ("task_completed", rng.random() < 0.7),
        ("human_takeover", rng.random() < 0.2),
        ("judge_score", round(rng.uniform(0, 10), 2)),
        ("label", rng.choice(("refund", "answer", 1))),
        ("turns", rng.randint(0, 30)),
        ("bad_case", rng.random() < 0.05),
    ):
        if rng.random() < 0.5:
            event[name] = value
    return event


def _paths(event: dict[str, Any]) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = [(k,) for k in event]
    for nested in ("features", "segment", "usage"):
        if isinstance(event.get(nested), dict):
            paths += [(nested, k) for k in event[nested]]
    return paths


def mutate_event(rng: random.Random, event: dict[str, Any]) -> Any:
    """One field set to a poison value, removed or added; or the event replaced by a non-object."""
    choice = rng.random()
    if choice < 0.05:
        return rng.choice(POISON)
    event = json.loads(json.dumps(event))  # a deep copy
    path = rng.choice(_paths(event))
    parent = event if len(path) == 1 else event[path[0]]
    if choice < 0.15:
        del parent[path[-1]]
    elif choice < 0.3:
        container = rng.choice(("features", "segment", "usage", None))
        target = event.setdefault(container, {}) if container else event
        if isinstance(target, dict):
            target[rng.choice(KEYS)] = rng.choice(POISON)
    else:
        parent[path[-1]] = rng.choice(POISON)
    return event


def _dumps(value: Any) -> bytes:
    # stdlib json: NaN/Infinity literals, exact big integers, lone surrogates as \ud800 escapes
    return json.dumps(value, allow_nan=True).encode()


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth > 4 or kind < 0.4:
        return rng.choice(POISON)
    if kind < 0.7:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(KEYS + ("request_id", "timestamp", "model")): _random_json(rng, depth + 1)
        for _ in range(rng.randint(0, 4))
    }


def _flip_bytes(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        action = rng.random()
        at = rng.randrange(len(data) + 1)
        if action < 0.4 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif action < 0.7:
            data[at:at] = rng.choice(
                (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b'"', b"\\u", b"[", b"}")
            )
        else:
            del data[at:]
    return bytes(data)


def generate_message(
    rng: random.Random, kind: str, serial: int, *, now: float, request_ids: list[str]
) -> FuzzMessage:
    """One message of ``kind``; feedback mostly refers to earlier inference ``request_ids`` (joins)."""

    def event(i: int) -> dict[str, Any]:
        if kind == "inference":
            rid = f"r{serial}-{i}"
            request_ids.append(rid)
            return valid_inference(rng, rid, now)
        rid = (
            rng.choice(request_ids) if request_ids and rng.random() < 0.8 else f"orphan{serial}-{i}"
        )
        return valid_feedback(rng, rid, now)

    shape = rng.random()
    if shape < 0.35:
        return FuzzMessage(kind, _dumps(event(0)), 1, (0,), "valid")
    if shape < 0.6:
        events, controls = [], []
        for i in range(rng.randint(1, 8)):
            if rng.random() < 0.6:
                controls.append(i)
                events.append(event(i))
            else:
                events.append(mutate_event(rng, event(i)))
        return FuzzMessage(kind, _dumps(events), len(events), tuple(controls), "mixed_array")
    if shape < 0.8:
        mutated = mutate_event(
            rng, event(0)
        )  # a list in place of the event is a batch of its elements
        return FuzzMessage(
            kind, _dumps(mutated), len(mutated) if isinstance(mutated, list) else 1, (), "mutated"
        )
    if shape < 0.88:
        return FuzzMessage(kind, _flip_bytes(rng, _dumps(event(0))), None, (), "byte_flips")
    if shape < 0.94:
        value = _random_json(rng)
        return FuzzMessage(
            kind, _dumps(value), len(value) if isinstance(value, list) else 1, (), "random_json"
        )
    if shape < 0.98:
        return FuzzMessage(kind, rng.randbytes(rng.randint(0, 64)), None, (), "random_bytes")
    if shape < 0.995:
        depth = rng.choice((100, 1000, 1100, 5000))
        return FuzzMessage(kind, b"[" * depth + b"]" * depth, None, (), "deep")
    return FuzzMessage(kind, b"[" + b",".join([b"{}"] * 10_001) + b"]", None, (), "huge_array")
