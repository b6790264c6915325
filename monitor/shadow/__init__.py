"""Shadow comparisons: a ``deployment: "shadow"`` answer is paired by ``request_id`` with production's.

:mod:`monitor.shadow.pairs` reduces an answer to what the join store keeps and measures a pair,
:mod:`monitor.shadow.fold` turns pairs and shadow traffic into partials and merges them back, and
:mod:`monitor.shadow.report` gives mean paired differences with always-valid intervals and a
non-inferiority verdict (docs/experiments.md, "Shadow comparisons").
"""

from monitor.shadow.fold import ShadowSums, fold_pairs, fold_shadow_traffic, pair_sums
from monitor.shadow.pairs import NgramJaccard, Side, TextSimilarity, pair_values, side_of
from monitor.shadow.report import ShadowReport, default_margins, parse_margins, shadow_report

__all__ = [
    "NgramJaccard",
    "ShadowReport",
    "ShadowSums",
    "Side",
    "TextSimilarity",
    "default_margins",
    "fold_pairs",
    "fold_shadow_traffic",
    "pair_sums",
    "pair_values",
    "parse_margins",
    "shadow_report",
    "side_of",
]
