"""The LLM judge's pure core: rubric, prompts, reply parsing, pairwise verdicts, bias controls.

:mod:`~monitor.judge.rubric` reads the grading rubric (YAML), :mod:`~monitor.judge.prompt` builds
the chat messages, :mod:`~monitor.judge.parse` reads replies, :mod:`~monitor.judge.pairwise`
combines both orders of a production/shadow comparison, :mod:`~monitor.judge.length_control`
gives the length-controlled win rate, :mod:`~monitor.judge.agreement` Cohen's kappa against human
feedback, :mod:`~monitor.judge.sampling` what is judged and its weight, :mod:`~monitor.judge.budget`
the rate limit and daily token budget (docs/judge.md).
"""

from monitor.judge.agreement import Kappa, cohen_kappa, human_label, judge_label
from monitor.judge.budget import DailyBudget, RateLimit, estimate_tokens
from monitor.judge.length_control import LengthControlled, length_controlled_win_rate
from monitor.judge.pairwise import PairVerdict, flip_rate, pair_verdict, preference_value
from monitor.judge.parse import Grade, JudgeParseError, parse_grade, parse_preference
from monitor.judge.prompt import comparison_messages, grading_messages
from monitor.judge.rubric import (
    Criterion,
    Example,
    Rubric,
    default_rubric,
    load_rubric,
    read_rubric,
)
from monitor.judge.sampling import flagged, hash_fraction, inclusion_weight, sampled

__all__ = [
    "Criterion",
    "DailyBudget",
    "Example",
    "Grade",
    "JudgeParseError",
    "Kappa",
    "LengthControlled",
    "PairVerdict",
    "RateLimit",
    "Rubric",
    "cohen_kappa",
    "comparison_messages",
    "default_rubric",
    "estimate_tokens",
    "flagged",
    "flip_rate",
    "grading_messages",
    "hash_fraction",
    "human_label",
    "inclusion_weight",
    "judge_label",
    "length_controlled_win_rate",
    "load_rubric",
    "pair_verdict",
    "parse_grade",
    "parse_preference",
    "preference_value",
    "read_rubric",
    "sampled",
]
