"""How numbers of things are written in every message a person reads: CLI output and log lines.

>>> counted(1, "message"), counted(0, "dead letter")
('1 message', '0 dead letters')
"""

from __future__ import annotations

__all__ = ["counted", "with_article"]


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1.

    >>> counted(1, "row"), counted(3, "dead letter")
    ('1 row', '3 dead letters')
    """
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def with_article(noun: str) -> str:
    """``noun`` after "a" or "an", by its first letter.

    >>> with_article("inference event"), with_article("feedback event")
    ('an inference event', 'a feedback event')
    """
    return f"{'an' if noun[:1].lower() in {'a', 'e', 'i', 'o', 'u'} else 'a'} {noun}"
