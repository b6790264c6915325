"""What one production or shadow answer keeps while it waits for its partner, and what a pair measures.

An answer is reduced to a :class:`Side` before it is stored in the join store: the hash of its
normalised answer (for exact agreement), a similarity sketch of its output text, its length,
latency, output tokens and error flag. Raw text is never kept. :func:`pair_values` turns a
production side and a shadow side into one value per metric of
:data:`~monitor.catalogue.SHADOW_METRICS` (the paired difference is ``value - reference``).

With an embedder, a side also keeps ``meaning``: its output text's embedding, projected to 64
dimensions (:func:`answer_meanings`); the projected inner product of two sides is an unbiased
estimate of the cosine of their full embeddings (``semantic_similarity``).

The text similarity is a slot (:class:`TextSimilarity`): a ``sketch`` of one text and a
``similarity`` of two sketches. The default is the character 3-gram Jaccard similarity estimated
from bottom-k sketches (exact while a text has at most ``k`` distinct 3-grams); an embedding
similarity plugs in with the same two methods.

>>> p = side_of(prediction=None, output_text="Your refund is on its way.", latency_ms=300.0, output_tokens=8)
>>> s = side_of(prediction=None, output_text="your refund is on its way. ", latency_ms=340.0, output_tokens=9)
>>> values = pair_values(p, s)
>>> values["agreement"], values["similarity"], values["latency_ms"], values["output_tokens"]
(1.0, 1.0, 40.0, 1.0)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import orjson

from monitor.catalogue import normalise_answer
from monitor.drift.embedding_space import projection, reduce
from monitor.kept_json import kept_json

__all__ = [
    "NgramJaccard",
    "Side",
    "TextSimilarity",
    "answer_meanings",
    "decode_side",
    "encode_side",
    "normalise_text",
    "pair_values",
    "side_of",
]


class TextSimilarity(Protocol):
    """A text similarity in [0, 1] computed from a sketch of each text (JSON-serialisable)."""

    def sketch(self, text: str) -> list[int]:
        """What is kept of a normalised text."""

    def similarity(self, a: list[int], b: list[int]) -> float:
        """Similarity of two texts from their sketches."""


def _hash64(data: str) -> int:
    return (
        int.from_bytes(hashlib.blake2b(data.encode(), digest_size=8).digest(), "big") >> 1
    )  # fits int64


@dataclass(frozen=True, slots=True)
class NgramJaccard:
    """Character n-gram Jaccard similarity from bottom-k MinHash sketches (Broder 1997).

    >>> j = NgramJaccard()
    >>> j.similarity(j.sketch("abcd"), j.sketch("abce"))  # {abc, bcd} vs {abc, bce}
    0.3333333333333333
    """

    n: int = 3
    k: int = 256

    def __post_init__(self) -> None:
        if self.n < 1 or self.k < 1:
            raise ValueError(f"n {self.n} and k {self.k} must be positive")

    def sketch(self, text: str) -> list[int]:
        grams = {text[i : i + self.n] for i in range(max(len(text) - self.n + 1, 1))}
        return sorted(_hash64(g) for g in grams)[: self.k]

    def similarity(self, a: list[int], b: list[int]) -> float:
        if not a and not b:
            return 1.0
        union = sorted(set(a) | set(b))[: self.k]
        both = set(a) & set(b)
        return sum(1 for h in union if h in both) / len(union)


DEFAULT_SIMILARITY = NgramJaccard()


def normalise_text(text: str) -> str:
    """Whitespace collapsed, then :func:`~monitor.catalogue.normalise_answer` (stripped, case-folded)."""
    return str(normalise_answer(" ".join(text.split())))


@dataclass(frozen=True, slots=True)
class Side:
    """One answer as the join store keeps it."""

    model_version: str
    answer: str | None  # hash of the normalised prediction
    text: str | None  # hash of the normalised output text
    sketch: list[int] | None
    length: int | None
    latency_ms: float | None
    output_tokens: int | None
    error: bool
    meaning: list[float] | None = None  # projected embedding of the output text (answer_meanings)


def side_of(
    prediction: Any,
    output_text: str | None,
    latency_ms: float | None,
    output_tokens: int | None,
    error: str | None = None,
    model_version: str = "",
    similarity: TextSimilarity = DEFAULT_SIMILARITY,
    meaning: list[float] | None = None,
) -> Side:
    """The side of one answer (an answer with ``error`` has no answer of its own)."""
    answer = text_hash = sketch = length = None
    if error is None:
        normalised = normalise_answer(prediction)
        if normalised is not None:
            answer = hashlib.blake2b(repr(normalised).encode(), digest_size=16).hexdigest()
        if output_text is not None:
            text = normalise_text(output_text)
            text_hash = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            sketch, length = similarity.sketch(text), len(output_text)
    return Side(
        model_version,
        answer,
        text_hash,
        sketch,
        length,
        latency_ms,
        output_tokens,
        error is not None,
        meaning if error is None else None,
    )


def encode_side(side: Side, timestamp: float, event_id: str = "") -> bytes:
    """The join-store payload of one side; ``timestamp`` is the event time of the answer."""
    return kept_json(
        {
            "id": event_id,
            "t": timestamp,
            "v": side.model_version,
            "a": side.answer,
            "x": side.text,
            "k": side.sketch,
            "n": side.length,
            "l": side.latency_ms,
            "o": side.output_tokens,
            "e": side.error,
            **({"m": side.meaning} if side.meaning is not None else {}),
        }
    )


def decode_side(payload: bytes) -> tuple[Side, float]:
    """The side and its event time."""
    d = orjson.loads(payload)
    side = Side(d["v"], d["a"], d["x"], d["k"], d["n"], d["l"], d["o"], bool(d["e"]), d.get("m"))
    return side, float(d["t"])


def _delta(shadow: float | None, production: float | None) -> float | None:
    return None if shadow is None or production is None else float(shadow) - float(production)


def pair_values(
    production: Side, shadow: Side, similarity: TextSimilarity = DEFAULT_SIMILARITY
) -> dict[str, float]:
    """One value per shadow metric this pair has (see :data:`~monitor.catalogue.SHADOW_METRICS`)."""
    out = {"error_rate": float(shadow.error) - float(production.error)}
    answered = not shadow.error and not production.error
    if (
        answered and production.answer is not None and shadow.answer is not None
    ):  # predictions first
        out["agreement"] = float(production.answer == shadow.answer)
    elif answered and production.text is not None and shadow.text is not None:
        out["agreement"] = float(production.text == shadow.text)
    if answered and production.sketch is not None and shadow.sketch is not None:
        out["similarity"] = similarity.similarity(production.sketch, shadow.sketch)
    p_meaning, s_meaning = production.meaning, shadow.meaning
    # different lengths: made by different embedders, not comparable
    if answered and p_meaning and s_meaning and len(p_meaning) == len(s_meaning):
        out["semantic_similarity"] = sum(a * b for a, b in zip(p_meaning, s_meaning))
    if not answered:  # a failure's latency is its timeout: it counts in error_rate only
        return out
    for name, d in (
        ("latency_ms", _delta(shadow.latency_ms, production.latency_ms)),
        ("output_tokens", _delta(shadow.output_tokens, production.output_tokens)),
        ("length_chars", _delta(shadow.length, production.length)),
    ):
        if d is not None:
            out[name] = d
    return out


MEANING_DIM = 64
MEANING_SEED = 10  # the projection of answers (prompts use their baseline's)


def answer_meanings(vectors: np.ndarray) -> list[list[float]]:
    """The ``meaning`` of each answer: its embedding normalised and projected to 64 dimensions,
    rounded to 4 decimals (about 0.5 KB in the join store).

    >>> m = answer_meanings(np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    >>> len(m[0]), m[0] == m[1], round(sum(a * b for a, b in zip(m[0], m[0])), 1)
    (64, True, 0.7)
    """
    if len(vectors) == 0:
        return []
    matrix = projection(vectors.shape[1], MEANING_DIM, MEANING_SEED)
    return [[round(v, 4) for v in row] for row in reduce(vectors, matrix).tolist()]
