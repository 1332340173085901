"""Exact, hand-computed features for a three-customer log, and the boundaries of the API."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import EVENT_TYPES
from repurchase_ml.features import (
    FAMILIES,
    FeatureSpec,
    build_features,
    category_price_levels,
    compute_features,
    feature_info,
    feature_names,
)

T = pd.Timestamp("2024-07-01")
SPEC = FeatureSpec(windows=(30,), trend_windows=(30,), slope_months=2, night_hours=(22, 6),
                   promo_days=((6, 18),))
NAN = float("nan")


def make_log(rows: list[tuple]) -> pd.DataFrame:
    """Canonical frame from (customer, timestamp, type, amount, order, item, category, qty,
    unit_price, discount) tuples."""
    cols = ["customer_id", "timestamp", "event_type", "amount", "order_id", "item_id", "category",
            "quantity", "unit_price", "discount"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["customer_id"] = frame["customer_id"].astype("int64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[ns]")
    frame["event_type"] = pd.Categorical(frame["event_type"], categories=list(EVENT_TYPES))
    for c in ("amount", "quantity", "unit_price"):
        frame[c] = frame[c].astype("float64")
    for c in ("order_id", "item_id", "category"):
        frame[c] = frame[c].astype(object)
    frame["discount"] = frame["discount"].astype(bool)
    return frame.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)


def three_customers() -> pd.DataFrame:
    return make_log([
        # customer 1: two orders (one of two rows), behaviour, a refund, events at/after T
        (1, "2024-05-02 12:00", "purchase", 10.0, "o1", "i1", "x", 1, 10.0, False),
        (1, "2024-05-20 12:00", "favorite", NAN, None, "i9", "x", NAN, NAN, False),
        (1, "2024-06-18 00:00", "purchase", 40.0, "o2", "i2", "y", 2, 20.0, True),
        (1, "2024-06-18 00:00", "purchase", 30.0, "o2", "i3", "x", 1, 30.0, False),
        (1, "2024-06-20 12:00", "refund", 5.0, None, None, None, NAN, NAN, False),
        (1, "2024-06-25 12:00", "view", NAN, None, "i4", "x", NAN, NAN, False),
        (1, "2024-06-26 12:00", "cart", NAN, None, "i4", "x", NAN, NAN, False),
        (1, "2024-07-01 00:00", "purchase", 100.0, "o3", "i1", "x", 1, 100.0, False),
        (1, "2024-07-03 00:00", "view", NAN, None, "i1", "x", NAN, NAN, False),
        # customer 2: three orders without order ids, no behaviour
        (2, "2024-01-01 12:00", "purchase", 20.0, None, "i1", "x", 1, 20.0, False),
        (2, "2024-04-01 12:00", "purchase", 30.0, None, "i4", "x", 1, 30.0, False),
        (2, "2024-06-01 12:00", "purchase", 10.0, None, "i5", "z", 1, 10.0, False),
        # customer 3: one view before T, a purchase after
        (3, "2024-06-30 12:00", "view", NAN, None, "i5", "z", NAN, NAN, False),
        (3, "2024-07-10 00:00", "purchase", 50.0, "o9", "i5", "z", 1, 50.0, False),
    ])


# values computed by hand (ages in days before T = 2024-07-01 00:00)
EXPECTED = {
    # rfm
    "orders_30d": [1, 1, 0], "revenue_30d": [70, 10, 0], "items_30d": [3, 1, 0],
    "orders_all": [2, 3, 0], "revenue_all": [80, 60, 0], "items_all": [4, 3, 0],
    "days_since_last_purchase": [13, 29.5, NAN],
    # net of the refund of 5 on 06-20
    "net_revenue_30d": [65, 10, 0], "net_revenue_all": [75, 60, 0],
    # rhythm, between purchase days: c1 05-02 -> 06-18 [47], c2 [91, 61]
    "gap_mean_days": [47, 76, NAN], "gap_median_days": [47, 76, NAN],
    "gap_std_days": [NAN, math.sqrt(450), NAN], "gap_last_days": [47, 61, NAN],
    "overdue_ratio": [13 / 47, 29.5 / 76, NAN],
    "days_until_expected_purchase": [34, 46.5, NAN],
    # trend: c1 orders at ages 13 and 59.5 (one per 30-day block), c2 only 29.5 in 60 days
    "orders_change_30d": [0, 1, 0], "revenue_change_30d": [60, 10, 0],
    # no history a year before T (2023-07-02)
    "orders_same_period_last_year": [NAN] * 3, "net_revenue_same_period_last_year": [NAN] * 3,
    "monthly_order_slope": [0, 1, 0],
    # engagement: c1 view 5.5, cart 4.5 (after the last order), favourite 41.5
    "views_30d": [1, 0, 1], "carts_30d": [1, 0, 0], "favorites_30d": [0, 0, 0],
    "carts_without_purchase_30d": [1, 0, 0], "view_to_purchase_rate": [2, NAN, 0],
    "days_since_last_activity": [4.5, 29.5, 0.5], "interactions_change_30d": [1, 0, 1],
    # value: category prices before T: x 22.5, y 20, z 10
    "aov_all": [40, 20, NAN], "aov_90d": [40, 10, NAN], "aov_ratio_90d": [NAN, 0.4, NAN],
    "refunds_all": [1, 0, 0], "refund_amount_all": [5, 0, 0], "refund_rate": [0.0625, 0, NAN],
    "price_tier_all": [25 / 27, 29 / 27, NAN], "price_tier_90d": [25 / 27, 1, NAN],
    "price_tier_drift_90d": [0, -2 / 27, NAN], "discount_share": [0.5, 0, NAN],
    # breadth
    "distinct_categories": [2, 2, 0], "distinct_items": [3, 3, 0],
    "category_entropy": [-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))] * 2 + [NAN],
    "top_category_share": [2 / 3, 2 / 3, NAN],
    # habits: c1 Thu 12:00 and Tue 6-18 00:00; c2 Mon, Mon, Sat at 12:00
    "night_share": [0.5, 0, NAN], "weekend_share": [0, 1 / 3, NAN], "peak_hour": [0, 12, NAN],
    "promo_day_share": [0.5, 0, NAN],
    # lifecycle
    "days_since_first_purchase": [59.5, 181.5, NAN], "tenure_days": [59.5, 181.5, 0.5],
    "first_order_value": [10, 20, NAN], "first_to_second_gap_days": [47, 91, NAN],
    "purchase_days_all": [2, 3, 0],
    "recency_share_of_tenure": [13 / 59.5, 29.5 / 181.5, NAN],
    "orders_per_week": [2 * 7 / 59.5, 3 * 7 / 181.5, NAN],
}


def test_hand_computed_frame_covers_every_family() -> None:
    got = build_features(three_customers(), cutoffs=T, spec=SPEC)
    expected = pd.DataFrame({"customer_id": np.array([1, 2, 3], dtype="int64"),
                             "cutoff": pd.Series([T] * 3, dtype="datetime64[ns]")})
    for name, values in EXPECTED.items():
        expected[name] = np.asarray(values, dtype="float64")
    assert list(got.columns) == list(expected.columns)
    assert {feature_info(c).family for c in got.columns[2:]} == set(FAMILIES)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=1e-12)


def test_event_exactly_at_cutoff_is_not_a_feature() -> None:
    log = three_customers()
    at_cutoff = build_features(log, cutoffs=T, spec=SPEC)
    one_second_later = build_features(log, cutoffs=T + pd.Timedelta(seconds=1), spec=SPEC)
    assert at_cutoff.loc[0, "orders_all"] == 2.0
    assert one_second_later.loc[0, "orders_all"] == 3.0


def test_several_cutoffs_equal_one_at_a_time() -> None:
    log = three_customers()
    cutoffs = [pd.Timestamp("2024-05-10"), pd.Timestamp("2024-06-19"), T]
    together = build_features(log, cutoffs=cutoffs, spec=SPEC)
    apart = pd.concat([build_features(log, cutoffs=c, spec=SPEC) for c in cutoffs],
                      ignore_index=True)
    pd.testing.assert_frame_equal(together, apart, check_exact=False, rtol=1e-12)
    assert together.groupby("cutoff").size().tolist() == [2, 2, 3]


def test_partitions_reproduce_the_whole_log() -> None:
    log = three_customers()
    cutoffs = [pd.Timestamp("2024-06-19"), T]
    whole = build_features(log, cutoffs=cutoffs, spec=SPEC)
    pinned = FeatureSpec(**{**SPEC.__dict__, "behaviour": True})
    prices = category_price_levels(log, cutoffs=cutoffs)
    parts = [compute_features(part.reset_index(drop=True), cutoffs, pinned,
                              category_prices=prices)
             for _, part in log.groupby(log["customer_id"] % 2)]
    joined = pd.concat(parts).sort_values(["cutoff", "customer_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(joined, whole, check_exact=False, rtol=1e-12)


def test_purchases_only_log_skips_what_it_cannot_compute() -> None:
    log = three_customers()
    orders = log[log["event_type"].isin(["purchase", "refund"])]
    orders = orders.drop(columns=["category", "item_id", "discount"]).reset_index(drop=True)
    got = build_features(orders, cutoffs=T, spec=SPEC)
    names = feature_names(SPEC, has_behaviour=False, columns=orders.columns)
    assert list(got.columns[2:]) == names
    assert "views_30d" not in names and "price_tier_all" not in names
    assert "distinct_categories" not in names and "discount_share" not in names
    assert got["customer_id"].tolist() == [1, 2]
    assert got["orders_all"].tolist() == [2.0, 3.0]
    assert (got.dtypes.iloc[2:] == "float64").all()


def test_string_customer_ids_and_default_spec_names() -> None:
    log = three_customers()
    log["customer_id"] = log["customer_id"].map({1: "a", 2: "b", 3: "c"}).astype(object)
    got = build_features(log, cutoffs=T)
    assert got["customer_id"].tolist() == ["a", "b", "c"]
    assert got["customer_id"].dtype == object
    assert list(got.columns[2:]) == feature_names()
    for required in ("orders_7d", "revenue_365d", "views_30d", "carts_30d", "favorites_30d",
                     "days_since_last_activity", "refund_rate", "first_order_value"):
        assert required in got.columns
    assert got.loc[0, "orders_365d"] == 2.0


def test_empty_log_and_cutoff_before_everything_give_no_rows() -> None:
    log = three_customers()
    empty = build_features(log.iloc[:0], cutoffs=T, spec=SPEC)
    early = build_features(log, cutoffs="2020-01-01", spec=SPEC)
    for frame in (empty, early):
        assert len(frame) == 0
        assert frame["cutoff"].dtype == "datetime64[ns]"
    assert list(early.columns) == list(build_features(log, cutoffs=T, spec=SPEC).columns)


def test_feature_info_describes_every_column() -> None:
    for name in feature_names():
        info = feature_info(name)
        assert info.name == name
        assert info.unit in {"days", "count", "currency", "ratio", "share", "hour", "tier",
                             "per_month"}
        assert info.description
    assert feature_info("views_45d").window_days == 45
    assert feature_info("carts_without_purchase_30d").window_days == 30
    with pytest.raises(KeyError, match="not a feature"):
        feature_info("orders_soon")


@pytest.mark.parametrize(
    ("cutoffs", "error", "match"),
    [
        (None, ValueError, "is required"),
        ([], ValueError, "at least one cutoff"),
        (pd.Timestamp("2024-07-01", tz="UTC"), ValueError, "timezone-aware"),
        (["2024-07-01", None], ValueError, "missing value"),
        (["not a date"], ValueError, "cannot read"),
        (3.5, TypeError, "expected a timestamp"),
    ],
)
def test_bad_cutoffs(cutoffs: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build_features(three_customers(), cutoffs=cutoffs)


def test_non_canonical_frames_are_refused() -> None:
    log = three_customers()
    with pytest.raises(SchemaError, match="timestamp"):
        build_features(log.drop(columns=["timestamp"]), cutoffs=T)
    with pytest.raises(SchemaError, match="event_type"):
        build_features(log.assign(event_type=log["event_type"].astype(str)), cutoffs=T)
    tz = log.assign(timestamp=log["timestamp"].dt.tz_localize("UTC"))
    with pytest.raises(SchemaError, match="timestamp"):
        build_features(tz, cutoffs=T)
    with pytest.raises(TypeError, match="DataFrame"):
        build_features(log.to_dict(), cutoffs=T)


def test_bad_spec() -> None:
    with pytest.raises(ValueError, match="families"):
        FeatureSpec(families=("rfm", "astrology"))
    with pytest.raises(ValueError, match="windows"):
        FeatureSpec(windows=(30, -1))
    with pytest.raises(ValueError, match="night_hours"):
        FeatureSpec(night_hours=(6, 6))
    with pytest.raises(TypeError, match="spec"):
        build_features(three_customers(), cutoffs=T, spec={"windows": (30,)})


def test_category_price_levels_by_hand() -> None:
    levels = category_price_levels(three_customers(), cutoffs=[pd.Timestamp("2024-05-10"), T])
    got = {(str(c.date()), k): v for c, k, v in levels.itertuples(index=False)}
    # before 05-10 only x at 20, 30 (customer 2) and 10 (customer 1)
    assert got == {("2024-05-10", "x"): 20.0, ("2024-07-01", "x"): 22.5,
                   ("2024-07-01", "y"): 20.0, ("2024-07-01", "z"): 10.0}


def test_families_can_be_switched_off() -> None:
    spec = FeatureSpec(windows=(30,), families=("lifecycle", "rfm"))
    got = build_features(three_customers(), cutoffs=T, spec=spec)
    assert list(got.columns[2:]) == [
        "orders_30d", "revenue_30d", "items_30d", "orders_all", "revenue_all", "items_all",
        "days_since_last_purchase", "net_revenue_30d", "net_revenue_all",
        "days_since_first_purchase", "tenure_days", "first_order_value",
        "first_to_second_gap_days", "purchase_days_all", "recency_share_of_tenure",
        "orders_per_week"]
    assert got["first_to_second_gap_days"].tolist()[:2] == [47.0, 91.0]
    # the tenure ratios need the rfm family: NaN without it
    alone = build_features(three_customers(), cutoffs=T,
                           spec=FeatureSpec(windows=(30,), families=("lifecycle",)))
    assert alone["orders_per_week"].isna().all()
    assert got["orders_per_week"].tolist()[:2] == [2 * 7 / 59.5, 3 * 7 / 181.5]
