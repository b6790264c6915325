"""Text from outside (events, dead letters, names the store has seen) made safe to print.

A terminal acts on what it is sent: an escape sequence in a producer's text can recolour, move the
cursor or rewrite the screen, a bidirectional override reorders what is shown. :func:`terminal_text`
escapes every character that is not printable, as Python writes it in a string literal.

>>> print(terminal_text("\\x1b[31mred\\nline\\u202e"))
\\x1b[31mred\\nline\\u202e
>>> terminal_text("x" * 10, limit=4)
'xxxx… (6 more characters)'
"""

from __future__ import annotations

__all__ = ["terminal_text"]


def _escaped(char: str) -> str:
    return char if char.isprintable() else repr(char)[1:-1]


def terminal_text(text: str, limit: int | None = None) -> str:
    """``text`` with its unprintable characters (controls, format characters such as bidirectional
    overrides, line and paragraph separators, unusual spaces) escaped; past ``limit`` characters of
    ``text``, an ellipsis saying how many more there are."""
    shown = text if limit is None else text[:limit]
    if not shown.isprintable():
        shown = "".join(_escaped(char) for char in shown)
    if limit is not None and len(text) > limit:
        shown += f"… ({len(text) - limit} more characters)"
    return shown
