"""Load reference records from JSONL, CSV or Parquet files as inference-shaped dicts.

Every row becomes ``{"features": {...}, <top-level fields>...}``: keys that are fields of the
event contract (``request_id``, ``input_text``, ``prediction``, ``usage``, ``label``, ...; read from
:mod:`monitor.contract.fields`) stay at the top level; every other key or column goes into
``features``, merged with a ``features`` object if the row has one. CSV cells are text, so numeric-looking cells become ints or floats and empty
cells become absent values.

>>> shape_record({"model": "m", "age": 31, "features": {"lang": "en"}})
{'model': 'm', 'features': {'lang': 'en', 'age': 31}}
>>> parse_cell("12"), parse_cell("1e3"), parse_cell(""), parse_cell("12a")
(12, 1000.0, None, '12a')
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.fields import contract_fields
from monitor.errors import ConfigError

__all__ = ["SUFFIXES", "TOP_LEVEL_FIELDS", "load_records", "parse_cell", "shape_record"]


def _contract_columns() -> tuple[frozenset[str], frozenset[str]]:
    """Keys that are event fields (not features), and the columns read as text, from the contract."""
    top: set[str] = {"kind"}  # a file may say which kind each row is
    text: set[str] = {"kind"}
    for record in (InferenceEvent, FeedbackEvent):
        for name, spec in contract_fields(record):
            location = spec.location(name)
            top.add(location[0])
            if (
                len(location) > 1
            ):  # a flat file spells usage.input_tokens as that column or input_tokens
                top.update({".".join(location), name})
            if spec.kind in ("id", "text", "choice"):
                text.add(name)
    return frozenset(top), frozenset(text)


TOP_LEVEL_FIELDS, _TEXT_COLUMNS = _contract_columns()
SUFFIXES = (".jsonl", ".ndjson", ".csv", ".parquet")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_cell(text: str) -> int | float | str | None:
    """A CSV cell as a number when it looks like one, ``None`` when empty, else the text."""
    if text == "":
        return None
    if _NUMBER.fullmatch(text.strip()):
        number = float(text)
        return int(text) if number.is_integer() and text.strip().lstrip("+-").isdigit() else number
    return text


def shape_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """Move every key that is not a top-level event field into ``features``."""
    nested = row.get("features")
    if isinstance(nested, list):  # a Parquet map column arrives as (key, value) pairs
        nested = dict(nested)
    features: dict[str, Any] = dict(nested) if isinstance(nested, Mapping) else {}
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in TOP_LEVEL_FIELDS:
            out[key] = value
        elif key != "features":
            features[key] = value
    out["features"] = features
    return out


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    line_no = 0
    with _open(path) as handle:
        try:
            for line_no, line in enumerate(handle, start=1):
                if line.strip():
                    yield shape_record(_json_object(path, line_no, line))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}:{line_no + 1}: not UTF-8 ({exc.reason})") from None


def _json_object(path: Path, line_no: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{line_no}: invalid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise ConfigError(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
    return row


def _csv(path: Path) -> Iterator[dict[str, Any]]:
    with _open(path) as handle:
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                if None in row:
                    raise ConfigError(f"{path}:{reader.line_num}: more cells than header columns")
                yield shape_record(
                    {
                        k: v if k in _TEXT_COLUMNS or v is None else parse_cell(v)
                        for k, v in row.items()
                    }
                )
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None


def _parquet(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{path}: unreadable Parquet file ({exc})") from None
    try:
        for batch in parquet.iter_batches():
            yield from (shape_record(row) for row in batch.to_pylist())
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{path}: unreadable Parquet data ({exc})") from None


def _open(path: Path) -> Any:
    try:
        return path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None


def load_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records of a ``.jsonl``/``.ndjson``, ``.csv`` or ``.parquet`` file, one dict per row.

    An unknown suffix or a missing file raises ``ConfigError`` at once; a bad line raises it
    while iterating, naming the path and the line.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"{path}: unknown suffix {suffix!r}, expected one of {SUFFIXES}")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    if suffix == ".csv":
        return _csv(path)
    if suffix == ".parquet":
        return _parquet(path)
    return _jsonl(path)
