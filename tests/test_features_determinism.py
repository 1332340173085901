"""Identical inputs give bit-identical features, whatever the row order or frame library."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from repurchase_ml.datasets import make_event_log
from repurchase_ml.errors import SchemaError
from repurchase_ml.features import build_features, build_training_set, make_labels, propose_cutoffs

CUTOFFS = ["2023-04-01", "2023-07-01"]


def test_features_are_bit_identical_across_runs_and_row_orders() -> None:
    events, _ = make_event_log(3_000, "2022-01-01", "2023-07-01", random_state=7)
    first = build_features(events, cutoffs=CUTOFFS)
    shuffled = events.sample(frac=1.0, random_state=np.random.default_rng(3)).reset_index(drop=True)
    second = build_features(shuffled, cutoffs=CUTOFFS)
    assert len(first) > 1_000
    assert first["revenue_all"].gt(0).sum() > 500  # money sums are exercised
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_labels_are_bit_identical_across_row_orders() -> None:
    events, _ = make_event_log(3_000, "2022-01-01", "2023-07-01", random_state=8)
    shuffled = events.sample(frac=1.0, random_state=np.random.default_rng(4)).reset_index(drop=True)
    first = make_labels(events, cutoffs=["2023-01-01"], task="ltv", horizon_days=90)
    second = make_labels(shuffled, cutoffs=["2023-01-01"], task="ltv", horizon_days=90)
    assert first["ltv"].gt(0).sum() > 100
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_polars_input_gives_the_same_features_as_pandas() -> None:
    events, _ = make_event_log(2_000, "2022-01-01", "2023-07-01", random_state=9)
    from_pandas = build_features(events, cutoffs=CUTOFFS)
    from_polars = build_features(pl.from_pandas(events), cutoffs=CUTOFFS)
    shuffled = build_features(pl.from_pandas(events).sample(fraction=1.0, shuffle=True, seed=1),
                              cutoffs=CUTOFFS)
    assert len(from_pandas) > 1_000
    pd.testing.assert_frame_equal(from_pandas, from_polars, check_exact=True)
    pd.testing.assert_frame_equal(from_pandas, shuffled, check_exact=True)


def test_polars_input_with_string_ids_and_an_unknown_event_type() -> None:
    events, _ = make_event_log(300, "2022-01-01", "2023-07-01", random_state=10)
    frame = pl.from_pandas(events).with_columns(
        ("c" + pl.col("customer_id").cast(pl.String)).alias("customer_id"))
    got = build_features(frame, cutoffs=CUTOFFS)
    expected = build_features(events.assign(customer_id="c" + events["customer_id"].astype(str)),
                              cutoffs=CUTOFFS)
    assert got["customer_id"].dtype == object
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    bad = frame.with_columns(pl.lit("click").alias("event_type"))
    with pytest.raises(SchemaError, match="event_type.*unknown event type.*click"):
        build_features(bad, cutoffs=CUTOFFS)


def test_polars_input_with_a_timezone_names_the_column() -> None:
    events, _ = make_event_log(20, "2022-01-01", "2023-01-01", random_state=11)
    frame = pl.from_pandas(events).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
    with pytest.raises(SchemaError, match="timestamp.*time_zone='UTC'"):
        build_features(frame, cutoffs=CUTOFFS)


def test_polars_input_gives_the_same_labels_and_training_set() -> None:
    events, _ = make_event_log(2_000, "2022-01-01", "2023-07-01", random_state=12)
    frame = pl.from_pandas(events).sample(fraction=1.0, shuffle=True, seed=2)
    for task in ("churn", "ltv", "second_purchase"):
        from_pandas = make_labels(events, cutoffs=["2023-01-01"], task=task, horizon_days=90)
        from_polars = make_labels(frame, cutoffs=["2023-01-01"], task=task, horizon_days=90)
        assert len(from_pandas) > 20
        pd.testing.assert_frame_equal(from_pandas, from_polars, check_exact=True)
    cutoffs = propose_cutoffs(frame, horizon_days=90, n=3)
    assert cutoffs == propose_cutoffs(events, horizon_days=90, n=3)
    both = {"tasks": ["repurchase", "ltv"], "horizons": {"repurchase": 90, "ltv": 90}}
    pd.testing.assert_frame_equal(build_training_set(events, cutoffs=cutoffs, **both),
                                  build_training_set(frame, cutoffs=cutoffs, **both),
                                  check_exact=True)
    empty = make_labels(frame.head(0), cutoffs=["2023-01-01"], task="churn")
    pd.testing.assert_frame_equal(
        empty, make_labels(events.iloc[:0], cutoffs=["2023-01-01"], task="churn"))
    assert list(empty.columns) == ["customer_id", "cutoff", "churn"] and len(empty) == 0
    with pytest.raises(ValueError, match="empty"):
        propose_cutoffs(frame.head(0), horizon_days=90)
