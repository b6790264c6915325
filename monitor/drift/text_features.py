"""Derived features of LLM input text, computed per batch; the raw text is never kept.

All texts of a batch are joined and decoded once into an array of code points; each code point
is classified by script with one ``np.searchsorted`` over a table of Unicode ranges, and the
per-text sums come from ``np.bincount``. ``None`` texts give NaN (numeric features) or ``None``
(``text_script``); an empty text gives zeros and the script ``"none"``.

>>> f = text_features(["Hello, world?", "Привет", "你好吗", None])
>>> f["text_chars"].tolist()
[13.0, 6.0, 3.0, nan]
>>> f["text_script"].tolist()
['latin', 'cyrillic', 'cjk', None]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["NUMERIC_TEXT_FEATURES", "SCRIPTS", "TEXT_FEATURES", "text_features"]

TEXT_FEATURES = (
    "text_chars",
    "text_tokens_approx",
    "text_words",
    "text_non_ascii_share",
    "text_cjk_share",
    "text_digit_share",
    "text_question_marks",
    "text_script",
)
NUMERIC_TEXT_FEATURES = TEXT_FEATURES[:-1]
# Scripts in code order; "none" is the script of a text without letters.
SCRIPTS = ("latin", "cjk", "cyrillic", "arabic", "greek", "hebrew", "devanagari", "other", "none")
_LATIN, _CJK, _CYRILLIC, _ARABIC, _GREEK, _HEBREW, _DEVANAGARI, _OTHER = range(8)
_IGNORED = 8  # punctuation, symbols, emoji, marks: no script vote
# Non-overlapping inclusive ranges, sorted by start. Unlisted ASCII is ignored, unlisted
# non-ASCII votes "other". CJK covers Han, kana and Hangul.
_RANGES = (
    (0x41, 0x5A, _LATIN),
    (0x61, 0x7A, _LATIN),
    (0x80, 0xBF, _IGNORED),
    (0xC0, 0xD6, _LATIN),
    (0xD7, 0xD7, _IGNORED),
    (0xD8, 0xF6, _LATIN),
    (0xF7, 0xF7, _IGNORED),
    (0xF8, 0x2AF, _LATIN),
    (0x2B0, 0x36F, _IGNORED),
    (0x370, 0x3FF, _GREEK),
    (0x400, 0x52F, _CYRILLIC),
    (0x590, 0x5FF, _HEBREW),
    (0x600, 0x6FF, _ARABIC),
    (0x750, 0x77F, _ARABIC),
    (0x8A0, 0x8FF, _ARABIC),
    (0x900, 0x97F, _DEVANAGARI),
    (0x1100, 0x11FF, _CJK),
    (0x1AB0, 0x1AFF, _IGNORED),
    (0x1C80, 0x1C8F, _CYRILLIC),
    (0x1DC0, 0x1DFF, _IGNORED),
    (0x1E00, 0x1EFF, _LATIN),
    (0x1F00, 0x1FFF, _GREEK),
    (0x2000, 0x2BFF, _IGNORED),
    (0x2DE0, 0x2DFF, _CYRILLIC),
    (0x2E00, 0x2E7F, _IGNORED),
    (0x2E80, 0x2FDF, _CJK),
    (0x3000, 0x303F, _IGNORED),
    (0x3040, 0x30FF, _CJK),
    (0x3130, 0x318F, _CJK),
    (0x31F0, 0x31FF, _CJK),
    (0x3400, 0x4DBF, _CJK),
    (0x4E00, 0x9FFF, _CJK),
    (0xA640, 0xA69F, _CYRILLIC),
    (0xAC00, 0xD7AF, _CJK),
    (0xD800, 0xDFFF, _IGNORED),
    (0xF900, 0xFAFF, _CJK),
    (0xFB1D, 0xFB4F, _HEBREW),
    (0xFB50, 0xFDFF, _ARABIC),
    (0xFE00, 0xFE6F, _IGNORED),
    (0xFE70, 0xFEFF, _ARABIC),
    (0xFF00, 0xFFEF, _IGNORED),
    (0x1F000, 0x1FAFF, _IGNORED),
    (0x20000, 0x323AF, _CJK),
    (0xE0000, 0xE01EF, _IGNORED),
)
_STARTS = np.array([r[0] for r in _RANGES], dtype=np.int64)
_ENDS = np.array([r[1] for r in _RANGES], dtype=np.int64)
_CODES = np.array([r[2] for r in _RANGES], dtype=np.int64)
_QUESTION_MARKS = (ord("?"), 0xFF1F, 0x061F, 0x037E)  # ASCII, fullwidth, Arabic, Greek


def _scripts_by_range(code_points: np.ndarray) -> np.ndarray:
    index = np.searchsorted(_STARTS, code_points, side="right") - 1
    safe = np.maximum(index, 0)
    inside = (index >= 0) & (code_points <= _ENDS[safe])
    default = np.where(code_points < 0x80, _IGNORED, _OTHER)
    return np.where(inside, _CODES[safe], default)


# The Basic Multilingual Plane looked up in a table: most text never needs the range search.
_BMP: np.ndarray = _scripts_by_range(np.arange(0x10000, dtype=np.int64)).astype(np.int64)


def _scripts(code_points: np.ndarray) -> np.ndarray:
    """Script code of every code point (``_IGNORED`` for no vote)."""
    if code_points.size == 0 or code_points.max() < 0x10000:
        in_table: np.ndarray = _BMP[code_points]
        return in_table
    out = np.empty(code_points.shape, dtype=np.int64)
    bmp = code_points < 0x10000
    out[bmp] = _BMP[code_points[bmp]]
    out[~bmp] = _scripts_by_range(code_points[~bmp])
    return out


def _per_text(owner: np.ndarray, mask: np.ndarray, n_texts: int) -> np.ndarray:
    return np.bincount(owner[mask], minlength=n_texts).astype(float)


def text_features(texts: Sequence[str | None]) -> dict[str, np.ndarray]:
    """The :data:`TEXT_FEATURES` of each text, as arrays aligned with ``texts``.

    ``text_tokens_approx`` is ``ceil(other characters / 4) + CJK characters``; shares are over
    all characters (0 for an empty text); ``text_digit_share`` counts ASCII and fullwidth
    digits; ``text_script`` is the script with most letters (ties: order of :data:`SCRIPTS`).

    >>> f = text_features(["ab12", ""])
    >>> f["text_digit_share"].tolist(), f["text_tokens_approx"].tolist(), f["text_script"].tolist()
    ([0.5, 0.0], [1.0, 0.0], ['latin', 'none'])
    """
    present = np.array([t is not None for t in texts], dtype=bool)
    kept = [t for t in texts if t is not None]
    n = len(kept)
    chars = np.array([len(t) for t in kept], dtype=np.int64)
    words = np.array([len(t.split()) for t in kept], dtype=float)
    joined = "".join(kept).encode("utf-32-le", "surrogatepass")
    points = np.frombuffer(joined, dtype="<u4").astype(np.int64)
    owner = np.repeat(np.arange(n), chars)
    script = _scripts(points)
    voting = script != _IGNORED
    width = len(SCRIPTS) - 1
    cells = np.bincount(owner[voting] * width + script[voting], minlength=n * width)
    votes = cells.reshape(n, width)
    cjk = votes[:, _CJK].astype(float)
    digits = ((points >= 0x30) & (points <= 0x39)) | ((points >= 0xFF10) & (points <= 0xFF19))
    length = chars.astype(float)
    share_base = np.maximum(length, 1.0)
    best = np.argmax(votes, axis=1) if n else np.zeros(0, dtype=np.int64)
    best = np.where(votes.sum(axis=1) > 0, best, len(SCRIPTS) - 1)
    derived = {
        "text_chars": length,
        "text_tokens_approx": np.ceil((length - cjk) / 4.0) + cjk,
        "text_words": words,
        "text_non_ascii_share": _per_text(owner, points >= 0x80, n) / share_base,
        "text_cjk_share": cjk / share_base,
        "text_digit_share": _per_text(owner, digits, n) / share_base,
        "text_question_marks": _per_text(owner, np.isin(points, _QUESTION_MARKS), n),
    }
    out: dict[str, np.ndarray] = {}
    for name, values in derived.items():
        column = np.full(len(present), np.nan)
        column[present] = values
        out[name] = column
    script_column = np.full(len(present), None, dtype=object)
    script_column[present] = np.array(SCRIPTS, dtype=object)[best]
    out["text_script"] = script_column
    return out
