"""The judge's statistics in Redis: pairwise verdicts and judge/human label pairs outlive a
runner's restart, so the win rates, κ and ``MonitorJudgeAgreementLow`` do not start from nothing
after every deploy.

Under the prefix: ``pairs`` and ``agreement``, sets of the pair keys (JSON ``[model, production
version, shadow version]``) and judge models seen; ``pair:<key>`` and ``agreement:<judge model>``,
lists of JSON observations, each trimmed to the last :data:`~monitor.judge.stats.MAX_ITEMS` (what
the runner keeps) and kept :data:`KEEP_SECONDS` after its last write. An item that does not read
back (another program's value) is left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson

from monitor.adapters.client_security import redis_client_options
from monitor.adapters.redis_calls import RedisCalls
from monitor.judge.pairwise import PairVerdict
from monitor.judge.stats import MAX_ITEMS, PairKey, PairStats, PairSummary
from monitor.settings import Settings

__all__ = [
    "KEEP_SECONDS",
    "RedisStatsJournal",
    "pair_summaries",
    "stats_journal",
    "summaries_reader",
]

KEEP_SECONDS = 30 * 86400  # a month without a verdict: the comparison is over
_WINNERS = frozenset({"production", "shadow", "tie"})

Loaded = tuple[
    dict[PairKey, list[tuple[PairVerdict, float, float]]], dict[str, list[tuple[str, str]]]
]


class RedisStatsJournal:
    """:class:`monitor.judge.stats.StatsJournal` in Redis; :class:`StoreError` when unreachable."""

    def __init__(
        self,
        url: str,
        prefix: str,
        client_options: dict[str, Any] | None = None,
        max_items: int = MAX_ITEMS,
    ) -> None:
        self.prefix = prefix
        self.max_items = max_items
        self._calls = RedisCalls(url, "judge statistics", client_options)

    def add_pair(
        self, key: PairKey, verdict: PairVerdict, length_delta: float, weight: float
    ) -> None:
        item = [verdict.winner, verdict.flipped, float(length_delta), float(weight)]
        self._append("pairs", orjson.dumps(list(key)).decode(), "pair:", item)

    def add_agreement(self, judge_model: str, judge: str, human: str) -> None:
        self._append("agreement", judge_model, "agreement:", [judge, human])

    def load(self) -> Loaded:
        def read(client: Any) -> Loaded:
            pairs: dict[PairKey, list[tuple[PairVerdict, float, float]]] = {}
            for member in sorted(_texts(client.smembers(f"{self.prefix}pairs"))):
                key = _pair_key(member)
                items = [_pair_item(i) for i in client.lrange(f"{self.prefix}pair:{member}", 0, -1)]
                if key is not None:
                    pairs[key] = [i for i in items if i is not None]
            agreement: dict[str, list[tuple[str, str]]] = {}
            for model in sorted(_texts(client.smembers(f"{self.prefix}agreement"))):
                raw = client.lrange(f"{self.prefix}agreement:{model}", 0, -1)
                agreement[model] = [i for i in map(_label_pair, raw) if i is not None]
            return pairs, agreement

        result: Loaded = self._calls.run("read", read)
        return result

    def _append(self, index: str, member: str, kind: str, item: list[Any]) -> None:
        def append(client: Any) -> None:
            key = f"{self.prefix}{kind}{member}"
            pipe = client.pipeline(transaction=True)
            pipe.rpush(key, orjson.dumps(item))
            pipe.ltrim(key, -self.max_items, -1)
            pipe.expire(key, KEEP_SECONDS)
            pipe.sadd(f"{self.prefix}{index}", member)
            pipe.expire(f"{self.prefix}{index}", KEEP_SECONDS)
            pipe.execute()

        self._calls.run("write", append)

    def close(self) -> None:
        self._calls.close()


def stats_journal(s: Settings) -> RedisStatsJournal | None:
    """The win rates' and κ's observations in MONITOR_REDIS_URL's Redis under MONITOR_APP_ID, where
    ``monitor judge`` keeps them and its next runner, the shadow report and the dashboard read them;
    None (a runner's own memory) without Redis."""
    if not s.redis_dsn:
        return None
    return RedisStatsJournal(s.redis_dsn, s.redis_prefix("judge:stats"), redis_client_options(s))


def summaries_reader(s: Settings) -> Callable[[], dict[PairKey, PairSummary]] | None:
    """What the dashboard calls at each page for the judge's summaries (:func:`pair_summaries`
    of ``s``); None without Redis: no judge verdicts to show."""
    return partial(pair_summaries, s) if s.redis_dsn else None


def pair_summaries(s: Settings) -> dict[PairKey, PairSummary]:
    """The judge's summary of each comparison it has verdicts of (empty without Redis);
    :class:`StoreError` when Redis does not answer."""
    journal = stats_journal(s)
    if journal is None:
        return {}
    try:
        pairs, _ = journal.load()
    finally:
        journal.close()
    return {key: PairStats().extend(items).summary() for key, items in pairs.items()}


def _texts(values: Any) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _pair_key(member: str) -> PairKey | None:
    try:
        model, production, shadow = orjson.loads(member)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    if not all(isinstance(v, str) for v in (model, production, shadow)):
        return None
    return model, production, shadow


def _pair_item(raw: bytes) -> tuple[PairVerdict, float, float] | None:
    try:
        winner, flipped, delta, weight = orjson.loads(raw)
        numbers = float(delta), float(weight)
        if winner not in _WINNERS or not isinstance(flipped, bool):
            return None
        if not all(math.isfinite(n) for n in numbers) or numbers[1] < 0:
            return None
        return PairVerdict(winner, flipped), *numbers
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None


def _label_pair(raw: bytes) -> tuple[str, str] | None:
    try:
        judge, human = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    return (judge, human) if isinstance(judge, str) and isinstance(human, str) else None
