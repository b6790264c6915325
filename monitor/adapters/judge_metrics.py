"""Prometheus series of the judge runner (docs/judge.md): calls, tokens, failures, skips, quality."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["JUDGE_PAIR", "JudgeMetrics"]

JUDGE_PAIR = ("model", "production_version", "shadow_version")


class JudgeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.calls = Counter(
            "monitor_judge_calls_total",
            "Judge endpoint calls by task (grade, compare) and outcome (ok, failed)",
            ["task", "outcome"],
            registry=r,
        )
        self.retries = Counter(
            "monitor_judge_retries_total", "Judge calls retried, by reason", ["reason"], registry=r
        )
        self.tokens = Counter(
            "monitor_judge_tokens_total", "Tokens the judge endpoint reported", registry=r
        )
        self.failures = Counter(
            "monitor_judge_failures_total",
            "Judgements lost, by reason (an HTTP status, timeout, connection, unparsable)",
            ["reason"],
            registry=r,
        )
        self.skipped = Counter(
            "monitor_judge_skipped_total",
            "Judgements not attempted, by reason (budget, no_texts)",
            ["reason"],
            registry=r,
        )
        self.buffer_errors = Counter(
            "monitor_judge_buffer_errors_total",
            "Reads and writes of the judge's request buffer that failed (retried until they "
            "succeed; the message waits, uncommitted)",
            registry=r,
        )
        self.win_rate = Gauge(
            "monitor_judge_win_rate",
            "Shadow win rate against production (raw, or length_controlled)",
            (*JUDGE_PAIR, "kind"),
            registry=r,
        )
        self.flip_rate = Gauge(
            "monitor_judge_position_flip_rate",
            "Share of pairs whose two orders disagreed",
            JUDGE_PAIR,
            registry=r,
        )
        self.pairs = Gauge(
            "monitor_judge_pairs", "Pairs in the judge's recent sample", JUDGE_PAIR, registry=r
        )
        self.kappa = Gauge(
            "monitor_judge_kappa",
            "Cohen's kappa of judge vs human labels (bound: estimate, low, high of the 95% interval)",
            ["judge_model", "bound"],
            registry=r,
        )
        self.agreement_pairs = Gauge(
            "monitor_judge_agreement_pairs",
            "Requests with both a judge and a human label",
            ["judge_model"],
            registry=r,
        )
