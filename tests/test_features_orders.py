"""One order definition for features, labels and the baseline; cancellations; net revenue;
rhythm on purchase days; an order straddling the cutoff belongs to its first line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from repurchase_ml.events import EVENT_TYPES
from repurchase_ml.features import FeatureSpec, build_features, build_training_set, make_labels
from repurchase_ml.features.orders import net_out_cancellations

NAN = float("nan")


def make_log(rows: list[tuple]) -> pd.DataFrame:
    """Canonical frame from (customer, timestamp, type, amount, order_id) tuples."""
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount",
                                        "order_id"])
    return pd.DataFrame({
        "customer_id": frame["customer_id"].astype("int64"),
        "timestamp": pd.to_datetime(frame["timestamp"]).astype("datetime64[ns]"),
        "event_type": pd.Categorical(frame["event_type"], categories=list(EVENT_TYPES)),
        "amount": frame["amount"].astype("float64"),
        "order_id": frame["order_id"].astype(object),
    }).sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)


def cancelled_big_order() -> pd.DataFrame:
    """Customer 1: two ordinary orders, and a 168k order cancelled 12 minutes later."""
    return make_log([
        (1, "2024-03-01 10:00", "purchase", 40.0, "a"),
        (1, "2024-03-31 10:00", "purchase", 60.0, "b"),
        (1, "2024-04-20 15:00", "purchase", 168_000.0, "big"),
        (1, "2024-04-20 15:12", "refund", 168_000.0, "big"),
        # customer 2: a partial refund stays a refund
        (2, "2024-04-01 09:00", "purchase", 100.0, "p"),
        (2, "2024-04-01 20:00", "refund", 30.0, "p"),
    ])


@pytest.mark.parametrize("as_polars", [False, True])
def test_an_order_cancelled_12_minutes_later_nets_to_zero(as_polars: bool) -> None:
    log = cancelled_big_order()
    frame = pl.from_pandas(log) if as_polars else log
    got = build_features(frame, cutoffs="2024-05-01").set_index("customer_id")
    # customer 1: the 168k order and its refund are gone; orders_all is that of the other two
    assert got.loc[1, "orders_all"] == 2.0
    assert got.loc[1, "revenue_all"] == 100.0 and got.loc[1, "net_revenue_all"] == 100.0
    assert got.loc[1, "net_revenue_30d"] == 0.0  # the only order in 30 days was cancelled
    assert got.loc[1, "refunds_all"] == 0.0 and got.loc[1, "refund_amount_all"] == 0.0
    assert got.loc[1, "days_since_last_purchase"] == pytest.approx(30 + 14 / 24)
    assert got.loc[1, "aov_all"] == 50.0 and got.loc[1, "gap_median_days"] == 30.0
    # customer 2: a partial refund is netted, the order stays
    assert got.loc[2, "orders_all"] == 1.0 and got.loc[2, "revenue_all"] == 100.0
    assert got.loc[2, "net_revenue_all"] == 70.0 and got.loc[2, "refund_amount_all"] == 30.0
    assert got.attrs["cancelled_orders"] == {"n_orders": 1, "n_purchase_rows": 1,
                                             "n_refunds": 1, "amount": 168_000.0}


def test_a_cancellation_is_only_known_from_the_refund_on() -> None:
    log = cancelled_big_order()
    between = build_features(log, cutoffs="2024-04-20 15:05").set_index("customer_id")
    # 5 minutes after the order, 7 before the refund: the order is all there is to know
    assert between.loc[1, "orders_all"] == 3.0
    assert between.loc[1, "net_revenue_all"] == 168_100.0
    after = build_features(log, cutoffs="2024-04-20 15:13").set_index("customer_id")
    assert after.loc[1, "orders_all"] == 2.0 and after.loc[1, "net_revenue_all"] == 100.0


@pytest.mark.parametrize("change", ["other_id", "too_late", "too_small", "window_off"])
def test_what_is_not_a_cancellation(change: str) -> None:
    refund = {"other_id": ("2024-04-20 15:12", 168_000.0, "zzz"),
              "too_late": ("2024-04-21 15:01", 168_000.0, "big"),
              "too_small": ("2024-04-20 15:12", 167_999.0, "big"),
              "window_off": ("2024-04-20 15:12", 168_000.0, "big")}[change]
    log = make_log([(1, "2024-04-20 15:00", "purchase", 168_000.0, "big"),
                    (1, refund[0], "refund", refund[1], refund[2])])
    spec = FeatureSpec(cancellation_window_days=0 if change == "window_off" else 1)
    got = build_features(log, cutoffs="2024-05-01", spec=spec).iloc[0]
    assert got["orders_all"] == 1.0 and got["refunds_all"] == 1.0
    assert got["net_revenue_all"] == pytest.approx(168_000.0 - refund[1])


def test_a_refund_without_order_id_cancels_an_order_of_no_more_than_its_amount() -> None:
    log = make_log([(1, "2024-04-20 09:00", "purchase", 50.0, None),
                    (1, "2024-04-20 10:00", "purchase", 80.0, None),
                    (1, "2024-04-20 18:00", "refund", 60.0, None)])
    kept, report = net_out_cancellations(log)
    # the 80 order is more than the refund: the 50 one is cancelled
    assert kept["amount"].tolist() == [80.0]
    assert report.n_orders == 1 and report.amount == 50.0
    assert report.examples["customer_id"].tolist() == [1]
    assert report.examples["refunded_at"].tolist() == [pd.Timestamp("2024-04-20 18:00")]


@pytest.mark.parametrize("as_polars", [False, True])
def test_net_out_cancellations_keeps_the_frame_type_and_respects_as_of(as_polars: bool) -> None:
    log = cancelled_big_order()
    frame = pl.from_pandas(log) if as_polars else log
    kept, report = net_out_cancellations(frame)
    assert isinstance(kept, type(frame)) and len(kept) == len(log) - 2
    assert report.n_orders == 1 and report.n_refunds == 1 and "168,000.00" in str(report)
    early, early_report = net_out_cancellations(frame, as_of="2024-04-20 15:12")
    assert len(early) == len(log) and early_report.n_orders == 0
    with pytest.raises(ValueError, match="within_days"):
        net_out_cancellations(frame, within_days=-1)


def test_labels_and_training_set_net_out_cancelled_orders() -> None:
    log = pd.concat([cancelled_big_order(), make_log(
        [(1, "2024-06-30 00:00", "purchase", 1.0, "end")])], ignore_index=True)
    cutoff = "2024-04-01"
    labels = make_labels(log, cutoffs=cutoff, task="order_count", horizon_days=60)
    # after 04-01 customer 1 placed only the cancelled order (and nothing else in 60 days)
    assert labels.set_index("customer_id").loc[1, "order_count"] == 0.0
    ltv = make_labels(log, cutoffs=cutoff, task="ltv", horizon_days=60).set_index("customer_id")
    assert ltv.loc[1, "ltv"] == 0.0
    kept = make_labels(log, cutoffs=cutoff, task="order_count", horizon_days=60,
                       spec=FeatureSpec(cancellation_window_days=0))
    assert kept.set_index("customer_id").loc[1, "order_count"] == 1.0
    ts = build_training_set(log, cutoffs=[cutoff], tasks=["order_count", "ltv"],
                            horizons={"order_count": 60, "ltv": 60}).set_index("customer_id")
    assert ts.loc[1, "label_order_count"] == 0.0 and ts.loc[1, "label_ltv"] == 0.0


def straddling_order() -> pd.DataFrame:
    """Customer 1: one order whose lines straddle midnight 06-01; customer 2: an order after."""
    return make_log([
        (1, "2024-05-31 23:50", "purchase", 10.0, "o1"),
        (1, "2024-06-01 00:10", "purchase", 5.0, "o1"),
        (2, "2024-05-20 12:00", "purchase", 7.0, "x"),
        (2, "2024-06-01 00:00", "purchase", 8.0, "y"),
        (3, "2024-08-01 00:00", "purchase", 1.0, "end"),
    ])


@pytest.mark.parametrize("task", ["repurchase", "second_purchase", "order_count"])
def test_an_order_straddling_the_cutoff_is_no_label_order(task: str) -> None:
    labels = make_labels(straddling_order(), cutoffs="2024-06-01", task=task, horizon_days=30)
    got = labels.set_index("customer_id")[task].to_dict()
    # customer 1's order started before the cutoff: its later line is not a new order;
    # customer 2's order at the cutoff itself is one
    assert got == {1: 0.0, 2: 1.0}


def test_an_order_straddling_the_cutoff_is_one_order_at_its_first_line() -> None:
    log = straddling_order()
    before, after = "2024-06-01", "2024-06-15"
    got = build_features(log, cutoffs=[before, after]).set_index(["cutoff", "customer_id"])
    first_line = pd.Timestamp("2024-05-31 23:50")
    # at the cutoff: the order holds the line before it; later: both lines, still one order
    assert got.loc[(pd.Timestamp(before), 1), "orders_all"] == 1.0
    assert got.loc[(pd.Timestamp(before), 1), "revenue_all"] == 10.0
    assert got.loc[(pd.Timestamp(after), 1), "orders_all"] == 1.0
    assert got.loc[(pd.Timestamp(after), 1), "revenue_all"] == 15.0
    assert got.loc[(pd.Timestamp(after), 1), "days_since_last_purchase"] == \
        (pd.Timestamp(after) - first_line) / pd.Timedelta(days=1)
    # money counts at each line's own time: the line after the cutoff is in the LTV window
    ltv = make_labels(log, cutoffs=before, task="ltv", horizon_days=30).set_index("customer_id")
    assert ltv.loc[1, "ltv"] == 5.0 and ltv.loc[2, "ltv"] == 8.0


def same_day_invoices() -> pd.DataFrame:
    """Customer 1: orders every 30 days, then 3 invoices on one day 10 days before 07-01."""
    rows = [(1, f"2024-0{m}-01 10:00", "purchase", 20.0, f"o{m}") for m in (3, 4, 5)]
    rows += [(1, f"2024-06-21 {h}:00", "purchase", 5.0, f"d{h}") for h in (9, 12, 17)]
    rows += [(2, "2024-06-25 09:00", "purchase", 5.0, "n1"), (2, "2024-06-25 11:00", "purchase",
                                                              6.0, "n2")]
    rows += [(3, "2024-10-01 00:00", "purchase", 1.0, "end")]
    return make_log(rows)


def test_rhythm_is_measured_between_purchase_days() -> None:
    got = build_features(same_day_invoices(), cutoffs="2024-07-01").set_index("customer_id")
    # purchase days 03-01, 04-01, 05-01, 06-21: gaps 31, 30, 51 (never 0)
    assert got.loc[1, "orders_all"] == 6.0 and got.loc[1, "purchase_days_all"] == 4.0
    assert got.loc[1, "gap_median_days"] == 31.0 and got.loc[1, "gap_last_days"] == 51.0
    assert got.loc[1, "gap_mean_days"] == pytest.approx(112 / 3)
    assert got.loc[1, "overdue_ratio"] == pytest.approx((9 + 7 / 24) / 31)
    assert got.loc[1, "first_to_second_gap_days"] == 31.0
    # two invoices on one day: one purchase day, no gap
    assert got.loc[2, "purchase_days_all"] == 1.0 and np.isnan(got.loc[2, "gap_median_days"])


@pytest.mark.parametrize("definition", ["order_id", "customer_day"])
def test_order_definition_is_shared_by_features_and_labels(definition: str) -> None:
    log = same_day_invoices()
    spec = FeatureSpec(order_definition=definition)
    got = build_features(log, cutoffs="2024-07-01", spec=spec).set_index("customer_id")
    per_day = definition == "customer_day"
    assert got.loc[1, "orders_all"] == (4.0 if per_day else 6.0)
    assert got.loc[2, "orders_all"] == (1.0 if per_day else 2.0)
    assert got.loc[2, "first_order_value"] == (11.0 if per_day else 5.0)
    labels = make_labels(log, cutoffs="2024-06-21", task="order_count", horizon_days=30,
                         spec=spec).set_index("customer_id")
    assert labels.loc[1, "order_count"] == (1.0 if per_day else 3.0)
    ts = build_training_set(log, cutoffs=["2024-06-21"], tasks=["order_count"], spec=spec,
                            horizons={"order_count": 30}).set_index("customer_id")
    assert ts.loc[1, "label_order_count"] == labels.loc[1, "order_count"]


def test_order_definition_is_checked() -> None:
    with pytest.raises(ValueError, match="order_definition.*customer_day"):
        FeatureSpec(order_definition="invoice")
    with pytest.raises(ValueError, match="cancellation_window_days"):
        FeatureSpec(cancellation_window_days=-1.0)


@pytest.mark.parametrize("definition", ["order_id", "customer_day"])
def test_orders_all_matches_the_bgnbd_summary(definition: str) -> None:
    from repurchase_ml.models.baselines import purchase_summary

    # same-day invoices, a cancelled order and an order straddling a cutoff, on the raw log:
    # the baseline nets cancellations out itself
    log = pd.concat([same_day_invoices(), cancelled_big_order(), straddling_order()],
                    ignore_index=True)
    log = log.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)
    for cutoff in ("2024-04-20 15:05", "2024-06-01", "2024-07-01"):
        summary = purchase_summary(log, cutoff=cutoff, order_definition=definition)
        got = build_features(log, cutoffs=cutoff, spec=FeatureSpec(order_definition=definition))
        got = got[got["orders_all"] > 0].set_index("customer_id")["orders_all"]
        expected = summary.set_index("customer_id")["frequency"] + 1
        assert got.to_dict() == expected.to_dict(), cutoff


def test_same_period_last_year() -> None:
    log = make_log([
        (1, "2023-01-15 10:00", "purchase", 10.0, "a"),
        (1, "2023-07-10 10:00", "purchase", 40.0, "b"),
        (1, "2023-07-20 10:00", "refund", 15.0, "b"),
        (1, "2023-08-15 10:00", "purchase", 25.0, "c"),
        (1, "2023-10-05 10:00", "purchase", 99.0, "d"),  # after the period
        (2, "2024-01-01 10:00", "purchase", 5.0, "e"),  # no history a year ago
    ])
    got = build_features(log, cutoffs="2024-07-01",
                         max_days_after_data=None).set_index("customer_id")
    # the period is [2023-07-02, 2023-09-30): orders b and c, net of the partial refund
    assert got.loc[1, "orders_same_period_last_year"] == 2.0
    assert got.loc[1, "net_revenue_same_period_last_year"] == 50.0
    assert np.isnan(got.loc[2, "orders_same_period_last_year"])
    assert np.isnan(got.loc[2, "net_revenue_same_period_last_year"])


@pytest.mark.parametrize("definition", ["order_id", "customer_day"])
def test_pandas_and_polars_agree_with_cancellations_and_order_definitions(definition: str) -> None:
    log = pd.concat([same_day_invoices(), cancelled_big_order(), straddling_order()],
                    ignore_index=True)
    log = log.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)
    spec = FeatureSpec(order_definition=definition)
    cutoffs = ["2024-04-20 15:05", "2024-06-01", "2024-07-01"]
    from_pandas = build_features(log, cutoffs=cutoffs, spec=spec)
    from_polars = build_features(pl.from_pandas(log), cutoffs=cutoffs, spec=spec)
    pd.testing.assert_frame_equal(from_pandas, from_polars)
    assert from_pandas.attrs == from_polars.attrs
    assert from_pandas.attrs["cancelled_orders"]["n_orders"] == 1
