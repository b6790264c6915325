"""The dashboard's filters: read from the URL's query string, written back into every link.

>>> f = Filters.from_query({"model": "m", "range": "1h", "bogus": "x"})
>>> f.model, f.range, f.query_string()
('m', '1h', 'model=m&range=1h')
>>> Filters.from_query({"range": "forever"}).range
'all'
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from urllib.parse import urlencode

__all__ = ["RANGES", "Filters"]

#: Time ranges offered: label -> seconds back from now (None: everything the store holds).
RANGES: dict[str, float | None] = {
    "all": None,
    "15m": 900.0,
    "1h": 3600.0,
    "6h": 21600.0,
    "24h": 86400.0,
    "7d": 604800.0,
}


@dataclass(frozen=True, slots=True)
class Filters:
    """What the pages show: model, version, segment and time range, plus the drift cell opened."""

    model: str = ""
    version: str = ""
    segment: str = ""
    range: str = "all"
    feature: str = (
        ""  # the drift cell whose histograms are shown: feature, model, version, window start
    )
    cell_model: str = ""
    cell_version: str = ""
    window: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """Known keys only, each cut to 200 characters; an unknown range falls back to ``all``."""
        values = {f.name: str(query.get(f.name, ""))[:200] for f in fields(cls)}
        if values["range"] not in RANGES:
            values["range"] = "all"
        return cls(**values)

    def since(self, now: float | None = None) -> float | None:
        back = RANGES[self.range]
        return None if back is None else (time.time() if now is None else now) - back

    def window_start(self) -> float | None:
        try:
            return float(self.window)
        except ValueError:
            return None

    def query_string(self, **changes: str) -> str:
        """The URL query of these filters with ``changes`` applied; empty values and defaults left out."""
        current = replace(self, **changes)
        pairs = [(f.name, getattr(current, f.name)) for f in fields(current)]
        return urlencode([(k, v) for k, v in pairs if v and not (k == "range" and v == "all")])

    def without_cell(self) -> Filters:
        return replace(self, feature="", cell_model="", cell_version="", window="")
