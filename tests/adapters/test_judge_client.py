"""The judge client's backoff and the judge settings: off by default, the key a masked secret."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from monitor.adapters.judge_client import ChatClient, JudgeCallError
from monitor.settings import Settings


@given(st.integers(0, 20), st.integers(0, 2**32))
def test_backoff_is_full_jitter_below_the_cap(attempt: int, seed: int) -> None:
    client = ChatClient(
        "http://127.0.0.1:9/v1",
        "m",
        None,
        backoff_seconds=0.5,
        max_backoff_seconds=10.0,
        rng=random.Random(seed),
    )
    assert 0.0 <= client.backoff(attempt) <= min(10.0, 0.5 * 2**attempt)


def test_endpoint_is_the_chat_completions_path() -> None:
    assert ChatClient("http://h/v1/", "m", None).endpoint == "http://h/v1/chat/completions"
    assert ChatClient("http://h/v1/chat/completions", "m", None).endpoint.count("chat") == 1


def test_errors_mask_credentials_in_urls() -> None:
    error = JudgeCallError(
        "judge endpoint http://u:pw@h/v1?api_key=k1 answered 500", reason="x", retryable=True
    )
    assert "pw" not in str(error) and "k1" not in str(error)


def test_judging_is_off_unless_url_and_model_are_set() -> None:
    assert not Settings().judge_enabled
    assert not Settings(judge_url="http://h/v1").judge_enabled
    on = Settings(judge_url="http://h/v1", judge_model="m", judge_api_key="sk-123", app_id="a")
    assert on.judge_enabled and on.judge_records_topic == "a.judge"
    assert "sk-123" not in repr(on) and "sk-123" not in str(on.model_dump())
