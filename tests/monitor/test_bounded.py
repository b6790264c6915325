from __future__ import annotations

import pytest

from monitor.bounded import LRUMap


def test_trim_drops_the_least_recently_used_and_peek_does_not_count_as_use():
    cache = LRUMap[str, int](maxsize=3)
    for i, key in enumerate("abcd"):
        cache[key] = i
    cache.touch("a")
    assert cache.peek("b") == 1  # b stays the least recently used
    cache.replace("c", 20)  # neither does replacing a value
    assert cache.trim() == ["b"] and list(cache) == ["c", "d", "a"] and cache["c"] == 20
    assert cache.trim() == []


def test_bad_sizes_and_replacing_a_missing_key_are_refused():
    with pytest.raises(ValueError, match="maxsize: 0"):
        LRUMap(0)
    with pytest.raises(KeyError):
        LRUMap(1).replace("x", 1)
