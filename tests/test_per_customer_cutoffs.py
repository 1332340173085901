"""Per-customer cutoff tables: the calendar's rows for each pair, and no leakage past each cutoff."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_features_properties import EVENT, START
from test_features_properties import to_log as property_log

import repurchase_ml as rm
from repurchase_ml.errors import SchemaError
from repurchase_ml.features import FeatureSpec, build_features, build_training_set

DAY = 24 * 60
# engagement pinned on: a view anywhere in the log would otherwise add columns (not values)
SPEC = FeatureSpec(windows=(7, 30), trend_windows=(7,), slope_months=2, behaviour=True)
HORIZON = 7
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# each customer's own cutoff, in whole days after START (their label window ends by day 100)
CUTOFF_DAYS = st.lists(st.integers(5, 90), min_size=4, max_size=4)
# an anchor purchase of a customer outside the table pins where the data ends (day 130)
ANCHOR = (9, 130 * DAY, "purchase", 1.0, None, None, 1, False)


def to_log(events: list[tuple]) -> pd.DataFrame:
    return property_log([*events, ANCHOR])


def table_of(days: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": np.arange(4, dtype="int64"),
                         "cutoff": [START + pd.Timedelta(days=d) for d in days]})


def training(log: pd.DataFrame, cutoffs: object) -> pd.DataFrame:
    return build_training_set(log, cutoffs=cutoffs, tasks=["repurchase", "ltv"], spec=SPEC,
                              horizons={"repurchase": HORIZON, "ltv": HORIZON})


def row(frame: pd.DataFrame, customer: int) -> pd.DataFrame:
    return frame[frame["customer_id"] == customer].reset_index(drop=True)


@SETTINGS
@given(st.lists(EVENT, max_size=30), CUTOFF_DAYS)
def test_each_pair_is_the_calendar_row_at_its_cutoff(events, days):
    log, table = to_log(events), table_of(days)
    own = training(log, table)
    calendar = training(log, sorted(table["cutoff"].unique()))
    expected = calendar.merge(table, on=["customer_id", "cutoff"]).sort_values(
        ["cutoff", "customer_id"], ignore_index=True)
    pd.testing.assert_frame_equal(own, expected[own.columns], check_exact=False, rtol=1e-9)
    assert own.attrs["customers_without_history"] == len(table) - len(own)


@SETTINGS
@given(st.lists(EVENT, max_size=30), CUTOFF_DAYS, st.integers(0, 3),
       st.lists(EVENT, max_size=10), st.booleans())
def test_events_at_or_after_a_customers_cutoff_never_reach_their_features(
        events, days, customer, later, past_horizon):
    """Adding, changing or deleting a customer's events at/after their own cutoff leaves their
    features alone; past the cutoff plus the horizon, their labels too."""
    table = table_of(days)
    cutoff_minutes = days[customer] * DAY + (HORIZON * DAY if past_horizon else 0)
    before = [e for e in events if e[0] != customer or e[1] < cutoff_minutes]
    # the customer's own events from the boundary on: replaced by others (moved into the
    # boundary's future, with other amounts and types)
    moved = [(customer, cutoff_minutes + e[1] % (10 * DAY), *e[2:]) for e in later]
    original, perturbed = training(to_log(events), table), training(to_log(before + moved), table)
    features = [c for c in original.columns if not c.startswith("label_")]
    left, right = row(original, customer), row(perturbed, customer)
    assert len(left) == len(right)
    pd.testing.assert_frame_equal(left[features], right[features], check_exact=False, rtol=1e-9)
    if past_horizon:
        pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-9)


def test_scoring_with_a_table_matches_the_calendar_and_custom_features_follow():
    events, _ = rm.make_event_log(60, "2023-01-01", "2024-01-01", random_state=1)
    table = pd.DataFrame({"customer_id": np.arange(1, 61),
                          "cutoff": pd.to_datetime(np.where(np.arange(60) % 2, "2023-09-01",
                                                            "2023-11-15"))})
    quiet = rm.register_feature(
        "my_days_since_any_event", lambda ev, cutoff: (cutoff - ev.groupby("customer_id")[
            "timestamp"].max()).dt.days, description="days since any event", unit="days")
    spec = FeatureSpec(families=("rfm", "engagement"), custom=(quiet,))
    own = build_features(events, cutoffs=table, spec=spec)
    calendar = build_features(events, cutoffs=sorted(table["cutoff"].unique()), spec=spec)
    expected = calendar.merge(table, on=["customer_id", "cutoff"])
    pd.testing.assert_frame_equal(own, expected[own.columns])
    assert "views_30d" in own.columns  # the engagement family decided on the whole log
    bought = own["days_since_last_purchase"].notna()
    assert (own["my_days_since_any_event"] <= np.floor(own["days_since_last_purchase"]))[
        bought].all()


@pytest.mark.parametrize("table, error, match", [
    (pd.DataFrame({"customer_id": [1]}), SchemaError, "lacks this column"),
    (pd.DataFrame({"customer_id": [1, 1], "cutoff": ["2023-06-01"] * 2}), SchemaError,
     "pair is repeated"),
    (pd.DataFrame({"customer_id": ["1"], "cutoff": ["2023-06-01"]}), SchemaError,
     "same id type as the log"),
    (pd.DataFrame({"customer_id": [1], "cutoff": [None]}), SchemaError, "missing value"),
    (pd.DataFrame({"customer_id": [1], "cutoff": pd.to_datetime(["2023-06-01"]).tz_localize(
        "UTC")}), SchemaError, "zone-aware"),
])
def test_bad_cutoff_tables_are_refused(table, error, match):
    events, _ = rm.make_event_log(20, "2023-01-01", "2024-01-01", random_state=1)
    with pytest.raises(error, match=match):
        build_features(events, cutoffs=table)
