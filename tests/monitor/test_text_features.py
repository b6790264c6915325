from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.drift.text_features import NUMERIC_TEXT_FEATURES, SCRIPTS, TEXT_FEATURES, text_features


def one(text: str | None) -> dict[str, object]:
    return {name: values[0] for name, values in text_features([text]).items()}


def test_ascii_text():
    f = one("What is 2+2? Tell me now?")
    assert f["text_chars"] == 25
    assert f["text_words"] == 6
    assert f["text_tokens_approx"] == math.ceil(25 / 4)
    assert f["text_non_ascii_share"] == 0.0
    assert f["text_cjk_share"] == 0.0
    assert f["text_digit_share"] == pytest.approx(2 / 25)
    assert f["text_question_marks"] == 2
    assert f["text_script"] == "latin"


def test_cjk_text_counts_one_token_per_character():
    f = one("你好，世界？ok")
    assert f["text_chars"] == 8
    assert f["text_cjk_share"] == pytest.approx(4 / 8)
    assert f["text_non_ascii_share"] == pytest.approx(6 / 8)
    assert f["text_tokens_approx"] == 4 + math.ceil(4 / 4)
    assert f["text_question_marks"] == 1  # the fullwidth question mark
    assert f["text_script"] == "cjk"


def test_japanese_and_korean_count_as_cjk():
    assert one("ひらがなとカタカナ")["text_script"] == "cjk"
    assert one("안녕하세요")["text_cjk_share"] == 1.0


def test_cyrillic_text():
    f = one("Привет, мир")
    assert f["text_script"] == "cyrillic"
    assert f["text_words"] == 2
    assert f["text_non_ascii_share"] == pytest.approx(9 / 11)
    assert f["text_cjk_share"] == 0.0


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("مرحبا بالعالم", "arabic"),
        ("Καλημέρα", "greek"),
        ("שלום", "hebrew"),
        ("नमस्ते", "devanagari"),
        ("สวัสดี", "other"),
        ("1234 !!", "none"),
        ("😀🎉", "none"),
        ("Héllo wörld", "latin"),
        ("abc где", "latin"),
        ("ab где", "cyrillic"),
    ],
)
def test_dominant_script(text, script):  # ties go to the earlier script in SCRIPTS
    assert one(text)["text_script"] == script


def test_empty_text_gives_zeros_and_no_script():
    f = one("")
    assert [f[name] for name in NUMERIC_TEXT_FEATURES] == [0.0] * len(NUMERIC_TEXT_FEATURES)
    assert f["text_script"] == "none"


def test_none_text_is_missing_and_keeps_alignment():
    features = text_features([None, "abc", None])
    assert set(features) == set(TEXT_FEATURES)
    for name in NUMERIC_TEXT_FEATURES:
        assert np.isnan(features[name][[0, 2]]).all()
        assert not np.isnan(features[name][1])
    assert features["text_script"].tolist() == [None, "latin", None]


def test_empty_batch():
    features = text_features([])
    assert all(len(values) == 0 for values in features.values())


def test_lone_surrogates_do_not_break_the_batch():
    assert text_features(["ab\ud800", "x"])["text_chars"].tolist() == [3.0, 1.0]


def test_raw_text_is_not_returned():
    secret = "my password is hunter2"
    features = text_features([secret])
    for values in features.values():
        assert secret not in [str(v) for v in values.tolist()]


@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=20))
def test_batch_features_match_a_per_text_computation(texts):
    features = text_features(texts)
    for i, text in enumerate(texts):
        if text is None:
            assert features["text_script"][i] is None
            continue
        assert features["text_chars"][i] == len(text)
        assert features["text_words"][i] == len(text.split())
        share = sum(ord(c) > 127 for c in text) / max(len(text), 1)
        assert features["text_non_ascii_share"][i] == pytest.approx(share)
        digits = sum(c in "0123456789" or "０" <= c <= "９" for c in text) / max(len(text), 1)
        assert features["text_digit_share"][i] == pytest.approx(digits)
        assert features["text_question_marks"][i] >= text.count("?")
        assert 0.0 <= features["text_cjk_share"][i] <= 1.0
        assert features["text_tokens_approx"][i] >= 0
        assert features["text_script"][i] in SCRIPTS
