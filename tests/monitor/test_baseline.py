from __future__ import annotations

import json
import random

import numpy as np
import pytest

from monitor.contract.records import load_records
from monitor.drift.baseline import (
    Baseline,
    BatchHistograms,
    FeatureProfile,
    build_baseline,
    histogram_batch,
)
from monitor.drift.binning import CategoricalBins, NumericBins
from monitor.drift.text_features import TEXT_FEATURES
from monitor.errors import ConfigError


def reference_records(n: int = 200, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        features = {
            "age": rng.randint(18, 80),
            "income": rng.gauss(50_000, 8_000) if i % 10 else None,
            "lang": rng.choice(["en", "en", "en", "de", "fr"]),
            "vip": rng.random() < 0.2,
        }
        if i % 7 == 0:
            features["rare"] = "x" if i % 2 else 3
        prediction = rng.choice(["yes", "no"])
        records.append(
            {
                "features": features,
                "input_text": rng.choice(["Hello there?", "Привет", "你好", None]),
                "prediction": prediction,
                "label": prediction if i % 4 else ("no" if prediction == "yes" else "yes"),
            }
        )
    return records


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline(
        "clf", "v3", reference_records(), n_bins=5, top_k=3, now=1767225600.0, source="unit"
    )


def test_kinds_are_inferred_from_values(baseline):
    kinds = {name: p.kind for name, p in baseline.features.items()}
    assert kinds["age"] == kinds["income"] == "numeric"
    assert kinds["lang"] == kinds["vip"] == "categorical"  # bools are categorical
    assert kinds["rare"] == "categorical"  # strings mixed with numbers
    assert kinds["text_script"] == "categorical"
    assert all(kinds[name] == "numeric" for name in TEXT_FEATURES if name != "text_script")


def test_profiles_hold_reference_counts_range_and_bins(baseline):
    records = reference_records()
    ages = np.array([r["features"]["age"] for r in records], dtype=float)
    age = baseline.features["age"]
    assert isinstance(age.bins, NumericBins)
    assert age.bins.edges == tuple(np.unique(np.quantile(ages, [0.2, 0.4, 0.6, 0.8])).tolist())
    assert age.reference_counts == tuple(age.bins.counts(ages).tolist())
    assert (age.minimum, age.maximum) == (ages.min(), ages.max())
    income = baseline.features["income"]
    assert income.reference_counts[-1] == 20  # every tenth income is missing
    lang = baseline.features["lang"]
    assert isinstance(lang.bins, CategoricalBins)
    assert lang.bins.categories[0] == "en"
    assert (lang.minimum, lang.maximum) == (None, None)
    assert baseline.features["rare"].reference_counts[-1] == 200 - 29
    for profile in baseline.features.values():
        assert sum(profile.reference_counts) == profile.n == baseline.n == 200


def test_text_features_are_marked_as_derived(baseline):
    derived = {name for name, p in baseline.features.items() if p.derived_from_text}
    assert derived == set(TEXT_FEATURES)
    scripts = baseline.features["text_script"]
    assert set(scripts.bins.categories) == {"latin", "cyrillic", "cjk"}


def test_accuracy_from_labeled_records(baseline):
    assert baseline.n_labeled == 200
    assert baseline.accuracy == pytest.approx(150 / 200)


def test_accuracy_compares_numbers_and_text():
    records = [
        {"features": {}, "prediction": 1, "label": 1.0},
        {"features": {}, "prediction": "1", "label": 1},
        {"features": {}, "prediction": True, "label": "true"},
        {"features": {}, "prediction": "a", "label": "b"},
        {"features": {}, "prediction": "a"},
    ]
    base = build_baseline("m", "v", records, now=0.0)
    assert (base.accuracy, base.n_labeled) == (0.75, 4)


def test_no_labels_means_no_accuracy_and_no_text_means_no_text_features():
    base = build_baseline("m", "v", [{"features": {"x": 1.0}}, {"features": {"x": 2}}], now=0.0)
    assert (base.accuracy, base.n_labeled) == (None, 0)
    assert list(base.features) == ["x"]


def test_a_feature_without_any_value_is_numeric_and_all_missing():
    base = build_baseline("m", "v", [{"features": {"x": None}}, {"features": {}}], now=0.0)
    x = base.features["x"]
    assert (x.kind, x.reference_counts, x.minimum) == ("numeric", (0, 2), None)


def test_empty_records_are_refused():
    with pytest.raises(ConfigError, match="no records"):
        build_baseline("m", "v", [], now=0.0)


def test_features_named_like_text_features_clash_with_input_text():
    records = [{"features": {"text_chars": 3}, "input_text": "abc"}]
    with pytest.raises(ConfigError, match="text_chars"):
        build_baseline("m", "v", records, now=0.0)


def test_records_may_be_a_one_shot_iterator():
    base = build_baseline("m", "v", iter(reference_records(20)), now=0.0)
    assert base.n == 20 and base.n_labeled == 20


def test_profile_validation():
    with pytest.raises(ValueError, match="do not fit"):
        FeatureProfile("x", "numeric", NumericBins("x", (1.0,)), (1, 2), 3, 0.0, 1.0)
    with pytest.raises(ValueError, match="kind 'text'"):
        FeatureProfile("x", "text", NumericBins("x", ()), (1, 0), 1, 0.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="CategoricalBins"):
        FeatureProfile("x", "categorical", NumericBins("x", ()), (1, 0), 1, None, None)


def test_json_round_trip_is_exact(baseline):
    again = Baseline.from_json(baseline.to_json())
    assert again == baseline
    assert again.features["income"].bins.edges == baseline.features["income"].bins.edges
    assert list(again.features) == list(baseline.features)
    assert again.to_json() == baseline.to_json()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda doc: doc.pop("model"), "missing the key 'model'"),
        (lambda doc: doc.update(format="other/9"), "format is 'other/9'"),
        (lambda doc: doc["features"]["age"].update(reference_counts=[1]), "do not fit"),
    ],
)
def test_from_json_names_what_is_wrong(baseline, mutate, message):
    doc = json.loads(baseline.to_json())
    mutate(doc)
    with pytest.raises(ConfigError, match=message):
        Baseline.from_json(json.dumps(doc))


def test_from_json_refuses_non_json():
    with pytest.raises(ConfigError, match="not valid JSON"):
        Baseline.from_json("{nope")


def test_histogram_of_the_reference_reproduces_the_reference_counts(baseline):
    records = reference_records()
    h = histogram_batch(
        baseline, [r["features"] for r in records], [r["input_text"] for r in records]
    )
    assert set(h.counts) == set(baseline.features)
    for name, profile in baseline.features.items():
        assert h.counts[name].tolist() == list(profile.reference_counts), name
        assert h.out_of_range.get(name, 0) == 0
    assert h.n == 200 and h.unknown_features == {}


def test_type_violations_missing_and_out_of_range(baseline):
    age = baseline.features["age"]
    batch = [
        {"age": "forty", "lang": "en"},
        {"age": True},
        {"age": None},
        {},
        {"age": float("nan")},
        {"age": age.maximum + 1},
        {"age": age.minimum - 1},
        {"age": age.minimum},
        {"age": np.int64(30)},
    ]
    h = histogram_batch(baseline, batch)
    assert h.type_violations["age"] == 2
    assert h.missing["age"] == 3
    assert h.counts["age"][-1] == 5  # missing values and type violations share the missing bin
    assert h.out_of_range["age"] == 2
    assert h.counts["age"].sum() == h.n == len(batch)
    assert h.counts["lang"].tolist() == [1, 0, 0, 0, 8]
    assert (h.missing["lang"], h.type_violations["lang"], h.out_of_range["lang"]) == (8, 0, 0)


def test_unknown_features_are_reported_not_counted(baseline):
    h = histogram_batch(baseline, [{"age": 30, "new": 1}, {"new": 2, "other": "x"}])
    assert h.unknown_features == {"new": 2, "other": 1}
    assert "new" not in h.counts


def test_text_features_need_input_texts(baseline):
    without = histogram_batch(baseline, [{"age": 30}])
    assert not set(TEXT_FEATURES) & set(without.counts)
    with_texts = histogram_batch(baseline, [{"age": 30}], ["Привет мир"])
    scripts = baseline.features["text_script"].bins
    assert with_texts.counts["text_script"][scripts.categories.index("cyrillic")] == 1
    with pytest.raises(ValueError, match="2 input_texts for 1 feature maps"):
        histogram_batch(baseline, [{"age": 30}], ["a", "b"])


def test_empty_batch(baseline):
    h = histogram_batch(baseline, [])
    assert h.n == 0 and all(c.sum() == 0 for c in h.counts.values())


def test_batches_merged_equal_one_big_batch(baseline):
    records = reference_records(90, seed=11)
    maps, texts = [r["features"] for r in records], [r["input_text"] for r in records]
    whole = histogram_batch(baseline, maps, texts)
    merged: BatchHistograms = histogram_batch(baseline, maps[:40], texts[:40])
    for start, stop in ((40, 41), (41, 90)):
        merged = merged.merge(histogram_batch(baseline, maps[start:stop], texts[start:stop]))
    assert merged.n == whole.n
    for name in whole.counts:
        assert merged.counts[name].tolist() == whole.counts[name].tolist()
        assert merged.missing[name] == whole.missing[name]


# --- load_records --------------------------------------------------------------------------


def test_load_jsonl(tmp_path):
    path = tmp_path / "ref.jsonl"
    rows = [
        {"features": {"age": 31}, "label": "yes", "prediction": "yes"},
        {"age": 40, "lang": "de", "input_text": "hi"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    records = list(load_records(path))
    assert records == [
        {"features": {"age": 31}, "label": "yes", "prediction": "yes"},
        {"features": {"age": 40, "lang": "de"}, "input_text": "hi"},
    ]


def test_load_csv_parses_numbers_and_moves_columns_to_features(tmp_path):
    path = tmp_path / "ref.csv"
    path.write_text(
        "request_id,age,score_x,lang,label,input_text\n007,31,0.5,en,1,hello\n008,,1e2,,0,\n",
        encoding="utf-8",
    )
    records = list(load_records(str(path)))
    assert records[0] == {
        "request_id": "007",
        "label": 1,
        "input_text": "hello",
        "features": {"age": 31, "score_x": 0.5, "lang": "en"},
    }
    assert records[1]["features"] == {"age": None, "score_x": 100.0, "lang": None}
    base = build_baseline("m", "v", records, now=0.0)
    assert base.features["age"].kind == "numeric"


def test_load_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "ref.parquet"
    table = pa.table({"age": [31, None], "lang": ["en", "de"], "prediction": ["y", "n"]})
    pq.write_table(table, path)
    assert list(load_records(path)) == [
        {"prediction": "y", "features": {"age": 31, "lang": "en"}},
        {"prediction": "n", "features": {"age": None, "lang": "de"}},
    ]


def test_load_parquet_with_a_features_struct(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"features": [{"a": 1.5}, {"a": 2.5}], "flat": [1, 2]}), path)
    assert [r["features"] for r in load_records(path)] == [
        {"a": 1.5, "flat": 1},
        {"a": 2.5, "flat": 2},
    ]


def test_bad_jsonl_line_names_path_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"age": 1}\n\n{"age": \n', encoding="utf-8")
    records = load_records(path)
    assert next(records)["features"] == {"age": 1}
    with pytest.raises(ConfigError, match=r"bad\.jsonl:3: invalid JSON"):
        next(records)


def test_jsonl_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"list\.jsonl:1: expected a JSON object, got list"):
        list(load_records(path))


def test_csv_row_with_too_many_cells(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("a,b\n1,2\n1,2,3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wide\.csv:3: more cells"):
        list(load_records(path))


def test_unknown_suffix_missing_file_and_corrupt_parquet(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown suffix '\.xlsx'.*\.jsonl"):
        load_records(tmp_path / "ref.xlsx")
    with pytest.raises(ConfigError, match=r"nothere\.jsonl: no such file"):
        load_records(tmp_path / "nothere.jsonl")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"not parquet at all")
    with pytest.raises(ConfigError, match=r"corrupt\.parquet: unreadable Parquet"):
        list(load_records(corrupt))


def test_feature_columns_are_the_rows_transposed_whatever_the_rows_hold():
    """The C-level transposition of full rows and the per-row path give the same columns and the
    same unknown-feature counts, for rows with every name, missing names, extra names or none."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from monitor.drift.feature_columns import feature_columns

    names = ["a", "b", "c"]
    rows = st.one_of(
        st.none(),
        st.dictionaries(st.sampled_from(["a", "b", "c", "x", "y"]), st.integers(0, 3)),
        st.fixed_dictionaries({"a": st.integers(), "b": st.integers(), "c": st.integers()}),
    )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(rows, max_size=12), st.sampled_from([names, names[:1], []]))
    def check(batch, keep):
        columns, unknown, n = feature_columns(batch, keep, len(batch))
        assert n == len(batch)
        assert columns == {k: [r.get(k) if r else None for r in batch] for k in keep}
        expected: dict[str, int] = {}
        for row in batch:
            for name in (row or {}).keys() - set(keep):
                expected[name] = expected.get(name, 0) + 1
        assert unknown == expected

    check()


def test_full_rows_take_the_transposition_in_c_and_any_gap_the_per_row_path():
    from monitor.drift.feature_columns import full_columns

    rows = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert full_columns(rows, ["a", "b"]) == {"a": [1, 2], "b": ["x", "y"]}
    assert full_columns(rows, ["b"]) == {"b": ["x", "y"]}
    assert full_columns([*rows, {"a": 3}], ["a", "b"]) is None  # a missing name
    assert full_columns([*rows, None], ["a", "b"]) is None
    assert full_columns([], ["a"]) is None and full_columns(rows, []) is None


def test_the_number_block_counts_as_the_per_row_columns_whatever_the_rows_hold(monkeypatch):
    """A batch's numeric features converted in one block give the same histograms, data-quality
    counts and unknown features as the per-row columns, for clean rows and for every way a row can
    leave the block path (a missing name, a string or boolean value, a null row, an extra name)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from monitor.drift import baseline as module

    reference = [
        {"features": {"x": float(i % 17), "y": i % 5, "lang": ["en", "de", "fr"][i % 3]}}
        for i in range(200)
    ]
    base = build_baseline("m", "v", reference, now=0.0)
    number = st.one_of(st.integers(-5, 25), st.floats(-5, 25), st.none())
    clean = st.fixed_dictionaries({"x": number, "y": number, "lang": st.sampled_from(["en", "es"])})
    odd = st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from(["x", "y", "lang", "extra"]),
            st.one_of(number, st.text(max_size=2), st.booleans()),
        ),
    )
    per_row = module.number_block

    @settings(max_examples=200, deadline=None)
    @given(st.lists(clean, max_size=20), st.lists(odd, max_size=2))
    def check(rows, others):
        for batch in (rows, rows + others):
            fast = histogram_batch(base, batch)
            monkeypatch.setattr(module, "number_block", lambda rows, names: None)
            slow = histogram_batch(base, batch)
            monkeypatch.setattr(module, "number_block", per_row)
            assert {k: v.tolist() for k, v in fast.counts.items()} == {
                k: v.tolist() for k, v in slow.counts.items()
            }
            assert (fast.missing, fast.type_violations, fast.out_of_range, fast.n) == (
                slow.missing,
                slow.type_violations,
                slow.out_of_range,
                slow.n,
            )
            assert fast.unknown_features == slow.unknown_features
        if rows:  # the clean batch takes the block
            assert per_row(rows, ["x", "y"]) is not None

    check()
