"""The feature engine's grouping paths: orders over several times, interleaved orders, hash
collisions, sparse and string ids — each must give the exact, hand-computed result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from repurchase_ml.events import EVENT_TYPES
from repurchase_ml.features import FeatureSpec, build_features
from repurchase_ml.features._arrays import dense_codes, group_rows

NAN = float("nan")  # X and Y are on one day: no gap between purchase days
SPEC = FeatureSpec(windows=(30,), families=("rfm", "rhythm", "value", "breadth", "lifecycle"))


def log(rows: list[tuple]) -> pd.DataFrame:
    """Canonical purchases from (customer, timestamp, amount, order_id, item_id) tuples."""
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "order_id",
                                        "item_id"])
    return pd.DataFrame({
        "customer_id": frame["customer_id"].astype("int64"),
        "timestamp": pd.to_datetime(frame["timestamp"]).astype("datetime64[ns]"),
        "event_type": pd.Categorical(["purchase"] * len(frame), categories=list(EVENT_TYPES)),
        "amount": frame["amount"].astype("float64"),
        "order_id": frame["order_id"].astype(object),
        "item_id": frame["item_id"].astype(object),
        "category": pd.Series(["c"] * len(frame), dtype=object),
    })


def tricky_orders() -> pd.DataFrame:
    return log([
        # customer 1: order A has rows on 05-01 and 05-20, order B on 05-10
        (1, "2024-05-01", 10.0, "A", "i1"),
        (1, "2024-05-10", 5.0, "B", "i2"),
        (1, "2024-05-20", 7.0, "A", "i3"),
        # customer 2: orders X and Y at one time, rows interleaved; then a row without an id
        (2, "2024-05-05", 1.0, "X", "i1"),
        (2, "2024-05-05", 20.0, "Y", "i1"),
        (2, "2024-05-05", 2.0, "X", "i2"),
        (2, "2024-05-15", 4.0, None, "i2"),
    ])


EXPECTED = {
    # before 05-15: customer 1 has A (only its 05-01 row) and B; customer 2 has X (3) and Y (20)
    "2024-05-15": {"orders_all": [2, 2], "revenue_all": [15, 23], "first_order_value": [10, 20],
                   "days_since_last_purchase": [5, 10], "gap_last_days": [9, NAN],
                   "distinct_items": [2, 2]},
    # at 06-01: A counts its two rows (17) as one order placed 05-01
    "2024-06-01": {"orders_all": [2, 3], "revenue_all": [22, 27], "first_order_value": [17, 20],
                   "days_since_last_purchase": [22, 17], "gap_last_days": [9, 10],
                   "distinct_items": [3, 2]},
}


def check(features: pd.DataFrame) -> None:
    for cutoff, expected in EXPECTED.items():
        rows = features[features["cutoff"] == pd.Timestamp(cutoff)]
        assert rows["customer_id"].tolist() == [1, 2]
        for name, values in expected.items():
            assert rows[name].tolist() == pytest.approx(values, nan_ok=True), (cutoff, name)


def test_orders_over_several_times_and_interleaved_orders_by_hand() -> None:
    events = tricky_orders()
    check(build_features(events, cutoffs=list(EXPECTED), spec=SPEC))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_orders_from_pandas_polars_and_any_row_order(seed: int) -> None:
    events = tricky_orders().sample(frac=1.0, random_state=seed).reset_index(drop=True)
    from_pandas = build_features(events, cutoffs=list(EXPECTED), spec=SPEC)
    from_polars = build_features(pl.from_pandas(events), cutoffs=list(EXPECTED), spec=SPEC)
    check(from_pandas)
    pd.testing.assert_frame_equal(from_pandas, from_polars, check_exact=True)


def test_hash_collisions_fall_back_to_exact_grouping(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every string hashing alike, orders and items must still be told apart exactly."""
    events = pl.from_pandas(tricky_orders())
    honest = build_features(events, cutoffs=list(EXPECTED), spec=SPEC)
    monkeypatch.setattr(pl.Series, "hash",
                        lambda self, *a, **k: pl.Series(np.zeros(len(self), dtype=np.uint64)))
    colliding = build_features(events, cutoffs=list(EXPECTED), spec=SPEC)
    check(colliding)
    pd.testing.assert_frame_equal(honest, colliding, check_exact=True)


def test_group_rows_groups_equal_pairs_only() -> None:
    customer = np.array([1, 0, 1, 1, 0, 2], dtype=np.int32)
    for key in (pl.Series(["a", "b", "a", "c", "b", "a"]), pl.Series([5, 7, 5, 2, 7, 5])):
        order, starts = group_rows(customer, key)
        groups = [sorted(order[a:b].tolist()) for a, b in zip(starts, [*starts[1:], len(order)], strict=True)]
        assert sorted(groups) == [[0, 2], [1, 4], [3], [5]]


def test_dense_codes_for_sparse_and_string_ids() -> None:
    sparse = np.array([10**12 + 7, 5, 10**12 + 7, -3], dtype=np.int64)
    codes, values = dense_codes(sparse)
    assert codes.tolist() == [2, 1, 2, 0] and values.tolist() == [-3, 5, 10**12 + 7]
    codes, values = dense_codes(np.array(["b", "a", "b"], dtype=object))
    assert codes.tolist() == [1, 0, 1] and values.tolist() == ["a", "b"]


def test_sparse_integer_customer_ids_keep_their_values() -> None:
    events = tricky_orders()
    events["customer_id"] = events["customer_id"].map({1: 10**15, 2: -4}).astype("int64")
    got = build_features(events, cutoffs="2024-06-01", spec=SPEC)
    assert got["customer_id"].tolist() == [-4, 10**15]
    assert got["orders_all"].tolist() == [3.0, 2.0]


def test_one_cutoff_per_pass_gives_the_same_features(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cutoffs share an events pass while the tables fit the budget; one per pass is the same."""
    from repurchase_ml.datasets import make_event_log
    from repurchase_ml.features import engine

    events, _ = make_event_log(400, "2022-01-01", "2023-07-01", random_state=3)
    cutoffs = ["2023-01-01", "2023-04-01", "2023-07-01"]
    whole = build_features(events, cutoffs=cutoffs)
    assert engine._cutoff_groups(400, [0, 1, 2], [7]) == [[0, 1, 2]]
    monkeypatch.setattr(engine, "_CELL_BUDGET", 10)  # one cutoff per pass
    assert engine._cutoff_groups(400, [0, 1, 2], [7]) == [[0], [1], [2]]
    serial = build_features(events, cutoffs=cutoffs)
    assert whole["views_30d"].sum() > 0 and whole["orders_90d"].sum() > 0
    pd.testing.assert_frame_equal(whole, serial, check_exact=True)


def test_orders_at_one_time_put_the_larger_first_and_habits_by_hand() -> None:
    """Two orders at one time: the larger is the first order. Night hours may wrap midnight."""
    events = log([
        (1, "2024-11-11 23:30", 5.0, "A", "i1"),  # a Monday, a promotion day, at night
        (1, "2024-11-11 23:30", 9.0, "B", "i2"),
        (1, "2024-11-16 03:00", 4.0, "C", "i1"),  # a Saturday, at night
        (1, "2024-11-20 12:00", 6.0, "D", "i3"),  # a Wednesday, at noon
    ])
    spec = FeatureSpec(windows=(30,), families=("rfm", "lifecycle", "habits"))
    got = build_features(events, cutoffs="2024-12-01", spec=spec).iloc[0]
    assert got["first_order_value"] == 9.0 and got["orders_all"] == 4.0
    assert got["night_share"] == pytest.approx(3 / 4)
    assert got["weekend_share"] == pytest.approx(1 / 4)
    assert got["promo_day_share"] == pytest.approx(2 / 4)
    assert got["peak_hour"] == 23.0
    late = FeatureSpec(windows=(30,), families=("habits",), night_hours=(1, 5))  # no wrap
    assert build_features(events, cutoffs="2024-12-01", spec=late)["night_share"].iloc[0] \
        == pytest.approx(1 / 4)


def test_sort_ties_is_stable_and_puts_larger_values_first() -> None:
    from repurchase_ml.features._kernels import sort_ties

    customer = np.array([0, 0, 0, 0, 1], dtype=np.int32)
    timestamp = np.array([5, 5, 5, 7, 5], dtype=np.int64)
    value = np.array([1.0, 3.0, 1.0, 9.0, 2.0])
    order = np.arange(5)
    sort_ties(customer, timestamp, value, order)
    assert order.tolist() == [1, 0, 2, 3, 4]


def test_event_types_of_a_chunked_categorical_column() -> None:
    from repurchase_ml.features._inputs import event_type_codes

    chunks = [pl.Series(["view", "purchase"], dtype=pl.Categorical),
              pl.Series(["cart", "view", "favorite"], dtype=pl.Categorical)]
    column = pl.concat(chunks, rechunk=False)
    assert column.n_chunks() == 2
    assert event_type_codes(column).tolist() == [2, 0, 3, 2, 4]
    with pytest.raises(Exception, match="event_type"):
        event_type_codes(pl.concat([chunks[0], pl.Series(["bogus"], dtype=pl.Categorical)],
                                   rechunk=False))


def test_dense_codes_read_chunks_in_place() -> None:
    chunks = [np.array([7, 3], dtype=np.int64), np.array([], dtype=np.int64),
              np.array([3, 11], dtype=np.int64)]
    codes, values = dense_codes(chunks)
    assert codes.tolist() == [1, 0, 0, 2] and values.tolist() == [3, 7, 11]
