"""Whether a stored position still counts in the broker's log: replays skip, replaced logs restart."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.folding.offsets import (
    IDENTITY_CHANGED,
    OFFSET_BEYOND_LOG_END,
    LogState,
    check_position,
    log_identity,
    same_log,
)
from monitor.folding.pipeline import Position

LOG = log_identity("cluster-a", "topic-1")


def test_a_replay_keeps_the_stored_position():
    check = check_position(Position(41, 900.0, 2, LOG), LogState(LOG, 42))
    assert check.reset is None and check.position == Position(41, 900.0, 2, LOG)


def test_a_new_topic_id_starts_a_new_epoch_even_when_the_new_log_is_longer():
    check = check_position(
        Position(41, 900.0, 2, LOG), LogState(log_identity("cluster-a", "topic-2"), 5000)
    )
    assert check.reset == IDENTITY_CHANGED
    assert check.position == Position(-1, 900.0, 3, log_identity("cluster-a", "topic-2"))


def test_a_new_cluster_starts_a_new_epoch():
    assert (
        check_position(Position(41, 0.0, 0, LOG), LogState(log_identity("b", "topic-1"), 100)).reset
        == IDENTITY_CHANGED
    )


def test_a_stored_offset_at_the_log_end_means_the_log_was_reset():
    # offset 41 written means 42 messages existed; a log end of 41 never held offset 41
    check = check_position(Position(41, 0.0, 0, LOG), LogState(LOG, 41))
    assert check.reset == OFFSET_BEYOND_LOG_END and check.position.last_offset == -1
    assert (
        check_position(Position(41, 0.0, 0, LOG), LogState(LOG, 0)).reset == OFFSET_BEYOND_LOG_END
    )


def test_a_position_written_before_identities_adopts_the_brokers():
    check = check_position(Position(41, 5.0), LogState(LOG, 100))
    assert check.reset is None and check.position == Position(41, 5.0, 0, LOG)
    assert check_position(Position(41, 5.0), LogState(LOG, 10)).reset == OFFSET_BEYOND_LOG_END


def test_a_broker_without_topic_ids_compares_what_it_reports():
    without_ids = log_identity("cluster-a", None)
    assert same_log(LOG, without_ids)
    check = check_position(Position(41, 0.0, 1, LOG), LogState(without_ids, 100))
    assert check.reset is None and check.position.identity == LOG  # the known topic id is kept


def test_a_partition_never_written_starts_at_the_beginning():
    check = check_position(Position(-1, 0.0), LogState(LOG, 0))
    assert check.reset is None and check.position == Position(-1, 0.0, 0, LOG)


@given(st.integers(-1, 10**6), st.integers(0, 10**6), st.booleans(), st.integers(0, 5))
def test_the_checked_position_never_skips_a_message_of_a_replaced_log(
    stored, log_end, recreated, epoch
):
    identity = log_identity("c", "t2" if recreated else "t1")
    check = check_position(
        Position(stored, 0.0, epoch, log_identity("c", "t1")), LogState(identity, log_end)
    )
    if check.reset:
        assert check.position.last_offset == -1 and check.position.epoch == epoch + 1
    elif check.position.last_offset >= 0:  # kept only when it can be a replay of the same log
        assert (
            not recreated and check.position.last_offset < log_end and check.position.epoch == epoch
        )
    else:  # never written: nothing to skip, whatever the log
        assert stored == -1
