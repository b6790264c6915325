"""Cost control with time passed in: a request rate (token bucket) and a daily token budget.

>>> limit = RateLimit(per_second=2.0, burst=2)
>>> [limit.try_acquire(now=0.0) for _ in range(3)], limit.try_acquire(now=0.5)
([True, True, False], True)
>>> budget = DailyBudget(tokens_per_day=1000)
>>> budget.allows(800, now=0.0), budget.spend(800, now=0.0), budget.allows(300, now=10.0)
(True, None, False)
>>> budget.allows(300, now=86400.0)  # a new UTC day
True

The day's count lives in a :class:`TokenLedger`: this process's memory by default, or one that
outlives the process and is shared by several runners (``monitor.adapters.judge_ledger``).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["DailyBudget", "MemoryLedger", "RateLimit", "TokenLedger", "estimate_tokens"]

DAY = 86400.0


class RateLimit:
    """At most ``per_second`` calls on average, ``burst`` at once (a token bucket)."""

    def __init__(self, per_second: float, burst: int = 1) -> None:
        if per_second <= 0:
            raise ValueError(f"judge rate limit: {per_second} calls per second must be > 0")
        if burst < 1:
            raise ValueError(f"judge rate burst: {burst} must be >= 1")
        self.per_second = per_second
        self.burst = burst
        self._tokens = float(burst)
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.per_second)
        self._at = now if self._at is None else max(self._at, now)

    def try_acquire(self, now: float) -> bool:
        """Take one call if the bucket allows it at ``now`` (seconds)."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_seconds(self, now: float) -> float:
        """Seconds until one call is allowed (0 when it is now).

        >>> RateLimit(4.0).wait_seconds(0.0), RateLimit(4.0, 1).try_acquire(0.0)
        (0.0, True)
        """
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.per_second)


class TokenLedger(Protocol):
    """Tokens spent per UTC day (days since the epoch)."""

    def spent(self, day: int) -> int: ...

    def add(self, day: int, tokens: int) -> int:
        """Add ``tokens`` to ``day``'s count; the new count."""
        ...

    def close(self) -> None: ...


class MemoryLedger:
    """One process's count of the current day: it starts at zero with the process.

    >>> ledger = MemoryLedger()
    >>> ledger.add(3, 100), ledger.add(3, 20), ledger.spent(3), ledger.spent(4), ledger.add(4, 5)
    (100, 120, 120, 0, 5)
    """

    def __init__(self) -> None:
        self._day, self._spent = -1, 0

    def spent(self, day: int) -> int:
        return self._spent if day == self._day else 0

    def add(self, day: int, tokens: int) -> int:
        if day != self._day:
            self._day, self._spent = day, 0
        self._spent += tokens
        return self._spent

    def close(self) -> None:
        pass


class DailyBudget:
    """At most ``tokens_per_day`` tokens per UTC day (0: no budget, nothing is judged), counted in
    ``ledger`` (this process's memory by default); :attr:`spent` is the count last read."""

    def __init__(self, tokens_per_day: int, ledger: TokenLedger | None = None) -> None:
        if tokens_per_day < 0:
            raise ValueError(f"judge daily token budget: {tokens_per_day} must be >= 0")
        self.tokens_per_day = tokens_per_day
        self.ledger: TokenLedger = ledger if ledger is not None else MemoryLedger()
        self.spent = 0

    def allows(self, estimated_tokens: int, now: float) -> bool:
        """Whether a call estimated at ``estimated_tokens`` fits what is left of today's budget."""
        self.spent = self.ledger.spent(int(now // DAY))
        return self.spent + estimated_tokens <= self.tokens_per_day

    def spend(self, tokens: int, now: float) -> None:
        """Record the tokens a call used (as reported by the endpoint)."""
        self.spent = self.ledger.add(int(now // DAY), max(0, tokens))


def estimate_tokens(texts: list[str], max_output_tokens: int) -> int:
    """A call's tokens before it is made: about 4 characters a token, plus the reply's cap.

    >>> estimate_tokens(["x" * 400], 100)
    200
    """
    return sum(len(t) for t in texts) // 4 + 1 + max_output_tokens - 1
