"""``monitor judge`` stopped in the middle of a backlog (SIGKILL or SIGTERM) and started again: the
grades it had published are not paid for a second time, and every request still gets its grade;
killed between a production answer and its shadow partner, it still compares the pair (the buffer
in Redis); and a runner whose broker went away stops cleanly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from judge_support import (
    ScriptedJudge,
    ThreadedJudge,
    answer_record,
    committed,
    publish_backlog,
    runner_env,
    stop_cleanly,
)
from tests_support import delete_redis_keys, read_topic, wait_until

from monitor.adapters.local_broker import LocalBroker

REQUESTS = [f"r{i:02d}" for i in range(12)]
ANSWERED = 5  # completions answered before the runner is killed; the next one hangs
_GRADED = re.compile(r"\[Answer\]\nGOOD answer to (r\d+)\n\[Grade\]$")


def graded(bootstrap: str, topic: str, expected: int, timeout: float = 10) -> list[str]:
    """The request ids of the judge grades published to ``topic`` so far (read until ``expected``
    have arrived or ``timeout`` has passed)."""
    messages = read_topic(bootstrap, topic, expected=expected, timeout=timeout)
    return [event["attributes"]["gen_ai.response.id"] for group in messages for event in group]


def calls_per_request(judge: ScriptedJudge) -> Counter[str]:
    found = (_GRADED.search(body["messages"][-1]["content"]) for body in judge.bodies)
    return Counter(match.group(1) for match in found if match)


def start_runner(env: dict[str, str], log, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "judge", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def interrupted_then_finished(
    broker, unique: str, tmp_path, interrupt: Callable[[subprocess.Popen], None]
) -> tuple[list[str], Counter[str]]:
    """A backlog of 12 judge messages (one sampled answer each), fetched in one batch. The runner
    grades and publishes 5, then ``interrupt`` acts on it while the endpoint holds its 6th call; a
    second runner grades the rest. The grades published before the restart, and the endpoint's
    calls per request."""
    feedback = f"t{unique}.feedback"
    publish_backlog(
        broker.bootstrap,
        f"t{unique}.judge",
        feedback,
        [[answer_record(rid, f"GOOD answer to {rid}")] for rid in REQUESTS],
    )
    judge = ScriptedJudge(stall_after=ANSWERED)
    with ThreadedJudge(judge), open(tmp_path / "judge.log", "wb") as log:
        env = runner_env(broker.bootstrap, unique, judge.url)
        first = start_runner(env, log)
        try:
            wait_until(lambda: len(judge.calls) > ANSWERED, 60, "the call the endpoint holds")
            interrupt(first)
        finally:
            first.kill()
            first.wait(15)
        published = graded(broker.bootstrap, feedback, ANSWERED)
        judge.stall_after = None
        second = start_runner(env, log)
        try:
            wait_until(
                # polled: a short read, not the 10 s a read waits for grades that are not there yet
                lambda: (
                    set(graded(broker.bootstrap, feedback, len(REQUESTS), timeout=2))
                    == set(REQUESTS)
                ),
                90,
                "a grade for every request",
            )
        finally:
            stop_cleanly(second)
    return published, calls_per_request(judge)


# each request called for once, but the answer being judged when the first runner was stopped: its
# grade was never published
ONCE_BUT_THE_SIXTH = Counter({**dict.fromkeys(REQUESTS, 1), REQUESTS[ANSWERED]: 2})


def test_a_killed_runner_does_not_pay_again_for_grades_it_had_published(
    broker, unique, tmp_path
) -> None:
    """Killed (SIGKILL: no clean-up, no commit) while the endpoint holds its 6th call, the runner
    has published 5 grades; started again, it calls the endpoint once more only for the 6th answer
    (before: the batch was committed only when done, so the restart called the endpoint again for
    the 5 grades already published)."""
    published, calls = interrupted_then_finished(broker, unique, tmp_path, subprocess.Popen.kill)
    assert published == REQUESTS[:ANSWERED]
    assert calls == ONCE_BUT_THE_SIXTH


def test_sigterm_stops_the_runner_at_the_message_being_judged(broker, unique, tmp_path) -> None:
    """SIGTERM while the endpoint holds a call: the runner cancels that message and stops within
    seconds with code 0 (before: it went on with the call, 30 s a try with its retries, and then with
    the rest of the fetched batch); what it had judged is committed, and the next runner calls the
    endpoint again only for the cancelled message."""

    published, calls = interrupted_then_finished(
        broker, unique, tmp_path, lambda runner: stop_cleanly(runner, 8)
    )
    assert published == REQUESTS[:ANSWERED]
    assert calls == ONCE_BUT_THE_SIXTH
    assert b"Traceback" not in (tmp_path / "judge.log").read_bytes()


def test_a_runner_whose_broker_is_gone_logs_a_few_lines_and_stops_cleanly(unique, tmp_path) -> None:
    """The broker goes away under an idle runner: its log holds a few of aiokafka's lines, not about
    80 a second, and SIGTERM stops it within seconds with code 0 and no traceback (before: exit 1
    with a CancelledError raised out of the consumer's stop, aio-libs/aiokafka#647)."""
    own = LocalBroker(log_path=tmp_path / "own-broker.log").start()  # this test stops it
    judge = ScriptedJudge()
    log_path = tmp_path / "judge.log"
    with ThreadedJudge(judge), open(log_path, "wb") as log:
        runner = start_runner(runner_env(own.bootstrap, unique, judge.url), log)
        try:
            wait_until(lambda: b"judging with" in log_path.read_bytes(), 60, "the runner's start")
            time.sleep(2)  # joined its group and fetching
            own.stop()
            time.sleep(8)
            stop_cleanly(runner, 8)
        finally:
            runner.kill()
            own.stop()
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text
    assert len([line for line in text.splitlines() if "aiokafka" in line]) <= 30, text[-2000:]


def test_a_pair_split_by_a_killed_runner_is_still_compared(
    broker, unique, tmp_path, redis_url
) -> None:
    """The runner grades a production answer, publishes the grade and commits the message, then is
    killed (SIGKILL) before the shadow answer arrives; started again, it compares the pair from the
    request it buffered in MONITOR_REDIS_URL's Redis, and does not grade the production answer again
    (before: the buffer was the runner's memory, so the committed production answer was gone and
    the pair was never compared)."""
    judge_topic, feedback = f"t{unique}.judge", f"t{unique}.feedback"
    report = tmp_path / "report.json"
    production = answer_record("p1", "meh answer to p1")
    publish_backlog(broker.bootstrap, judge_topic, feedback, [[production]])
    judge = ScriptedJudge()
    try:
        with ThreadedJudge(judge), open(tmp_path / "judge.log", "wb") as log:
            env = runner_env(broker.bootstrap, unique, judge.url, MONITOR_REDIS_URL=redis_url)
            first = start_runner(env, log)
            try:
                wait_until(
                    lambda: committed(broker.bootstrap, f"t{unique}-judge", judge_topic) == 1,
                    60,
                    "the production answer's message committed",
                )
            finally:
                first.kill()
                first.wait(15)
            assert graded(broker.bootstrap, feedback, 1) == ["p1"]
            shadow = answer_record("p1", "GOOD shadow answer to p1", shadow=True)
            publish_backlog(broker.bootstrap, judge_topic, feedback, [[shadow]])
            second = start_runner(env, log, "--report", str(report))
            try:
                wait_until(lambda: compared_pairs(report) == 1, 60, "the pair compared")
            finally:
                stop_cleanly(second)
    finally:
        delete_redis_keys(redis_url, f"t{unique}:*")
    pairs = json.loads(report.read_text())["pairs"]
    assert [(p["shadow_version"], p["pairs"], p["win_rate"]) for p in pairs] == [("v2", 1, 1.0)]
    tasks = Counter("[Verdict]" in body["messages"][-1]["content"] for body in judge.bodies)
    assert tasks == {False: 1, True: 2}  # one grade (before the kill), both orders of the pair


def compared_pairs(report: Path) -> int:
    """The pairs the runner's ``--report`` counts so far (0 before its first report)."""
    try:
        return sum(p["pairs"] for p in json.loads(report.read_text())["pairs"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
