"""Property tests: no event at or after the cutoff reaches a feature; row order does not matter."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repurchase_ml.events import EVENT_TYPES
from repurchase_ml.features import FeatureSpec, build_features, feature_names
from repurchase_ml.features.orders import net_out_cancellations

START = pd.Timestamp("2024-01-01")
SPEC = FeatureSpec(windows=(7, 30), trend_windows=(7,), slope_months=2)
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# one event: (customer, minutes after START, type, amount, order, category, quantity, discount)
EVENT = st.tuples(
    st.integers(0, 3),
    st.integers(0, 120 * 24 * 60),
    st.sampled_from(EVENT_TYPES),
    st.floats(0, 500, allow_nan=False).map(lambda x: round(x, 2)),
    st.one_of(st.none(), st.integers(0, 5).map(str)),
    st.sampled_from(["a", "b", "c", None]),
    st.integers(1, 3),
    st.booleans(),
)


def to_log(events: list[tuple]) -> pd.DataFrame:
    cols = ["customer_id", "minutes", "event_type", "amount", "order_id", "category", "quantity",
            "discount"]
    frame = pd.DataFrame(events, columns=cols)
    money = frame["event_type"].isin(["purchase", "refund"])
    log = pd.DataFrame({
        "customer_id": frame["customer_id"].astype("int64"),
        "timestamp": (START + pd.to_timedelta(frame["minutes"].astype("int64"), unit="min"))
        .astype("datetime64[ns]"),
        "event_type": pd.Categorical(frame["event_type"], categories=list(EVENT_TYPES)),
        "amount": frame["amount"].astype("float64").where(money),
        "order_id": frame["order_id"].astype(object),
        "item_id": frame["category"].astype(object),
        "category": frame["category"].astype(object),
        "quantity": frame["quantity"].astype("float64"),
        "unit_price": (frame["amount"] / frame["quantity"]).astype("float64"),
        "discount": frame["discount"].astype(bool),
    })
    return log.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)


def split_at(events: list[tuple], cutoff_minutes: int) -> list[tuple]:
    return [e for e in events if e[1] < cutoff_minutes]


def features(log: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    # the values, whatever the gap between the cutoff and the last event
    return build_features(log, cutoffs=cutoff, spec=SPEC, max_days_after_data=None)


def refusal(log: pd.DataFrame, cutoff: pd.Timestamp) -> str | None:
    """The message of the stale-cutoff guard (default settings), or None when it lets through."""
    try:
        build_features(log, cutoffs=cutoff, spec=SPEC, max_days_after_data=7)
    except ValueError as exc:
        return str(exc)
    return None


def assert_same_values(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal up to float summation order, on the columns of ``left``."""
    assert set(left.columns) <= set(right.columns)
    pd.testing.assert_frame_equal(left, right[left.columns], check_exact=False, rtol=1e-9,
                                  atol=1e-9)


@SETTINGS
@given(st.lists(EVENT, max_size=25), st.lists(EVENT, max_size=10), st.lists(EVENT, max_size=10),
       st.integers(0, 120 * 24 * 60))
def test_events_at_or_after_the_cutoff_change_nothing(
    past: list[tuple], future_a: list[tuple], future_b: list[tuple], cutoff_minutes: int
) -> None:
    cutoff = START + pd.Timedelta(minutes=cutoff_minutes)
    history = split_at(past, cutoff_minutes)

    def later(events: list[tuple]) -> list[tuple]:
        # move each event to at or after the cutoff (the cutoff itself included)
        return [(c, cutoff_minutes + m % 2000 * (m % 3 != 0), *rest)
                for c, m, *rest in events]

    only_history = features(to_log(history), cutoff)
    with_a = features(to_log(history + later(future_a)), cutoff)
    with_b = features(to_log(history + later(future_b)), cutoff)
    # adding, changing or deleting later events: same rows, same values
    assert_same_values(only_history, with_a)
    assert_same_values(only_history, with_b)
    # and the same answer from the guard against cutoffs long after the last event
    guard = refusal(to_log(history), cutoff)
    assert refusal(to_log(history + later(future_a)), cutoff) == guard
    assert refusal(to_log(history + later(future_b)), cutoff) == guard


@SETTINGS
@given(st.lists(EVENT, min_size=1, max_size=30), st.integers(1, 120 * 24 * 60), st.randoms())
def test_row_order_does_not_matter(events: list[tuple], cutoff_minutes: int, rnd) -> None:
    cutoff = START + pd.Timedelta(minutes=cutoff_minutes)
    log = to_log(events)
    shuffled = log.sample(frac=1.0, random_state=rnd.randint(0, 2**31)).reset_index(drop=True)
    assert_same_values(features(log, cutoff), features(shuffled, cutoff))


@SETTINGS
@given(st.lists(EVENT, min_size=1, max_size=30))
def test_cutoffs_before_and_after_all_events(events: list[tuple]) -> None:
    log = to_log(events)
    before = features(log, log["timestamp"].min())
    assert len(before) == 0
    after = features(log, log["timestamp"].max() + pd.Timedelta(days=1))
    assert after["customer_id"].tolist() == sorted(log["customer_id"].unique())
    # orders cancelled by a refund within a day are gone: the frame-level netting agrees
    kept, report = net_out_cancellations(log, within_days=SPEC.cancellation_window_days)
    assert after.attrs.get("cancelled_orders", {}).get("n_orders", 0) == report.n_orders
    purchases = kept[kept["event_type"] == "purchase"]
    keyed = purchases.dropna(subset=["order_id"]).groupby("customer_id")["order_id"].nunique()
    single = purchases["order_id"].isna().groupby(purchases["customer_id"]).sum()
    expected = keyed.add(single, fill_value=0).reindex(after["customer_id"], fill_value=0)
    np.testing.assert_array_equal(after["orders_all"].to_numpy(), expected.to_numpy(float))
    revenue = purchases.groupby("customer_id")["amount"].sum()
    np.testing.assert_allclose(after["revenue_all"].to_numpy(),
                               revenue.reindex(after["customer_id"], fill_value=0).to_numpy())
    assert (after.dtypes.iloc[2:] == "float64").all()


def test_empty_log_has_the_columns_and_no_rows() -> None:
    empty = to_log([])
    got = features(empty, START)
    assert len(got) == 0
    assert list(got.columns[2:]) == feature_names(SPEC, has_behaviour=False, columns=empty.columns)
    assert got["customer_id"].dtype == "int64"


def test_single_event_customer() -> None:
    log = to_log([(5, 60, "purchase", 12.5, "o", "a", 2, False)])
    got = features(log, START + pd.Timedelta(days=3, hours=1)).iloc[0]
    assert got["customer_id"] == 5
    assert got["orders_all"] == 1.0 and got["revenue_all"] == 12.5 and got["items_all"] == 2.0
    assert got["days_since_last_purchase"] == 3.0 and got["days_since_first_purchase"] == 3.0
    assert got["first_order_value"] == 12.5 and got["aov_all"] == 12.5
    assert got["price_tier_all"] == 1.0 and got["top_category_share"] == 1.0
    assert got["category_entropy"] == 0.0
    for undefined in ("gap_mean_days", "gap_median_days", "gap_std_days", "gap_last_days",
                      "overdue_ratio", "days_until_expected_purchase",
                      "first_to_second_gap_days", "aov_ratio_90d"):
        assert np.isnan(got[undefined]), undefined
