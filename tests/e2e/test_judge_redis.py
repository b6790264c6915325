"""``monitor judge`` and a MONITOR_REDIS_URL it cannot use: a Redis that refuses the password, or
does not answer, stops it at start (exit code 2, one line naming the masked URL and the cause); a
password refused later stops it at the message it was judging, not committed, so the runner started
again with the right password judges from that message and skips nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from judge_support import (
    ScriptedJudge,
    ThreadedJudge,
    answer_record,
    closed_ports,
    committed,
    judge_start_error,
    publish_backlog,
    runner_env,
)
from redis_support import (
    OUTSIDER,
    OUTSIDER_PASSWORD,
    PASSWORD,
    READER,
    READER_PASSWORD,
    PasswordRedis,
    password_redis_server,
)
from tests_support import read_topic, wait_until

from monitor.adapters.local_broker import LocalBroker

WRONG = "wrong-pw-secret"


def graded(bootstrap: str, topic: str, expected: int) -> list[str]:
    messages = read_topic(bootstrap, topic, expected=expected, timeout=30)
    return [event["attributes"]["gen_ai.response.id"] for group in messages for event in group]


@pytest.mark.parametrize(
    ("password", "refusal"),
    [
        (
            WRONG,
            (
                "refused the credentials (invalid username-password pair or user is disabled.): "
                "check the password (and user) in MONITOR_REDIS_URL"
            ),
        ),
        (None, "asks for a password and MONITOR_REDIS_URL gives none ("),
    ],
)
def test_judge_exits_2_with_one_line_when_its_redis_refuses_the_password(
    broker: LocalBroker,
    unique: str,
    password_redis: PasswordRedis,
    password: str | None,
    refusal: str,
) -> None:
    """Before: the runner started (its statistics empty, with a warning), joined its consumer group
    and, at the first message, retried the buffer forever (a warning every 10 s at most,
    MonitorJudgeBufferUnavailable after 5 minutes), judging nothing."""
    judge = ScriptedJudge()
    with ThreadedJudge(judge):
        url = password_redis.url(password)
        env = runner_env(broker.bootstrap, unique, judge.url, MONITOR_REDIS_URL=url)
        error, output = judge_start_error(env)
    masked = url.replace(WRONG, "***")
    assert error.startswith(f"error: judge Redis at {masked} {refusal}")
    assert WRONG not in output and judge.calls == []
    assert "group" not in output  # stopped before its consumer joined the group


def test_judge_exits_2_with_one_line_when_its_redis_is_unreachable(
    broker: LocalBroker, unique: str
) -> None:
    """As the endpoint's check does: nothing listens at MONITOR_REDIS_URL, stop at start (before:
    the runner started and waited on the buffer at each message)."""
    (port,) = closed_ports(1)
    judge = ScriptedJudge()
    with ThreadedJudge(judge):
        url = f"redis://:{WRONG}@127.0.0.1:{port}/0"
        env = runner_env(broker.bootstrap, unique, judge.url, MONITOR_REDIS_URL=url)
        error, output = judge_start_error(env)
    assert error.startswith(
        f"error: judge Redis at redis://:***@127.0.0.1:{port}/0 is unreachable ("
    )
    assert error.endswith("): check MONITOR_REDIS_URL and that Redis is up")
    assert WRONG not in output and judge.calls == []
    assert "group" not in output  # stopped before its consumer joined the group


def test_a_password_refused_later_stops_the_judge_at_its_message_uncommitted(
    broker: LocalBroker, unique: str, tmp_path: Path
) -> None:
    """The runner grades r1; then Redis's password changes under it (its connections dropped):
    judging r2 it exits 2 with one line naming the buffer, the masked URL, the cause and the
    message it stopped at, which is not committed: the next runner judges from there (before: it
    retried the buffer forever, judging nothing, as if Redis were down)."""
    judge_topic, feedback = f"t{unique}.judge", f"t{unique}.feedback"
    publish_backlog(broker.bootstrap, judge_topic, feedback, [[answer_record("r1", "GOOD")]])
    judge = ScriptedJudge()
    with password_redis_server(tmp_path) as redis, ThreadedJudge(judge):
        env = runner_env(broker.bootstrap, unique, judge.url, MONITOR_REDIS_URL=redis.url())
        with open(tmp_path / "judge.log", "w") as log:
            runner = subprocess.Popen(
                [sys.executable, "-m", "monitor", "judge"], env=env, stdout=log, stderr=log
            )
            try:
                assert graded(broker.bootstrap, feedback, 1) == ["r1"]
                # r1 done, its Redis writes after the grade's delivery included: the refusal
                # must meet r2 (a password changed while r1's stats were written stopped at r1)
                wait_until(
                    lambda: committed(broker.bootstrap, f"t{unique}-judge", judge_topic) == 1,
                    timeout=30,
                    what="r1's offset committed",
                )
                with redis.admin() as admin:
                    admin.config_set("requirepass", "new-pw-secret")
                    admin.client_kill_filter(_type="normal")  # all but this one
                r2 = [[answer_record("r2", "GOOD")]]
                publish_backlog(broker.bootstrap, judge_topic, feedback, r2)
                assert runner.wait(30) == 2
            finally:
                runner.kill()
                runner.wait(10)
    lines = (tmp_path / "judge.log").read_text().splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert lines[-1] == (
        f"error: judge buffer in Redis at redis://:***@127.0.0.1:{redis.port}/0: read failed: "
        "Redis refused the credentials (invalid username-password pair or user is disabled.): "
        f"check the password (and user) in MONITOR_REDIS_URL; stopped at {judge_topic}/0 "
        "offset 1, judged from there once the judge starts with a MONITOR_REDIS_URL Redis takes"
    )
    assert PASSWORD not in "\n".join(lines) and "Traceback" not in "\n".join(lines)
    assert committed(broker.bootstrap, f"t{unique}-judge", judge_topic) == 1  # r2's offset: not
    assert len(judge.calls) == 1  # r1's grade; r2 was not judged


def test_judge_refuses_a_password_its_redis_does_not_ask_for(
    broker: LocalBroker, unique: str
) -> None:
    """The Redis at 127.0.0.1:6379 has no password: redis-py ignores its "AUTH called without any
    password configured" reply, so before, the runner started and the operator believed Redis
    protected while anyone reaching it could read the buffered answers."""
    judge = ScriptedJudge()
    with ThreadedJudge(judge):
        url = f"redis://:{WRONG}@127.0.0.1:6379/0"
        env = runner_env(broker.bootstrap, unique, judge.url, MONITOR_REDIS_URL=url)
        error, output = judge_start_error(env)
    assert error == (
        "error: judge Redis at redis://:***@127.0.0.1:6379/0 answers clients without a password: "
        "the password in MONITOR_REDIS_URL protects nothing. Require one on Redis (requirepass, or "
        "ACL users with the default user off), or remove it from MONITOR_REDIS_URL to run on an "
        "open Redis knowingly"
    )
    assert WRONG not in output and "group" not in output


@pytest.mark.parametrize(
    ("user", "password"), [(OUTSIDER, OUTSIDER_PASSWORD), (READER, READER_PASSWORD)]
)
def test_judge_exits_2_at_start_when_its_redis_user_may_not_write_its_keys(
    broker: LocalBroker, unique: str, password_redis: PasswordRedis, user: str, password: str
) -> None:
    """A user whose ACL leaves out the judge's keys (made for another prefix) or may only read:
    before, PING passed and the runner started, joined its group and stopped at the first message
    it judged; now a probe write under each of its key prefixes stops it at start."""
    judge = ScriptedJudge()
    with ThreadedJudge(judge):
        url = password_redis.url(password, user=user)
        env = runner_env(broker.bootstrap, unique, judge.url, MONITOR_REDIS_URL=url)
        error, output = judge_start_error(env)
    assert error.startswith(f"error: judge Redis at redis://{user}:***@127.0.0.1:"), error
    assert "NOPERM" in error and "docs/judge.md, Setup" in error, error
    assert password not in output and judge.calls == []
    assert "group" not in output  # stopped before its consumer joined the group
