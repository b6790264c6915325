"""The judge runner's logic: which answers to grade or compare, the calls, and what is published.

It reads the records the worker forwards (:mod:`monitor.judge.forward`). Answers wait in a bounded
buffer with a time-to-live (keyed by request_id, :mod:`monitor.judge.buffer`) for their partner
(production and shadow) and for flagging feedback. Production answers of sampled requests are
graded and published as ``gen_ai.evaluation.result`` events (``judge_score``); production/shadow
pairs of sampled or flagged requests are compared in both orders. Requests flagged by feedback (takeover, negative
feedback, bad case) whose texts are still buffered are graded too, with weight 1; their grades
feed the runner's statistics (kappa, win rates) but are not published as ``judge_score``, so the
per-window mean judge score stays a uniform-sample mean (docs/judge.md, "Sampling").

Calls on the token ledger, the statistics journal and the buffer (Redis, when configured) run on
one thread of their own, in order, so a slow Redis never holds up the event loop. A Redis that does
not answer is waited for (the buffer) or costs a skipped call or a warning (the ledger, the
journal); one that refuses the credentials or a command (:class:`StoreRefused`) stops the runner
wherever it is met: no retry fixes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from monitor.adapters.judge_client import ChatClient, JudgeCallError
from monitor.adapters.judge_metrics import JudgeMetrics
from monitor.contract.otel import EVALUATION_EVENT
from monitor.errors import StoreError, StoreRefused
from monitor.judge.agreement import human_label, judge_label
from monitor.judge.budget import DailyBudget, RateLimit, estimate_tokens
from monitor.judge.buffer import BufferedRequest, MemoryRequestBuffer, RequestBuffer
from monitor.judge.forward import AnswerRecord, HumanRecord
from monitor.judge.pairwise import PairVerdict, pair_verdict
from monitor.judge.parse import Grade, JudgeParseError, parse_grade, parse_preference
from monitor.judge.prompt import comparison_messages, grading_messages
from monitor.judge.rubric import Rubric
from monitor.judge.sampling import flagged, inclusion_weight
from monitor.judge.sampling import sampled as in_sample
from monitor.judge.stats import AgreementStats, PairStats, StatsJournal

__all__ = ["JudgeConfig", "JudgeRunner", "Judged", "evaluation_event"]

log = logging.getLogger("monitor.judge")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class JudgeConfig:
    rubric: Rubric
    judge_model: str
    sample_rate: float = 0.05
    pairwise: bool = True
    max_output_tokens: int = 300
    pass_score: float = 7.0
    buffer_size: int = 10_000
    buffer_ttl_seconds: float = 3600.0


@dataclass
class _Request:
    """What the runner holds of one request while it waits for partners and feedback."""

    seen: float
    production: AnswerRecord | None = None
    shadows: dict[str, AnswerRecord] = field(default_factory=dict)
    flagged: bool = False
    graded: bool = False
    compared: set[str] = field(default_factory=set)
    judge: str | None = None
    human: str | None = None
    agreement_counted: bool = False

    @classmethod
    def thaw(cls, held: BufferedRequest) -> _Request:
        return cls(
            held.seen,
            held.production,
            {shadow.version: shadow for shadow in held.shadows},
            held.flagged,
            held.graded,
            set(held.compared),
            held.judge,
            held.human,
            held.agreement_counted,
        )

    def freeze(self) -> BufferedRequest:
        return BufferedRequest(
            self.seen,
            self.production,
            tuple(self.shadows.values()),
            self.flagged,
            self.graded,
            frozenset(self.compared),
            self.judge,
            self.human,
            self.agreement_counted,
        )


@dataclass(frozen=True, slots=True)
class Judged:
    """What judging one message gave: the evaluation events to publish, and the requests it
    touched, to be buffered (:meth:`JudgeRunner.keep`) once the events are delivered."""

    events: list[dict[str, Any]]
    touched: list[tuple[str, BufferedRequest]]
    # observations for the statistics journal, written after the requests are buffered
    journal: list[tuple[str, Callable[[], None]]] = field(default_factory=list)


def evaluation_event(
    answer: AnswerRecord, grade: Grade, label: str, judge_model: str, now: float
) -> dict[str, Any]:
    """The OTel ``gen_ai.evaluation.result`` event of one grade (a judge_score feedback event)."""
    return {
        "name": EVALUATION_EVENT,
        "timestamp": now,
        "attributes": {
            "gen_ai.response.id": answer.request_id,
            "gen_ai.evaluation.name": "judge_score",
            "gen_ai.evaluation.score.value": grade.score,
            "gen_ai.evaluation.score.label": label,
            "gen_ai.evaluation.explanation": grade.explanation,
            "monitor.model": answer.model,
            "monitor.model_version": answer.version,
            "monitor.judge.model": judge_model,
            # one grade per request and judge model: a runner that judges a record again after a
            # crash publishes a resend, which joins nothing (docs/events.md, feedback_id)
            "monitor.feedback_id": f"judge:{judge_model}",
        },
    }


class JudgeRunner:
    def __init__(
        self,
        config: JudgeConfig,
        client: ChatClient,
        metrics: JudgeMetrics,
        *,
        rate_limit: RateLimit,
        budget: DailyBudget,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        journal: StatsJournal | None = None,
        buffer: RequestBuffer | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.metrics = metrics
        self.rate_limit = rate_limit
        self.budget = budget
        self.clock = clock
        self.sleep = sleep
        # where requests wait for partners and feedback (memory, or Redis to outlive the runner)
        self.buffer: RequestBuffer = (
            buffer
            if buffer is not None
            else MemoryRequestBuffer(config.buffer_size, config.buffer_ttl_seconds)
        )
        # calls sent to the endpoint (paid, whatever came back): the runner commits after a message
        # that made one, so a crash does not pay for it again
        self.endpoint_calls = 0
        self.pairs: dict[tuple[str, str, str], PairStats] = {}
        self.agreement: dict[str, AgreementStats] = {}
        self.journal = journal  # where the statistics outlive the runner (None: memory only)
        # one thread for the ledger, journal and buffer calls: off the event loop, in order
        self._stores = ThreadPoolExecutor(1, thread_name_prefix="judge-stores")
        self._journal_writes: list[tuple[str, Callable[[], None]]] = []  # of the message judged
        self._rate_checked = False  # whether the workers' sample rate was found to differ

    async def _off_loop(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` on the stores' thread (a Redis call can wait 5 s for its timeout)."""
        return await asyncio.get_running_loop().run_in_executor(self._stores, partial(call, *args))

    async def restore(self) -> None:
        """The statistics an earlier runner left in the journal, if there is one; a journal that
        cannot be read leaves them empty, with a warning (a refusal, :class:`StoreRefused`, raises)."""
        if self.journal is None:
            return
        try:
            pairs, agreement = await self._off_loop(self.journal.load)
        except StoreRefused:
            raise
        except StoreError as exc:
            log.warning("judge statistics start empty: %s", exc)
            return
        for key, items in pairs.items():
            self.pairs.setdefault(key, PairStats()).extend(items)
        for judge_model, labels in agreement.items():
            agreed = self.agreement.setdefault(judge_model, AgreementStats())
            for judge, human in labels:
                agreed.add(judge, human)
        self.export()

    async def _kept(self, what: str, write: Callable[[], None]) -> None:
        """``write`` to the journal; a journal that cannot be written costs a warning, not the
        judgement (the statistics in memory have it); a refusal (:class:`StoreRefused`) raises."""
        try:
            await self._off_loop(write)
        except StoreRefused:
            raise
        except StoreError as exc:
            log.warning("judge %s not kept for a restart: %s", what, exc)

    async def _buffered(self, what: str, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` on the buffer, tried again until its store answers: a message is not
        committed before its requests are buffered (a stop meanwhile leaves it uncommitted). A
        refusal no retry fixes (:class:`StoreRefused`: the credentials, the ACL) raises at once."""
        delay = 0.5
        while True:
            try:
                return await self._off_loop(call, *args)
            except StoreRefused:
                raise
            except StoreError as exc:
                self.metrics.buffer_errors.inc()
                log.warning("judge buffer %s failed, again in %.1f s: %s", what, delay, exc)
                await self.sleep(delay)
                delay = min(2 * delay, 10.0)

    async def handle(self, records: list[AnswerRecord | HumanRecord]) -> list[dict[str, Any]]:
        """Judge what ``records`` make judgeable and buffer their requests; the evaluation events
        to publish. (``monitor judge`` calls :meth:`judge`, publishes, then :meth:`keep`.)"""
        judged = await self.judge(records)
        await self.keep(judged)
        return judged.events

    async def judge(self, records: list[AnswerRecord | HumanRecord]) -> Judged:
        """Judge what ``records`` and the buffered requests they belong to make judgeable."""
        ids = list(dict.fromkeys(record.request_id for record in records))
        held = await self._buffered("read", self.buffer.get_many, ids, self.clock())
        entries = {rid: _Request.thaw(request) for rid, request in held.items()}
        touched: dict[str, _Request] = {}
        published: list[dict[str, Any]] = []
        self._journal_writes = []
        for record in records:
            entry = entries.setdefault(record.request_id, _Request(self.clock()))
            touched.pop(record.request_id, None)  # touched order: the last touch counts
            touched[record.request_id] = entry
            if isinstance(record, HumanRecord):
                self._add_human(entry, record)
            else:
                self._check_sample_rate(record)
                if record.deployment == "shadow":
                    entry.shadows[record.version] = record
                else:
                    entry.production = record
            sampled = (
                entry.production.sampled
                if entry.production
                else any(s.sampled for s in entry.shadows.values())
            )
            if sampled or entry.flagged:
                event = await self._judge(entry, sampled)
                if event is not None:
                    published.append(event)
            self._count_agreement(entry)
        self.export()
        touched_now = [(rid, entry.freeze()) for rid, entry in touched.items()]
        return Judged(published, touched_now, self._journal_writes)

    async def keep(self, judged: Judged) -> None:
        """Buffer the requests ``judged`` touched and drop those past the TTL or the size cap, then
        journal its observations; ``monitor judge`` calls it after the events are delivered and
        before it commits. Journaled only once the requests say they were counted, a message
        judged again after a crash is counted once (a crash between the two loses its
        observations instead)."""
        await self._buffered("write", self.buffer.put_many, judged.touched, self.clock())
        for what, write in judged.journal:
            await self._kept(what, write)

    def close(self) -> None:
        """Wait for the stores' calls under way, then close the stores."""
        self._stores.shutdown(wait=True)
        self.budget.ledger.close()
        if self.journal is not None:
            self.journal.close()
        self.buffer.close()

    def _check_sample_rate(self, answer: AnswerRecord) -> None:
        """Warn once when the workers sampled ``answer`` otherwise than this runner's rate would:
        the workers choose what is graded, the runner weights it by 1 / its own rate."""
        if self._rate_checked:
            return
        rate = self.config.sample_rate
        if answer.sampled != in_sample(answer.request_id, rate):
            self._rate_checked = True
            log.warning(
                "the workers %s request %r, which MONITOR_JUDGE_SAMPLE_RATE=%g here would %s: "
                "they run with another sample rate, and the win rates weight their sample by "
                "1/%g; set the same MONITOR_JUDGE_SAMPLE_RATE on the workers and this runner",
                "sampled" if answer.sampled else "did not sample",
                answer.request_id,
                rate,
                "not" if answer.sampled else "have",
                rate,
            )

    def _add_human(self, entry: _Request, record: HumanRecord) -> None:
        signals = (record.rating, record.thumbs, record.human_takeover, record.bad_case)
        entry.flagged = entry.flagged or flagged(*signals)
        entry.human = human_label(*signals) or entry.human
        if entry.flagged and entry.production is None and not entry.shadows:
            self.metrics.skipped.labels(reason="no_texts").inc()

    async def _judge(self, entry: _Request, sampled: bool) -> dict[str, Any] | None:
        weight = inclusion_weight(self.config.sample_rate, flagged=entry.flagged or not sampled)
        event = None
        answer = entry.production
        if answer is not None and not entry.graded:
            grade = await self._grade(answer)
            entry.graded = True
            if grade is not None:
                entry.judge = judge_label(grade.score, self.config.pass_score)
                if sampled:
                    event = evaluation_event(
                        answer, grade, entry.judge, self.config.judge_model, self.clock()
                    )
        if self.config.pairwise and answer is not None:
            for version, shadow in entry.shadows.items():
                if version not in entry.compared:
                    entry.compared.add(version)
                    verdict = await self._compare(answer, shadow)
                    if verdict is not None:
                        delta = len(shadow.output_text) - len(answer.output_text)
                        key = (answer.model, answer.version, version)
                        self.pairs.setdefault(key, PairStats()).add(verdict, delta, weight)
                        if self.journal is not None:
                            add = partial(self.journal.add_pair, key, verdict, delta, weight)
                            self._journal_writes.append(("verdict", add))
        return event

    def _count_agreement(self, entry: _Request) -> None:
        if entry.judge and entry.human and not entry.agreement_counted:
            entry.agreement_counted = True
            stats = self.agreement.setdefault(self.config.judge_model, AgreementStats())
            stats.add(entry.judge, entry.human)
            if self.journal is not None:
                add = partial(
                    self.journal.add_agreement, self.config.judge_model, entry.judge, entry.human
                )
                self._journal_writes.append(("label pair", add))

    async def _call(self, task: str, messages: list[dict[str, str]]) -> str | None:
        now = self.clock()
        texts = [m["content"] for m in messages]
        try:
            estimate = estimate_tokens(texts, self.config.max_output_tokens)
            allowed = await self._off_loop(self.budget.allows, estimate, now)
        except StoreRefused:  # a configuration error, not an outage: stop rather than skip
            raise
        except StoreError as exc:  # the shared count is unreadable: no call it could not count
            self.metrics.skipped.labels(reason="budget_unavailable").inc()
            log.warning("judge %s call skipped: %s", task, exc)
            return None
        if not allowed:
            self.metrics.skipped.labels(reason="budget").inc()
            return None
        while not self.rate_limit.try_acquire(self.clock()):
            await self.sleep(self.rate_limit.wait_seconds(self.clock()))
        self.endpoint_calls += 1
        try:
            reply = await self.client.complete(messages, self.config.max_output_tokens)
        except JudgeCallError as exc:
            self.metrics.calls.labels(task=task, outcome="failed").inc()
            self.metrics.failures.labels(reason=exc.reason).inc()
            log.warning("judge %s call failed: %s", task, exc)
            return None
        self.metrics.calls.labels(task=task, outcome="ok").inc()
        self.metrics.tokens.inc(reply.total_tokens)
        try:
            await self._off_loop(self.budget.spend, reply.total_tokens, self.clock())
        except StoreRefused:
            raise
        except StoreError as exc:
            log.warning("judge %s call's %d tokens not counted: %s", task, reply.total_tokens, exc)
        return reply.text

    async def _grade(self, answer: AnswerRecord) -> Grade | None:
        messages = grading_messages(self.config.rubric, answer.input_text, answer.output_text)
        text = await self._call("grade", messages)
        if text is None:
            return None
        try:
            return parse_grade(text, self.config.rubric)
        except JudgeParseError as exc:
            self.metrics.failures.labels(reason="unparsable").inc()
            log.warning("%s", exc)
            return None

    async def _compare(self, production: AnswerRecord, shadow: AnswerRecord) -> PairVerdict | None:
        rubric, question = self.config.rubric, production.input_text
        verdicts = []
        for first, second in ((production, shadow), (shadow, production)):
            text = await self._call(
                "compare",
                comparison_messages(rubric, question, first.output_text, second.output_text),
            )
            if text is None:
                return None
            try:
                verdicts.append(parse_preference(text))
            except JudgeParseError as exc:
                self.metrics.failures.labels(reason="unparsable").inc()
                log.warning("%s", exc)
                return None
        return pair_verdict(verdicts[0], verdicts[1])

    def export(self) -> None:
        """Set the quality gauges from the current statistics."""
        for (model, prod, shadow), stats in self.pairs.items():
            s = stats.summary()
            labels = {"model": model, "production_version": prod, "shadow_version": shadow}
            self.metrics.pairs.labels(**labels).set(s.pairs)
            self.metrics.win_rate.labels(**labels, kind="raw").set(s.win_rate)
            self.metrics.win_rate.labels(**labels, kind="length_controlled").set(s.lc_win_rate)
            self.metrics.flip_rate.labels(**labels).set(s.flip_rate)
        for judge_model, agreement in self.agreement.items():
            k = agreement.kappa()
            for bound, value in (("estimate", k.kappa), ("low", k.low), ("high", k.high)):
                self.metrics.kappa.labels(judge_model=judge_model, bound=bound).set(value)
            self.metrics.agreement_pairs.labels(judge_model=judge_model).set(k.n)

    def report(self) -> dict[str, Any]:
        """Pairwise summaries and kappa per judge model, JSON-ready (``monitor judge --report``)."""
        pairs = [
            {"model": m, "production_version": p, "shadow_version": s, **_as_dict(st.summary())}
            for (m, p, s), st in self.pairs.items()
        ]
        agreement = [{"judge_model": j, **_as_dict(st.kappa())} for j, st in self.agreement.items()]
        return {"pairs": pairs, "agreement": agreement, "tokens_today": self.budget.spent}


def _as_dict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}
