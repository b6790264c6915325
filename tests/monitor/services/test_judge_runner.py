"""The judge runner against a real chat-completions HTTP server on loopback with scripted behaviour."""

from __future__ import annotations

import asyncio
import math
import socket
import time

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from monitor.adapters.judge_buffer import RedisRequestBuffer
from monitor.adapters.judge_client import ChatClient
from monitor.adapters.judge_journal import RedisStatsJournal
from monitor.adapters.judge_ledger import RedisTokenLedger
from monitor.adapters.judge_metrics import JudgeMetrics
from monitor.contract.decode import decode_message
from monitor.judge import DailyBudget, RateLimit, default_rubric
from monitor.judge.forward import HumanRecord
from monitor.services.judge import JudgeConfig, JudgeRunner
from tests.judge_runner_support import run, value
from tests.judge_support import ScriptedJudge, answer

PAIR = {"model": "bot", "production_version": "v1", "shadow_version": "v2"}


def pairs(n: int, production_text, shadow_text) -> list:
    out = []
    for i in range(n):
        out += [answer(f"r{i}", production_text(i)), answer(f"r{i}", shadow_text(i), shadow=True)]
    return out


def test_position_biased_judge_yields_ties_and_flips() -> None:
    records = pairs(30, lambda i: "GOOD answer" if i % 2 else "meh", lambda i: "GOOD, other")
    runner, _, registry = asyncio.run(run(ScriptedJudge("first"), records))
    s = runner.pairs[("bot", "v1", "v2")].summary()
    assert s.pairs == 30 and s.flip_rate == 1.0 and s.win_rate == 0.5
    assert value(registry, "monitor_judge_position_flip_rate", PAIR) == 1.0


def test_fair_judge_wins_need_both_orders() -> None:
    records = pairs(20, lambda i: "meh", lambda i: "GOOD answer")
    runner, _, _ = asyncio.run(run(ScriptedJudge("quality"), records))
    s = runner.pairs[("bot", "v1", "v2")].summary()
    assert s.win_rate == 1.0 and s.flip_rate == 0.0


def test_length_biased_judge_is_length_controlled() -> None:
    rng = np.random.default_rng(5)
    extra = rng.normal(80, 60, size=200).round().astype(int)  # the shadow is mostly longer
    records = pairs(
        200,
        lambda i: f"{i} " + "x" * 200,
        lambda i: f"{i} " + "y" * int(max(1, 200 + extra[i])),
    )
    runner, _, registry = asyncio.run(run(ScriptedJudge("longer"), records))
    s = runner.pairs[("bot", "v1", "v2")].summary()
    assert s.win_rate > 0.75 and s.flip_rate == 0.0, s
    assert abs(s.lc_win_rate - 0.5) < 0.1, s
    lc = value(registry, "monitor_judge_win_rate", {**PAIR, "kind": "length_controlled"})
    assert lc == pytest.approx(s.lc_win_rate)


def test_grades_are_published_as_evaluation_events_the_contract_reads() -> None:
    records = [answer("g1", "GOOD answer"), answer("g2", "bad answer")]
    judge = ScriptedJudge("quality")
    _, events, registry = asyncio.run(run(judge, records))
    decoded = decode_message(orjson.dumps(events), "feedback", now=time.time())
    assert not decoded.rejections
    scores = {e.request_id: (e.judge_score, e.model, e.model_version) for e in decoded.events}
    assert scores == {"g1": (9.0, "bot", "v1"), "g2": (2.0, "bot", "v1")}
    # one grade per request and judge model: a record judged again after a crash is a resend
    assert {e.feedback_id for e in decoded.events} == {"judge:judge-1"}
    assert events[0]["attributes"]["gen_ai.evaluation.score.label"] == "good"
    assert judge.headers[0]["Authorization"] == "Bearer sk-test-secret"
    assert value(registry, "monitor_judge_calls_total", {"task": "grade", "outcome": "ok"}) == 2
    assert value(registry, "monitor_judge_tokens_total") == 240


def test_budget_holds() -> None:
    judge = ScriptedJudge("quality", usage=(100, 20))
    records = [answer(f"b{i}", "GOOD answer") for i in range(40)]
    runner, events, registry = asyncio.run(run(judge, records, budget=3000))
    assert judge.tokens <= 3000 and runner.budget.spent == judge.tokens
    assert len(events) == len(judge.calls) > 0
    assert value(registry, "monitor_judge_skipped_total", {"reason": "budget"}) == 40 - len(events)


def test_a_budget_shared_in_redis_holds_across_runners(redis_url: str, redis_prefix: str) -> None:
    """Two runners one after the other (a restart, or a second runner) with one Redis count: the
    second spends only what the first left of the day's budget."""
    judge = ScriptedJudge("quality", usage=(100, 20))
    records = [answer(f"b{i}", "GOOD answer") for i in range(40)]
    _, _, _ = asyncio.run(
        run(judge, records[:20], budget=3000, ledger=RedisTokenLedger(redis_url, redis_prefix))
    )
    spent_by_first = judge.tokens
    second, _, registry = asyncio.run(
        run(judge, records[20:], budget=3000, ledger=RedisTokenLedger(redis_url, redis_prefix))
    )
    assert 0 < spent_by_first < judge.tokens <= 3000  # one budget for both, not 3000 each
    assert second.budget.spent == judge.tokens
    assert value(registry, "monitor_judge_skipped_total", {"reason": "budget"}) > 0


def test_an_unreadable_budget_skips_the_call_and_says_so() -> None:
    judge = ScriptedJudge("quality")
    unreachable = RedisTokenLedger("redis://127.0.0.1:1/0", "p:")
    _, events, registry = asyncio.run(run(judge, [answer("u1", "GOOD")], ledger=unreachable))
    assert events == [] and judge.calls == []
    assert value(registry, "monitor_judge_skipped_total", {"reason": "budget_unavailable"}) == 1


def test_rate_limit_holds() -> None:
    judge = ScriptedJudge("quality")
    records = [answer(f"q{i}", "GOOD answer") for i in range(12)]
    started = time.monotonic()
    asyncio.run(run(judge, records, rate=RateLimit(20.0, 1)))
    assert len(judge.calls) == 12
    assert time.monotonic() - started >= 11 / 20 - 0.02
    gaps = np.diff(judge.calls)
    assert gaps.mean() >= 1 / 20 - 0.005


def test_retryable_failures_retry_and_count() -> None:
    judge = ScriptedJudge("quality", fail=[503, 429, "sleep"], sleep_seconds=0.5)
    _, events, registry = asyncio.run(run(judge, [answer("t1", "GOOD")], timeout=0.2))
    assert len(events) == 1 and len(judge.calls) == 4
    for reason in ("http_503", "http_429", "timeout"):
        assert value(registry, "monitor_judge_retries_total", {"reason": reason}) == 1


def test_exhausted_retries_and_client_errors_are_counted_failures() -> None:
    judge = ScriptedJudge("quality", fail=[500, 500, 500, 400])
    records = [answer("f1", "GOOD"), answer("f2", "GOOD"), answer("f3", "GOOD")]
    _, events, registry = asyncio.run(run(judge, records, retries=2))
    # f1: 500 x3 (two retries) then gives up; f2: 400, not retried; f3 succeeds
    assert len(judge.calls) == 5 and [e["attributes"]["gen_ai.response.id"] for e in events] == [
        "f3"
    ]
    assert value(registry, "monitor_judge_failures_total", {"reason": "http_500"}) == 1
    assert value(registry, "monitor_judge_failures_total", {"reason": "http_400"}) == 1
    assert value(registry, "monitor_judge_calls_total", {"task": "grade", "outcome": "failed"}) == 2


def test_malformed_replies_are_counted_not_fatal() -> None:
    judge = ScriptedJudge("garbage")
    records = [answer("m1", "GOOD"), answer("m1", "GOOD too", shadow=True)]
    runner, events, registry = asyncio.run(run(judge, records))
    assert (
        events == []
        and value(registry, "monitor_judge_failures_total", {"reason": "unparsable"}) == 2
    )
    assert ("bot", "v1", "v2") not in runner.pairs


def test_flagged_feedback_judges_buffered_unsampled_answers_without_publishing() -> None:
    judge = ScriptedJudge("quality")
    records = [
        answer("u1", "bad answer", sampled=False),
        answer("u2", "bad answer", sampled=False),
        HumanRecord("u1", time.time(), None, "down", None, None),
        HumanRecord("u3", time.time(), None, None, True, None),  # no texts for u3
    ]
    runner, events, registry = asyncio.run(run(judge, records, sample_rate=0.01))
    assert events == [] and len(judge.calls) == 1  # u1 only: u2 is neither sampled nor flagged
    assert value(registry, "monitor_judge_skipped_total", {"reason": "no_texts"}) == 1
    assert runner.agreement["judge-1"].kappa().n == 1


def test_kappa_against_human_feedback() -> None:
    records = []
    for i in range(40):
        good = i % 2 == 0
        records.append(answer(f"k{i}", "GOOD answer" if good else "poor answer"))
        human_good = good if i % 10 else not good  # people disagree on 4 of 40
        records.append(HumanRecord(f"k{i}", time.time(), 5 if human_good else 1, None, None, None))
    runner, _, registry = asyncio.run(run(ScriptedJudge("quality"), records))
    k = runner.agreement["judge-1"].kappa()
    assert k.n == 40 and k.kappa == pytest.approx(0.8)
    assert value(
        registry, "monitor_judge_kappa", {"judge_model": "judge-1", "bound": "estimate"}
    ) == pytest.approx(0.8)
    assert k.low < 0.8 < k.high and not math.isnan(k.low)


def test_client_errors_never_show_the_key() -> None:
    client = ChatClient("http://user:pw@127.0.0.1:9/v1", "m", "sk-secret")
    assert "sk-secret" not in repr(client) and "pw" not in repr(client)


def test_buffer_is_bounded_by_size_and_ttl() -> None:
    class Clock:
        now = 1000.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    runner = JudgeRunner(
        JudgeConfig(
            default_rubric(), "judge-1", sample_rate=0.5, buffer_size=3, buffer_ttl_seconds=60
        ),
        ChatClient("http://127.0.0.1:9/v1", "judge-1", None),
        JudgeMetrics(CollectorRegistry()),
        rate_limit=RateLimit(1.0),
        budget=DailyBudget(0),
        clock=clock,
    )
    unsampled = [answer(f"n{i}", "text", sampled=False) for i in range(5)]
    asyncio.run(runner.handle(unsampled))
    assert runner.buffer.held() == ["n2", "n3", "n4"]  # the oldest left at the size cap
    clock.now += 61
    asyncio.run(runner.handle([answer("late", "text", sampled=False)]))
    assert runner.buffer.held() == ["late"]  # the rest outlived the TTL


def labelled(prefix: str, n: int) -> list:
    """``n`` graded answers with human feedback that agrees on all but every tenth, and a shadow
    answer for each (a pairwise verdict)."""
    records = []
    for i in range(n):
        good = i % 2 == 0
        rid = f"{prefix}{i}"
        records.append(answer(rid, "GOOD answer" if good else "poor answer"))
        records.append(answer(rid, "GOOD shadow answer", shadow=True))
        human_good = good if i % 10 else not good
        records.append(HumanRecord(rid, time.time(), 5 if human_good else 1, None, None, None))
    return records


def test_statistics_outlive_a_restart_through_redis(redis_url: str, redis_prefix: str) -> None:
    """The win rates and κ of a runner are read back by the next one (a restart or a deploy) from
    MONITOR_REDIS_URL's Redis, and grow from there (before: every restart started them empty, so
    MonitorJudgeAgreementLow waited for 50 new label pairs after each deploy)."""
    first, _, _ = asyncio.run(
        run(
            ScriptedJudge("quality"),
            labelled("a", 20),
            journal=RedisStatsJournal(redis_url, redis_prefix),
        )
    )
    before = first.report()
    assert before["agreement"][0]["n"] == 20 and before["pairs"][0]["pairs"] == 20

    second, _, registry = asyncio.run(
        run(ScriptedJudge("quality"), [], journal=RedisStatsJournal(redis_url, redis_prefix))
    )
    assert second.report()["pairs"] == before["pairs"]
    assert second.report()["agreement"] == before["agreement"]
    assert value(registry, "monitor_judge_agreement_pairs", {"judge_model": "judge-1"}) == 20

    third, _, _ = asyncio.run(
        run(
            ScriptedJudge("quality"),
            labelled("b", 10),
            journal=RedisStatsJournal(redis_url, redis_prefix),
        )
    )
    assert third.report()["agreement"][0]["n"] == 30 and third.report()["pairs"][0]["pairs"] == 30
    alone, _, _ = asyncio.run(run(ScriptedJudge("quality"), labelled("c", 10)))
    assert alone.report()["agreement"][0]["n"] == 10  # without Redis: this process's memory only


def test_a_message_judged_again_after_a_crash_before_its_commit_is_counted_once(
    redis_url: str, redis_prefix: str
) -> None:
    """A runner judges a message and dies before its commit; the next one judges it again. The
    statistics journal holds each verdict and label pair once (before: twice, journaled while
    judging, before the requests were buffered as counted)."""

    def journal() -> RedisStatsJournal:
        return RedisStatsJournal(redis_url, redis_prefix)

    buffer = redis_buffer(redis_url, redis_prefix)
    records = labelled("x", 5)
    asyncio.run(
        run(
            ScriptedJudge("quality"),
            records,
            journal=journal(),
            buffer=buffer,
            crash_before_keep=True,
        )
    )
    asyncio.run(run(ScriptedJudge("quality"), records, journal=journal(), buffer=buffer))
    judge = ScriptedJudge("quality")  # redelivered once more after the buffer write: nothing new
    asyncio.run(run(judge, records, journal=journal(), buffer=buffer))
    assert judge.calls == []
    read, _, _ = asyncio.run(run(ScriptedJudge("quality"), [], journal=journal()))
    assert read.report()["pairs"][0]["pairs"] == 5
    assert read.report()["agreement"][0]["n"] == 5


def test_a_journal_that_cannot_be_reached_costs_a_warning_not_the_judgement(caplog) -> None:
    """Redis down: the runner starts with empty statistics and judges on, keeping them in memory;
    each lost observation is a warning."""
    unreachable = RedisStatsJournal("redis://127.0.0.1:1/0", "nowhere:")
    with caplog.at_level("WARNING", logger="monitor.judge"):
        runner, events, _ = asyncio.run(
            run(ScriptedJudge("quality"), labelled("d", 4), journal=unreachable)
        )
    assert len(events) == 4 and runner.report()["agreement"][0]["n"] == 4
    warnings = [r.getMessage() for r in caplog.records]
    assert any(
        w.startswith("judge statistics start empty: judge statistics in Redis") for w in warnings
    )
    assert any(w.startswith("judge label pair not kept for a restart") for w in warnings)


def redis_buffer(redis_url: str, redis_prefix: str) -> RedisRequestBuffer:
    return RedisRequestBuffer(redis_url, redis_prefix, size=100, ttl_seconds=3600.0)


def test_a_pair_split_by_a_restart_is_compared_through_redis(
    redis_url: str, redis_prefix: str
) -> None:
    """The production answer reaches one runner, its shadow partner the next one (a restart in
    between): with the buffer in Redis the pair is compared, and the production answer, graded
    before the restart, is not graded again (before: the buffer was the runner's memory, so the
    shadow answer found no partner and the pair was never compared)."""
    judge = ScriptedJudge("quality")
    _, events, _ = asyncio.run(
        run(judge, [answer("s1", "meh")], buffer=redis_buffer(redis_url, redis_prefix))
    )
    assert len(events) == 1 and len(judge.calls) == 1
    second, events, _ = asyncio.run(
        run(
            judge,
            [answer("s1", "GOOD shadow answer", shadow=True)],
            buffer=redis_buffer(redis_url, redis_prefix),
        )
    )
    summary = second.pairs[("bot", "v1", "v2")].summary()
    assert summary.pairs == 1 and summary.win_rate == 1.0
    assert events == [] and len(judge.calls) == 3  # one grade, then both orders of the pair

    alone = ScriptedJudge("quality")  # the same without Redis: each runner its own memory
    asyncio.run(run(alone, [answer("s2", "meh")]))
    restarted, _, _ = asyncio.run(run(alone, [answer("s2", "GOOD shadow", shadow=True)]))
    assert restarted.pairs == {} and len(alone.calls) == 1


def test_flagging_feedback_after_a_restart_finds_the_texts_in_redis(
    redis_url: str, redis_prefix: str
) -> None:
    """An unsampled answer buffered by one runner is graded by the next when a thumbs down for it
    arrives (before: counted as ``no_texts`` and never graded)."""
    judge = ScriptedJudge("quality")
    unsampled = answer("u1", "bad answer", sampled=False)
    asyncio.run(
        run(judge, [unsampled], sample_rate=0.01, buffer=redis_buffer(redis_url, redis_prefix))
    )
    assert judge.calls == []
    thumbs_down = HumanRecord("u1", time.time(), None, "down", None, None)
    runner, events, registry = asyncio.run(
        run(judge, [thumbs_down], sample_rate=0.01, buffer=redis_buffer(redis_url, redis_prefix))
    )
    assert len(judge.calls) == 1 and events == []  # graded, not published: flagged only
    assert runner.agreement["judge-1"].kappa().n == 1
    assert value(registry, "monitor_judge_skipped_total", {"reason": "no_texts"}) == 0


def test_a_buffer_that_cannot_be_read_holds_the_message_and_says_so(caplog) -> None:
    """Redis down under the buffer: the runner judges nothing of the message and tries again,
    rather than judge it without the requests' earlier answers (its offset stays uncommitted)."""
    judge = ScriptedJudge("quality")
    unreachable = RedisRequestBuffer("redis://127.0.0.1:1/0", "nowhere:", 100, 3600.0)

    registry = CollectorRegistry()

    async def judged_for_two_seconds() -> None:
        records = [answer("h1", "GOOD")]
        await asyncio.wait_for(run(judge, records, buffer=unreachable, registry=registry), 2.0)

    with caplog.at_level("WARNING", logger="monitor.judge"), pytest.raises(TimeoutError):
        asyncio.run(judged_for_two_seconds())
    assert judge.calls == []
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings[0].startswith("judge buffer read failed, again in 0.5 s: judge buffer in Redis")
    assert warnings[1].startswith("judge buffer read failed, again in 1.0 s")
    # counted, for MonitorJudgeBufferUnavailable (the runner is up, its messages wait)
    assert value(registry, "monitor_judge_buffer_errors_total") == len(warnings)


def test_a_redis_that_does_not_answer_does_not_hold_up_the_event_loop() -> None:
    """The token count's Redis accepts connections but never answers (each call waits for its 5 s
    timeout): the runner's Redis calls wait on their own thread, so the event loop goes on (here a
    task ticking every 20 ms; in ``monitor judge`` the consumer's heartbeats, a SIGTERM, the judge
    calls under way). Before, each call held the loop for its 5 s."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog; nothing is ever read or answered
    ledger = RedisTokenLedger(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", "p:")
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def judged_while_ticking() -> tuple[list, CollectorRegistry]:
        ticking = asyncio.ensure_future(tick())
        try:
            _, events, registry = await run(
                ScriptedJudge("quality"), [answer("x1", "GOOD")], ledger=ledger
            )
        finally:
            ticking.cancel()
        return events, registry

    try:
        events, registry = asyncio.run(judged_while_ticking())
    finally:
        silent.close()
    assert events == []  # the budget could not be read: the call was skipped
    assert value(registry, "monitor_judge_skipped_total", {"reason": "budget_unavailable"}) == 1
    assert ticks[-1] - ticks[0] > 4.5  # the ticker ran through the 5 s wait
    assert max(np.diff(ticks)) < 0.5


def test_a_runner_whose_sample_rate_differs_from_the_workers_says_so_once(caplog) -> None:
    # before: workers at 0.2 and a runner left at the default 0.05 weighted the workers' sample by
    # 1/0.05, four times its weight against flagged requests, and nothing said so
    from monitor.judge.sampling import hash_fraction

    ids = [f"r{i}" for i in range(40) if 0.05 <= hash_fraction(f"r{i}") < 0.2][:3]
    records = [answer(rid, "GOOD answer") for rid in ids]  # the workers sampled them at 0.2
    with caplog.at_level("WARNING", logger="monitor.judge"):
        asyncio.run(run(ScriptedJudge("quality"), records, sample_rate=0.05))
    warned = [
        r.getMessage() for r in caplog.records if "MONITOR_JUDGE_SAMPLE_RATE" in r.getMessage()
    ]
    assert warned == [
        (
            f"the workers sampled request {ids[0]!r}, which MONITOR_JUDGE_SAMPLE_RATE=0.05 here would "
            "not: they run with another sample rate, and the win rates weight their sample by 1/0.05; "
            "set the same MONITOR_JUDGE_SAMPLE_RATE on the workers and this runner"
        )
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="monitor.judge"):
        asyncio.run(run(ScriptedJudge("quality"), records, sample_rate=0.2))
    assert not [r for r in caplog.records if "MONITOR_JUDGE_SAMPLE_RATE" in r.getMessage()]
