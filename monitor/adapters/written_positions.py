"""The positions an embedded store's owner has read or written, so it checks a batch without a query.

With ``chdb://`` one process opens the store and every write of partials goes through its stores
(remote workers call the owner's ``/store``). There the stored position of a source partition, the
largest ``(position_epoch, last_offset)`` of its offset markers, changes only by this process's
writes, so it can be kept in memory: learnt from a query, then advanced by each insert's markers.

It stays exact because everything else forgets it: a statement that may write partials or change
a schema (anything but a read, an insert into another table, or an ALTER / OPTIMIZE / CREATE of
another table that does not name partials), an insert whose outcome is unknown (it raised), and
opening or closing the engine. It is not used at all while partials has a TTL or another table or
view names partials (a materialized view or a Buffer could write it behind our back), nor for a
ClickHouse server, which other processes write.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor.adapters.partial_columns import OFFSET_MARKER

__all__ = [
    "ELIGIBILITY_SQL",
    "NEVER",
    "PARTIALS_TABLE",
    "WrittenPositions",
    "forget_engine",
    "markers_of",
    "statement_effect",
    "written_positions",
]

Source = tuple[str, int]
Marker = tuple[int, int]  # (position epoch, last offset)
NEVER: Marker = (-1, -1)  # a source without markers: below every marker (epochs are UInt32)

_LEADING_COMMENTS = re.compile(r"(?:\s+|/\*.*?\*/|--[^\n]*(?:\n|$))*", re.DOTALL)
_READ = re.compile(r"(?:SELECT|WITH|DESCRIBE|DESC|SHOW|EXPLAIN|EXISTS)\b", re.IGNORECASE)
_IDENT = r"(?:`[^`]+`|\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_]*)"
_TARGET = re.compile(
    r"(INSERT\s+INTO|ALTER\s+TABLE|OPTIMIZE\s+TABLE|CREATE\s+TABLE(?:\s+IF\s+NOT\s+EXISTS)?)\s+"
    rf"(?:TABLE\s+)?((?:{_IDENT}\s*\.\s*)?{_IDENT})(?=[\s(]|$)",
    re.IGNORECASE,
)
_PARTIALS = re.compile(r"\bpartials\b", re.IGNORECASE)
PARTIALS_TABLE = "partials"

# Whether the cache may be used in a database: 0 rows of either kind. A TTL on partials deletes
# markers; any other table or view naming partials (materialized view, Buffer, Distributed) may write it.
ELIGIBILITY_SQL = (
    "SELECT countIf(database = {db:String} AND name = 'partials' AND match(create_table_query, '\\\\bTTL\\\\b')), "
    "countIf(name != 'partials' AND match(create_table_query, '\\\\bpartials\\\\b')) FROM system.tables"
)


def statement_effect(sql: str) -> str:
    """What a statement can change: ``"read"`` nothing; ``"rows"`` rows of another table than
    partials; ``"schema"`` another table than partials, its schema included; ``"any"`` anything.

    >>> statement_effect("/* q */ SELECT max(last_offset) FROM db.partials")
    'read'
    >>> statement_effect("INSERT INTO db.metric_windows (a) SELECT a FROM db.partials")
    'rows'
    >>> statement_effect("ALTER TABLE db.baseline_samples DELETE WHERE model = 'm'")
    'schema'
    >>> statement_effect("ALTER TABLE db.partials DELETE WHERE 1"), statement_effect("TRUNCATE TABLE db.x")
    ('any', 'any')
    >>> statement_effect("ALTER TABLE db.x MOVE PARTITION tuple() TO TABLE db.partials")
    'any'
    >>> statement_effect("SELECT 1; TRUNCATE TABLE db.x")  # chdb runs every statement of a query
    'any'
    """
    text = sql[_LEADING_COMMENTS.match(sql).end() :]  # type: ignore[union-attr]  # always matches
    if ";" in text.rstrip().rstrip(";"):
        return "any"
    if _READ.match(text):
        return "read"
    target = _TARGET.match(text)
    if target is None:
        return "any"
    table = target.group(2).rsplit(".", 1)[-1].strip().strip('`"')
    if table.lower() in (PARTIALS_TABLE, "function"):
        return "any"
    if target.group(1).upper().startswith("INSERT"):
        return "rows"
    return "any" if _PARTIALS.search(text, target.end()) else "schema"


def markers_of(
    data: Sequence[Sequence[Any]], columns: Sequence[str], column_oriented: bool
) -> dict[Source, Marker] | None:
    """The largest ``(epoch, last offset)`` of each source's offset markers in an insert into partials;
    ``None`` when that cannot be told (a column missing, a value of another type)."""
    index = {name: i for i, name in enumerate(columns)}
    if not {"src_topic", "src_partition", "last_offset", "name"} <= index.keys():
        return None
    keys = [index["src_topic"], index["src_partition"], index["last_offset"]]
    if "position_epoch" in index:
        keys.append(index["position_epoch"])
    picked: Iterable[Sequence[Any]]
    names = data[index["name"]] if column_oriented else [row[index["name"]] for row in data]
    if not set(map(type, names)) <= {str}:  # bytes would be stored as a marker, yet compare unequal
        return None
    if column_oriented:
        at = list[int]()
        with contextlib.suppress(ValueError):  # the markers are few: found at C speed
            while True:
                at.append(names.index(OFFSET_MARKER, at[-1] + 1 if at else 0))
        picked = [[data[k][i] for k in keys] for i in at]
    else:
        picked = ([row[k] for k in keys] for row in data if row[index["name"]] == OFFSET_MARKER)
    found: dict[Source, Marker] = {}
    for topic, partition, last, *rest in picked:
        epoch = rest[0] if rest else 0  # the column's DEFAULT
        if not isinstance(topic, str) or not all(type(v) is int for v in (partition, last, epoch)):
            return None
        marker = (epoch, last)
        if (topic, partition) not in found or marker > found[(topic, partition)]:
            found[(topic, partition)] = marker
    return found


class WrittenPositions:
    """``(epoch, last offset)`` of the source partitions of one database, where known
    (:data:`NEVER` for one without markers).

    ``lock`` (reentrant) is held across a check and its insert; ``generation`` grows with every
    write and every forgetting, so a query's result is kept only if nothing happened meanwhile.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.generation = 0
        self.eligible: bool | None = (
            None  # None: not checked since the schema last may have changed
        )
        self._known: dict[Source, Marker] = {}

    def known(self, sources: Iterable[Source]) -> dict[Source, Marker]:
        return {s: self._known[s] for s in sources if s in self._known}

    def learn(self, found: Mapping[Source, Marker], generation: int) -> None:
        """Keep positions read by a query that started at ``generation`` (dropped if anything was
        written or forgotten since)."""
        with self.lock:
            if generation == self.generation:
                self._known.update(found)

    def written(self, markers: Mapping[Source, Marker] | None) -> None:
        """After an insert into partials succeeded: advance the known sources by its markers."""
        with self.lock:
            self.generation += 1
            if markers is None:
                self._known.clear()
                return
            for source, marker in markers.items():
                if source in self._known:
                    self._known[source] = max(self._known[source], marker)

    def forget(self, sources: Iterable[Source] | None = None, *, schema: bool = False) -> None:
        """Forget ``sources`` (all when ``None``); with ``schema``, check eligibility again."""
        with self.lock:
            self.generation += 1
            if sources is None:
                self._known.clear()
            else:
                for source in sources:
                    self._known.pop(source, None)
            if schema:
                self.eligible = None


_REGISTRY: dict[tuple[str, str], WrittenPositions] = {}
_REGISTRY_LOCK = threading.Lock()


def written_positions(engine: str, database: str) -> WrittenPositions:
    """The one :class:`WrittenPositions` of a database of the engine at path ``engine`` in this
    process: every store object on that engine shares it (chdb runs one engine per process)."""
    with _REGISTRY_LOCK:
        return _REGISTRY.setdefault((engine, database), WrittenPositions())


def forget_engine(engine: str, *, schema: bool = True) -> None:
    """Forget every position known in the engine at ``engine`` (a statement that may have changed
    any of them ran, or the engine was opened or closed)."""
    with _REGISTRY_LOCK:
        caches = [cache for (path, _), cache in _REGISTRY.items() if path == engine]
    for cache in caches:
        cache.forget(schema=schema)
