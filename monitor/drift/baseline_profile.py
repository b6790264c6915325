"""The baseline record: a :class:`FeatureProfile` per feature in a :class:`Baseline`, and its JSON form."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from monitor.drift.binning import CategoricalBins, NumericBins
from monitor.drift.embeddings import EmbeddingProfile
from monitor.errors import ConfigError

__all__ = ["FEATURE_KINDS", "FORMAT", "Baseline", "FeatureProfile"]

FEATURE_KINDS = ("numeric", "categorical")
FORMAT = "monitor.drift.baseline/1"


@dataclass(frozen=True)
class FeatureProfile:
    """Reference histogram of one feature; ``minimum``/``maximum`` only for numeric features."""

    name: str
    kind: Literal["numeric", "categorical"]
    bins: NumericBins | CategoricalBins
    reference_counts: tuple[int, ...]
    n: int
    minimum: float | None
    maximum: float | None
    derived_from_text: bool = False

    def __post_init__(self) -> None:
        expected = {"numeric": NumericBins, "categorical": CategoricalBins}.get(self.kind)
        if expected is None:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {FEATURE_KINDS}")
        if not isinstance(self.bins, expected):
            raise TypeError(f"{self.name}: {self.kind} feature needs {expected.__name__}")
        counts = tuple(int(c) for c in self.reference_counts)
        if len(counts) != self.bins.n_bins or sum(counts) != self.n:
            raise ValueError(
                f"{self.name}: reference_counts {counts} do not fit {self.bins.n_bins} bins "
                f"summing to n={self.n}"
            )
        object.__setattr__(self, "reference_counts", counts)

    def reference_histogram(self) -> np.ndarray:
        """The reference counts as an int64 array."""
        return np.array(self.reference_counts, dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "derived_from_text": self.derived_from_text}
        if isinstance(self.bins, NumericBins):
            out["edges"] = list(self.bins.edges)
        else:
            out["categories"] = list(self.bins.categories)
        out.update(
            reference_counts=list(self.reference_counts),
            n=self.n,
            minimum=self.minimum,
            maximum=self.maximum,
        )
        return out

    @classmethod
    def from_dict(cls, name: str, raw: Mapping[str, Any]) -> FeatureProfile:
        kind = raw["kind"]
        if kind == "numeric":
            bins: NumericBins | CategoricalBins = NumericBins(name, tuple(raw["edges"]))
        else:
            bins = CategoricalBins(name, tuple(raw["categories"]))
        return cls(
            name,
            kind,
            bins,
            tuple(raw["reference_counts"]),
            int(raw["n"]),
            raw["minimum"],
            raw["maximum"],
            bool(raw.get("derived_from_text", False)),
        )


@dataclass(frozen=True)
class Baseline:
    """Reference profile of one model version: feature histograms and reference accuracy.

    ``features`` is keyed by feature name; its size bounds the ``feature`` label of metrics.
    """

    model: str
    model_version: str
    created_at: float
    n: int
    features: Mapping[str, FeatureProfile]
    accuracy: float | None = None
    n_labeled: int = 0
    source: str = ""
    embedding: EmbeddingProfile | None = None  # prompt embeddings (monitor.drift.embeddings)

    def to_json(self) -> str:
        """A JSON document that :meth:`from_json` turns back into an equal baseline."""
        doc = {
            "format": FORMAT,
            "model": self.model,
            "model_version": self.model_version,
            "created_at": self.created_at,
            "n": self.n,
            "accuracy": self.accuracy,
            "n_labeled": self.n_labeled,
            "source": self.source,
            "features": {name: p.to_dict() for name, p in self.features.items()},
        }
        if self.embedding is not None:
            doc["embedding"] = self.embedding.to_dict()
        return json.dumps(doc, allow_nan=False, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Baseline:
        """Parse :meth:`to_json` output; a wrong document raises ``ConfigError`` saying why."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"baseline is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise ConfigError(f"baseline format is {found!r}, expected {FORMAT!r}")
        try:
            features = {n: FeatureProfile.from_dict(n, raw) for n, raw in doc["features"].items()}
            return cls(
                doc["model"],
                doc["model_version"],
                float(doc["created_at"]),
                int(doc["n"]),
                features,
                doc["accuracy"],
                int(doc["n_labeled"]),
                doc["source"],
                EmbeddingProfile.from_dict(doc["embedding"]) if doc.get("embedding") else None,
            )
        except KeyError as exc:
            raise ConfigError(f"baseline is missing the key {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"baseline is malformed: {exc}") from None
