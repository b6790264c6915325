"""``monitor worker`` and a join store Redis that stops taking its password: the worker stops with
exit code 2 and one line naming the store, the masked URL and the cause, its batch neither written
nor dead-lettered nor committed; started again with the new password it writes that batch, once.
And a Redis that refuses the password at start says so, not "unreachable"; a leader whose alert
de-duplication claim is refused stops the same way, its page sent once after the restart."""

from __future__ import annotations

import re
import time
from pathlib import Path

import orjson
import redis
from redis_support import PASSWORD, PasswordRedis, password_redis_server
from tests_support import (
    SLOW_ANSWERS_RULE,
    Receiver,
    inference,
    monitor_cli,
    publish_raw,
    read_topic,
    wait_until,
    written_inferences,
)

from monitor.adapters.local_broker import free_port
from monitor.adapters.redis_calls import refuse_open_redis
from streams.agents import EXIT_REFUSED

ROTATED = "rotated-pw-secret"


def test_a_password_rotated_under_a_running_worker_stops_it_and_loses_nothing(
    deployment, start_worker, tmp_path: Path
) -> None:
    """Before: AuthenticationError was retried as an outage, for ever, with only /health telling."""
    bootstrap, topics = deployment.broker.bootstrap, deployment.topics
    with password_redis_server(tmp_path) as redis:
        # the expiry timer (a refusal there stops the worker too) does not run before the batch
        worker = start_worker(MONITOR_REDIS_URL=redis.url(), MONITOR_JOIN_EXPIRY_INTERVAL="3600")
        now = time.time()
        publish_raw(bootstrap, topics["inference"], [orjson.dumps([inference("a", now)])])
        wait_until(lambda: written_inferences(worker) == 1, what="the first batch")

        with redis.admin() as admin:  # the rotation the worker's settings missed
            admin.config_set("requirepass", ROTATED)
            admin.client_kill_filter(_type="normal")  # every connection but this one
        batch = [inference("b", now), inference("c", now)]
        publish_raw(bootstrap, topics["inference"], [orjson.dumps(batch)])
        assert worker.process is not None
        assert worker.process.wait(60) == EXIT_REFUSED, f"see {worker.log_path}"

        lines = worker.log_path.read_text().splitlines()
        errors = [line for line in lines if "error: " in line]
        assert errors == lines[-1:], errors
        masked = f"redis://:***@127.0.0.1:{redis.port}/0"
        assert lines[-1].startswith(f"error: Redis join store at {masked}: ")
        assert (
            "failed: Redis refused the credentials (invalid username-password pair or user is "
            "disabled.): check the password (and user) in MONITOR_REDIS_URL; stopping with a batch "
            "of 1 message not written, none dead-lettered, its offsets not committed"
        ) in lines[-1]
        assert PASSWORD not in "\n".join(lines) and "Traceback" not in "\n".join(lines)

        again = start_worker(MONITOR_REDIS_URL=redis.url(ROTATED))
        wait_until(lambda: written_inferences(again) == 3, what="the batch the refusal stopped")
        wait_until(  # that batch, once: its metrics are counted just after the write
            lambda: again.metric("monitor_events_total", {"kind": "inference"}) == 2,
            what="the batch's metrics",
        )
        assert written_inferences(again) == 3
        assert again.stop(timeout=30) == 0
    assert read_topic(bootstrap, topics["dlq"], expected=1, timeout=3) == []


def test_an_idle_worker_whose_password_is_rotated_stops_at_its_next_expiry_sweep(
    deployment, start_worker, tmp_path: Path
) -> None:
    """No batch to meet the refusal: the expiry sweep does. Before: it logged an error every sweep
    while the worker looked healthy."""
    with password_redis_server(tmp_path) as redis:
        worker = start_worker(MONITOR_REDIS_URL=redis.url(), MONITOR_JOIN_EXPIRY_INTERVAL="1")
        with redis.admin() as admin:
            admin.config_set("requirepass", ROTATED)
            admin.client_kill_filter(_type="normal")
        assert worker.process is not None
        assert worker.process.wait(60) == EXIT_REFUSED, f"see {worker.log_path}"
    last = worker.log_path.read_text().splitlines()[-1]
    assert re.fullmatch(
        rf"error: Redis join store at redis://:\*\*\*@127\.0\.0\.1:{redis.port}/0: expire failed: "
        r"Redis refused the credentials \(.*\): check the password \(and user\) in "
        r"MONITOR_REDIS_URL; stopping with the (join|shadow) expiry not done: it runs again after "
        r"the next start",
        last,
    ), last


def test_a_refused_password_at_start_is_named_as_such(
    deployment, password_redis: PasswordRedis
) -> None:
    """Before: "error: Redis join store at ... is unreachable: invalid username-password pair"."""
    url = password_redis.url("wrong-pw-secret")
    env = {**deployment.env(), "MONITOR_REDIS_URL": url, "MONITOR_WEB_PORT": str(free_port())}
    done = monitor_cli("worker", env=env, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == (
        f"error: Redis join store at redis://:***@127.0.0.1:{password_redis.port}/0 refused the "
        "credentials (invalid username-password pair or user is disabled.): check the password "
        "(and user) in MONITOR_REDIS_URL"
    ), done.stderr[-2000:]
    assert "wrong-pw-secret" not in done.stderr + done.stdout


def test_a_password_for_a_redis_without_one_stops_the_worker_at_start(deployment) -> None:
    """The Redis at 127.0.0.1:6379 has no password. Before: redis-py ignored its "AUTH called
    without any password configured" reply and the worker ran, its join state open to anyone who
    reaches that Redis while the operator believed it protected."""
    url = "redis://:not-asked-for-secret@127.0.0.1:6379/0"
    env = {**deployment.env(), "MONITOR_REDIS_URL": url, "MONITOR_WEB_PORT": str(free_port())}
    done = monitor_cli("worker", env=env, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        "error: Redis join store at redis://:***@127.0.0.1:6379/0 answers clients without a "
        "password: the password in MONITOR_REDIS_URL protects nothing. Require one on Redis "
        "(requirepass, or ACL users with the default user off), or remove it from "
        "MONITOR_REDIS_URL to run on an open Redis knowingly"
    ), done.stderr[-2000:]
    assert "not-asked-for-secret" not in done.stderr + done.stdout


def test_a_worker_start_checks_once_that_its_password_is_asked_for(
    deployment, start_worker, password_redis: PasswordRedis
) -> None:
    """The check asks this Redis, with no password, for a PING that it refuses (NOAUTH), counted in
    its error statistics. Before: the join store and the shadow join store each made it."""
    url = password_redis.url()
    with password_redis.admin() as admin:
        admin.config_resetstat()
        refuse_open_redis(url, "Redis join store")
        one_check = _noauth_replies(admin)
        assert one_check >= 1
        admin.config_resetstat()
        worker = start_worker(MONITOR_REDIS_URL=url)
        assert _noauth_replies(admin) == one_check
    assert worker.stop(timeout=30) == 0


def _noauth_replies(admin: redis.Redis) -> int:
    """NOAUTH error replies since the statistics were last reset."""
    return int(admin.info("errorstats").get("errorstat_NOAUTH", {}).get("count", 0))


def test_a_leader_whose_alert_claim_is_refused_stops_and_pages_once_after_the_restart(
    deployment, start_worker, tmp_path: Path
) -> None:
    """The password is rotated between a batch and the alert it fires (the window closes once the
    worker has been idle): the de-duplication claim is refused. Before: a warning, the page sent
    unclaimed, the worker running on. Now it stops with exit code 2 and one line, nothing sent; a
    worker started with the new password sends the pending notification, once."""
    receiver = Receiver().start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(SLOW_ANSWERS_RULE)
    env = {
        "MONITOR_ALERT_WEBHOOK_URL": receiver.url,
        "MONITOR_ALERT_RULES": str(rules),
        "MONITOR_ALLOWED_LATENESS": "0s",
        "MONITOR_WINDOW": "10s",
        "MONITOR_ALERTS_TO_KAFKA": "false",
        "MONITOR_IDLE_TIMEOUT": "15s",  # the window closes this long after the batch is written
        "MONITOR_JOIN_EXPIRY_INTERVAL": "3600",  # no expiry sweep meets the refusal first
    }
    try:
        with password_redis_server(tmp_path) as redis:
            worker = start_worker(MONITOR_REDIS_URL=redis.url(), **env)
            start = (int(time.time()) // 10 - 6) * 10  # a window the batch's events do not close
            slow = [inference(f"slow-{i}", start + i * 0.2, latency_ms=250.0) for i in range(20)]
            publish_raw(
                deployment.broker.bootstrap, deployment.topics["inference"], [orjson.dumps(slow)]
            )
            wait_until(lambda: written_inferences(worker) == 20, what="the batch")
            with redis.admin() as admin:
                admin.config_set("requirepass", ROTATED)
                admin.client_kill_filter(_type="normal")
            assert worker.process is not None
            assert worker.process.wait(90) == EXIT_REFUSED, f"see {worker.log_path}"
            lines = worker.log_path.read_text().splitlines()
            assert lines[-1] == (
                f"error: alert deduplicator in Redis at redis://:***@127.0.0.1:{redis.port}/0: "
                "claim failed: Redis refused the credentials (invalid username-password pair or "
                "user is disabled.): check the password (and user) in MONITOR_REDIS_URL; stopping "
                "with the notifications of 1 fired alert not sent: they stay pending in the "
                "alert outbox and are sent after the next start"
            ), lines[-5:]
            assert receiver.posts == []

            again = start_worker(MONITOR_REDIS_URL=redis.url(ROTATED), **env)
            wait_until(lambda: len(receiver.posts) == 1, what="the pending notification")
            time.sleep(2)  # room for a second copy, if one were on its way
            assert again.stop(timeout=30) == 0
    finally:
        receiver.stop()
    assert len(receiver.posts) == 1 and b"slow_answers" in receiver.posts[0][0]


SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "SECURITY.md"


def documented_acl(app_id: str) -> list[str]:
    """The worker's Redis ACL as docs/SECURITY.md gives it, for ``app_id``."""
    found = re.search(r"`ACL SETUSER monitor on >PASSWORD ([^`]+)`", SECURITY_DOC.read_text())
    assert found, "docs/SECURITY.md gives no ACL SETUSER line for the worker"
    return [rule.replace("~app:", f"~{app_id}:") for rule in found.group(1).split()]


def test_the_documented_acl_runs_a_worker_and_one_missing_a_key_pattern_stops_it_at_start(
    deployment, start_worker, password_redis: PasswordRedis
) -> None:
    """Before: a user whose ACL left out the alert claims' keys started, ingested, and stopped at
    its first alert (or, without the join keys, at its first batch)."""
    app_id = deployment.env()["MONITOR_APP_ID"]
    rules = documented_acl(app_id)
    admin = password_redis.admin()  # a Redis whose default user needs a password
    users = {
        f"{app_id}-full": rules,
        f"{app_id}-narrow": [r for r in rules if "alert-sent" not in r],
        f"{app_id}-older": [r for r in rules if r != "+hlen"],  # the line before the feedback bound
    }
    for user, granted in users.items():
        admin.execute_command("ACL", "SETUSER", user, "reset", "on", ">acl-pw-secret", *granted)
    try:
        full = f"redis://{app_id}-full:acl-pw-secret@127.0.0.1:{password_redis.port}/0"
        worker = start_worker(MONITOR_REDIS_URL=full)
        now = time.time()
        topics = deployment.topics
        publish_raw(
            deployment.broker.bootstrap, topics["inference"], [orjson.dumps([inference("a", now)])]
        )
        wait_until(lambda: written_inferences(worker) == 1, what="a batch through the ACL user")
        feedback = {
            "request_id": "a",
            "timestamp": now,
            "rating": 5,
        }  # the feedback script's commands
        publish_raw(deployment.broker.bootstrap, topics["feedback"], [orjson.dumps([feedback])])
        wait_until(
            lambda: worker.metric("monitor_events_total", {"kind": "feedback"}) == 1,
            what="feedback through the ACL user",
        )
        assert worker.stop(timeout=30) == 0

        for user, refused in (("narrow", "key"), ("older", "'hlen' command")):
            url = f"redis://{app_id}-{user}:acl-pw-secret@127.0.0.1:{password_redis.port}/0"
            env = {
                **deployment.env(f"store-{user}"),
                "MONITOR_REDIS_URL": url,
                "MONITOR_WEB_PORT": str(free_port()),
            }
            done = monitor_cli("worker", env=env, check=False)
            assert done.returncode == 2, done.stderr[-2000:]
            last = done.stderr.strip().splitlines()[-1]
            assert last.startswith(
                f"error: Redis join store at redis://{app_id}-{user}:***@127.0.0.1:"
                f"{password_redis.port}/0"
            ), last
            assert "refused a command to MONITOR_REDIS_URL's user (NOPERM" in last, last
            assert refused in last, last
            assert "acl-pw-secret" not in done.stderr + done.stdout
    finally:
        for user in users:
            admin.execute_command("ACL", "DELUSER", user)
        admin.close()
