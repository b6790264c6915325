"""A least-recently-used map with a cap: per-version state that cannot grow without bound.

State kept per model version (detectors, sampling counts, baselines) lives in memory only while the
version is active; the least recently used entries go when the cap is passed. :meth:`LRUMap.trim`
is called once per batch, so one batch may hold more versions than the cap while it runs.

>>> versions = LRUMap[str, int](maxsize=2)
>>> versions["v1"], versions["v2"] = 1, 2
>>> versions.get("v1")          # touching v1 makes v2 the least recently used
1
>>> versions["v3"] = 3
>>> versions.trim(), sorted(versions)
(['v2'], ['v1', 'v3'])
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator, MutableMapping
from typing import Generic, TypeVar

__all__ = ["LRUMap"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUMap(MutableMapping[K, V], Generic[K, V]):
    """A mapping that remembers use order; :meth:`trim` drops the least recently used past ``maxsize``."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize: {maxsize} must be at least 1")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def __getitem__(self, key: K) -> V:
        value = self._data[key]
        self._data.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)

    def __delitem__(self, key: K) -> None:
        del self._data[key]

    def __contains__(self, key: object) -> bool:  # membership does not count as use
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def touch(self, key: K) -> None:
        """Mark ``key`` as just used."""
        self._data.move_to_end(key)

    def peek(self, key: K) -> V:
        """The value of ``key`` without marking it used."""
        return self._data[key]

    def replace(self, key: K, value: V) -> None:
        """Change the value of a present ``key`` without marking it used."""
        if key not in self._data:
            raise KeyError(key)
        self._data[key] = value

    def items_unordered(self) -> list[tuple[K, V]]:
        """A copy of the entries, least recently used first, without marking any used."""
        return list(self._data.items())

    def trim(self) -> list[K]:
        """Drop the least recently used entries above ``maxsize``; return their keys, oldest first."""
        evicted = []
        while len(self._data) > self.maxsize:
            key, _ = self._data.popitem(last=False)
            evicted.append(key)
        return evicted
